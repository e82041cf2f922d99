//! Reading logic text into an [`Expr`]: a tokenizer and a recursive-descent parser.
//! Errors name the position and say what to change, because the person reading them is a data
//! manager looking at the logic box of a form, not a programmer.

use super::dates::{self, DateOrder, Unit};
use super::syntax::{BinaryOp, Expr, FieldRef, Function, PREC_NEG, PREC_NOT};
use std::fmt;

/// Logic that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the logic text (for slicing and highlighting).
    pub pos: usize,
    /// 1-based line of the error.
    pub line: usize,
    /// 1-based character position within that line.
    pub column: usize,
    /// What is wrong, in words a data manager can act on.
    pub message: String,
}

impl ParseError {
    fn new(src: &str, pos: usize, message: impl Into<String>) -> Self {
        let pos = pos.min(src.len());
        // `pos` is always a character boundary: it comes from token starts and ends.
        let before = src.get(..pos).unwrap_or(src);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        ParseError { pos, line, column, message: message.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 1 {
            write!(f, "{} at position {}", self.message, self.column)
        } else {
            write!(f, "{} at line {}, position {}", self.message, self.line, self.column)
        }
    }
}

impl std::error::Error for ParseError {}

/// Reads logic text. Empty logic is an error: a caller for which empty branching logic means
/// "always shown" decides that before parsing.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(src)?;
    let mut parser = Parser { src, tokens, at: 0, nesting: 0 };
    if parser.peek().kind == Kind::End {
        return Err(ParseError::new(src, 0, "the logic is empty"));
    }
    let (expr, _) = parser.expr()?;
    let next = parser.peek();
    if next.kind != Kind::End {
        let message = match next.kind {
            Kind::Close => "unexpected ')' with no '(' to close".to_owned(),
            _ => format!(
                "expected 'and', 'or', an operator or the end of the logic, but found {}",
                parser.describe(next)
            ),
        };
        return Err(ParseError::new(src, next.start, message));
    }
    Ok(expr)
}

impl std::str::FromStr for Expr {
    type Err = ParseError;

    fn from_str(src: &str) -> Result<Expr, ParseError> {
        parse(src)
    }
}

/// Parentheses, function calls and prefix operators may nest this deep. Real logic nests a
/// handful of levels; the bound keeps hostile input from exhausting the stack.
const MAX_NESTING: u32 = 64;

/// The deepest tree the parser builds. A long chain `[q1] + [q2] + … ` deepens the tree by one
/// per operator; evaluation, printing and dropping all recurse over the tree, so its height is
/// bounded too. Longer sums are written with `sum(…)`, which stays flat.
const MAX_HEIGHT: u32 = 256;

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Number(f64),
    Text(String),
    Word,
    /// The text between `[` and `]`.
    Bracket,
    Open,
    Close,
    Comma,
    Op(BinaryOp),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// Byte offsets of the whole token in the source.
    start: usize,
    end: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = src.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let two = |next: u8| bytes.get(i + 1) == Some(&next);
        let (kind, len) = match b {
            b'(' => (Kind::Open, 1),
            b')' => (Kind::Close, 1),
            b',' => (Kind::Comma, 1),
            b'+' => (Kind::Op(BinaryOp::Add), 1),
            b'-' => (Kind::Op(BinaryOp::Sub), 1),
            b'*' => (Kind::Op(BinaryOp::Mul), 1),
            b'/' => (Kind::Op(BinaryOp::Div), 1),
            b'^' => (Kind::Op(BinaryOp::Pow), 1),
            b'=' if two(b'=') => (Kind::Op(BinaryOp::Eq), 2),
            b'=' => (Kind::Op(BinaryOp::Eq), 1),
            b'<' if two(b'>') => (Kind::Op(BinaryOp::Ne), 2),
            b'<' if two(b'=') => (Kind::Op(BinaryOp::Le), 2),
            b'<' => (Kind::Op(BinaryOp::Lt), 1),
            b'>' if two(b'=') => (Kind::Op(BinaryOp::Ge), 2),
            b'>' => (Kind::Op(BinaryOp::Gt), 1),
            b'!' if two(b'=') => (Kind::Op(BinaryOp::Ne), 2),
            b'&' if two(b'&') => (Kind::Op(BinaryOp::And), 2),
            b'|' if two(b'|') => (Kind::Op(BinaryOp::Or), 2),
            b'!' => {
                return Err(ParseError::new(src, i, "unexpected '!': write 'not' for negation or '<>' for not equal"));
            }
            b'&' | b'|' => {
                return Err(ParseError::new(src, i, format!("unexpected '{}': write 'and' or 'or'", b as char)));
            }
            b'\'' | b'"' => {
                let (text, len) = read_text(src, i)?;
                (Kind::Text(text), len)
            }
            b'[' => {
                let close = read_bracket(src, i)?;
                (Kind::Bracket, close + 1 - i)
            }
            b']' => return Err(ParseError::new(src, i, "unexpected ']' with no '[' before it")),
            b'0'..=b'9' | b'.' => {
                let len = number_len(&bytes[i..]);
                if len == 0 {
                    return Err(ParseError::new(src, i, "unexpected '.'"));
                }
                let literal = &src[i..i + len];
                match literal.parse::<f64>() {
                    Ok(n) if n.is_finite() => (Kind::Number(n), len),
                    _ => return Err(ParseError::new(src, i, format!("the number {literal} is too large"))),
                }
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let len = bytes[i..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'_').count();
                (Kind::Word, len)
            }
            _ => {
                let c = src[i..].chars().next().unwrap_or(' ');
                if c.is_whitespace() {
                    i += c.len_utf8();
                    continue;
                }
                let message = match c {
                    '\u{2018}' | '\u{2019}' | '\u{201C}' | '\u{201D}' => {
                        format!("curly quote '{c}': write text in straight quotes ' or \"")
                    }
                    _ => format!("unexpected character '{c}'"),
                };
                return Err(ParseError::new(src, i, message));
            }
        };
        i += len;
        tokens.push(Token { kind, start, end: i });
    }
    tokens.push(Token { kind: Kind::End, start: src.len(), end: src.len() });
    Ok(tokens)
}

/// Reads text in quotes starting at `start`; a doubled quote stands for one. Returns the text
/// and the length of the literal including its quotes.
fn read_text(src: &str, start: usize) -> Result<(String, usize), ParseError> {
    let quote = src.as_bytes()[start];
    let mut text = String::new();
    let mut i = start + 1;
    loop {
        let rest = &src[i..];
        let Some(at) = rest.bytes().position(|b| b == quote) else {
            return Err(ParseError::new(src, start, "unterminated text: the quote opened here is never closed"));
        };
        text.push_str(&rest[..at]);
        i += at + 1;
        if src.as_bytes().get(i) == Some(&quote) {
            text.push(quote as char);
            i += 1;
        } else {
            return Ok((text, i - start));
        }
    }
}

/// Finds the `]` closing the `[` at `start`.
fn read_bracket(src: &str, start: usize) -> Result<usize, ParseError> {
    for (at, c) in src[start + 1..].char_indices() {
        match c {
            ']' => return Ok(start + 1 + at),
            '[' | '\n' => break,
            _ => {}
        }
    }
    Err(ParseError::new(src, start, "missing ']' to close the field name opened here"))
}

/// Digits with an optional decimal point: `12`, `1.5`, `.5`, `5.`.
fn number_len(bytes: &[u8]) -> usize {
    let int = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if bytes.get(int) != Some(&b'.') {
        return int;
    }
    let frac = bytes[int + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if int + frac == 0 { 0 } else { int + 1 + frac }
}

/// A subtree and its height.
type Parsed = (Expr, u32);

struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    at: usize,
    nesting: u32,
}

impl<'s> Parser<'s> {
    fn peek(&self) -> &Token {
        // The token list always ends with `End`, and `bump` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn text(&self, token: &Token) -> &'s str {
        &self.src[token.start..token.end]
    }

    fn word_is(&self, token: &Token, keyword: &str) -> bool {
        token.kind == Kind::Word && self.text(token).eq_ignore_ascii_case(keyword)
    }

    /// A token as quoted in an error message.
    fn describe(&self, token: &Token) -> String {
        if token.kind == Kind::End {
            return "the end of the logic".to_owned();
        }
        let text = self.text(token);
        let mut shown: String = text.chars().take(30).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        format!("'{shown}'")
    }

    fn error(&self, pos: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.src, pos, message)
    }

    fn enter(&mut self, pos: usize) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error(pos, format!("the logic nests more than {MAX_NESTING} levels deep")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn node(&self, pos: usize, expr: Expr, height: u32) -> Result<Parsed, ParseError> {
        if height > MAX_HEIGHT {
            return Err(self.error(
                pos,
                format!("the logic is too long to evaluate safely (more than {MAX_HEIGHT} operators in a row); use sum(…) for long sums"),
            ));
        }
        Ok((expr, height))
    }

    fn binary(&self, pos: usize, op: BinaryOp, (a, ha): Parsed, (b, hb): Parsed) -> Result<Parsed, ParseError> {
        self.node(pos, Expr::Binary(op, Box::new(a), Box::new(b)), ha.max(hb) + 1)
    }

    /// A whole expression (the top level, a parenthesised one, or a function argument).
    fn expr(&mut self) -> Result<Parsed, ParseError> {
        let start = self.peek().start;
        self.enter(start)?;
        let result = self.climb(0);
        self.leave();
        result
    }

    /// The binary operator at the next token, if any.
    fn infix(&self) -> Option<BinaryOp> {
        let token = self.peek();
        match token.kind {
            Kind::Op(op) => Some(op),
            Kind::Word if self.word_is(token, "and") => Some(BinaryOp::And),
            Kind::Word if self.word_is(token, "or") => Some(BinaryOp::Or),
            _ => None,
        }
    }

    /// Precedence climbing: an operand, then every operator binding at least as tightly as
    /// `min`, each with its right side parsed one level tighter (`^`: at its own level, which
    /// makes it right-associative). One function for all levels keeps the recursion per
    /// parenthesis shallow.
    fn climb(&mut self, min: u8) -> Result<Parsed, ParseError> {
        let mut left = self.prefix(min)?;
        let mut compared = false;
        while let Some(op) = self.infix() {
            let precedence = op.precedence();
            if precedence < min {
                break;
            }
            let token = self.bump();
            if op.is_comparison() && compared {
                return Err(self.error(
                    token.start,
                    "comparisons cannot be chained: join them with 'and', e.g. [x] > 1 and [x] < 5",
                ));
            }
            let right = match op {
                BinaryOp::Pow => {
                    self.enter(token.start)?;
                    let right = self.climb(precedence);
                    self.leave();
                    right?
                }
                _ => self.climb(precedence + 1)?,
            };
            left = self.binary(token.start, op, left, right)?;
            compared = op.is_comparison();
        }
        Ok(left)
    }

    /// An operand: `not …` (where a `not` may stand), a unary minus or plus, or a primary.
    /// Unary plus changes nothing and is dropped.
    fn prefix(&mut self, min: u8) -> Result<Parsed, ParseError> {
        let token = self.peek().clone();
        let (wrap, operand): (fn(Box<Expr>) -> Expr, u8) = if self.word_is(&token, "not") {
            if min > PREC_NOT {
                return Err(self.error(token.start, "put 'not …' in parentheses here, e.g. ([a] = 1) = (not [b])"));
            }
            (Expr::Not, PREC_NOT)
        } else {
            match token.kind {
                Kind::Op(BinaryOp::Sub) => (Expr::Neg, PREC_NEG),
                Kind::Op(BinaryOp::Add) => {
                    self.bump();
                    self.enter(token.start)?;
                    let inner = self.prefix(PREC_NEG);
                    self.leave();
                    return inner;
                }
                _ => return self.primary(),
            }
        };
        self.bump();
        self.enter(token.start)?;
        let inner = if operand == PREC_NEG { self.prefix(PREC_NEG) } else { self.climb(operand) };
        self.leave();
        let (inner, height) = inner?;
        self.node(token.start, wrap(Box::new(inner)), height + 1)
    }

    fn primary(&mut self) -> Result<Parsed, ParseError> {
        let token = self.bump();
        match &token.kind {
            Kind::Number(n) => Ok((Expr::Number(*n), 1)),
            Kind::Text(t) => Ok((Expr::Text(t.clone()), 1)),
            Kind::Bracket => Ok((Expr::Field(self.field(&token)?), 1)),
            Kind::Open => {
                let inner = self.expr()?;
                if self.peek().kind != Kind::Close {
                    return Err(self.expected_close());
                }
                self.bump();
                Ok(inner)
            }
            Kind::Word => match self.word(&token)? {
                Ok(constant) => Ok(constant),
                Err(function) => self.call(function, &token),
            },
            _ => Err(self.not_a_value(&token)),
        }
    }

    /// A word in value position: `true` or `false` (`Ok`), or the name of a function followed
    /// by its `(` (`Err`, for the caller to parse the call).
    fn word(&self, token: &Token) -> Result<Result<Parsed, Function>, ParseError> {
        let word = self.text(token);
        if word.eq_ignore_ascii_case("true") {
            return Ok(Ok((Expr::Bool(true), 1)));
        }
        if word.eq_ignore_ascii_case("false") {
            return Ok(Ok((Expr::Bool(false), 1)));
        }
        let followed_by_paren = self.peek().kind == Kind::Open;
        match Function::from_name(word) {
            Some(function) if followed_by_paren => Ok(Err(function)),
            _ => Err(self.bad_word(token, followed_by_paren)),
        }
    }

    /// A function call; the next token is its `(`. Kept small, because nested calls
    /// (`if(…, if(…, …))`) recurse through it.
    fn call(&mut self, function: Function, name: &Token) -> Result<Parsed, ParseError> {
        self.bump();
        let mut args = Vec::new();
        let mut height = 0;
        if self.peek().kind == Kind::Close {
            self.bump();
        } else {
            loop {
                let (arg, h) = self.expr()?;
                args.push(arg);
                height = height.max(h);
                let next = self.bump();
                match next.kind {
                    Kind::Comma => {}
                    Kind::Close => break,
                    _ => return Err(self.bad_argument_end(function, &next)),
                }
            }
        }
        self.check_call(function, &args, name.start)?;
        self.node(name.start, Expr::Call(function, args), height + 1)
    }

    // The error paths below are out of line so the recursive functions above keep small stack
    // frames.

    #[inline(never)]
    fn expected_close(&self) -> ParseError {
        let close = self.peek();
        self.error(close.start, format!("expected ')' but found {}", self.describe(close)))
    }

    #[inline(never)]
    fn not_a_value(&self, token: &Token) -> ParseError {
        match token.kind {
            Kind::End => self.error(token.start, "the logic ends too early: a value is missing"),
            _ => self.error(
                token.start,
                format!(
                    "expected a value (a number, text in quotes, a [field] or a function) but found {}",
                    self.describe(token)
                ),
            ),
        }
    }

    #[inline(never)]
    fn bad_word(&self, token: &Token, followed_by_paren: bool) -> ParseError {
        let word = self.text(token);
        let lower = word.to_ascii_lowercase();
        if matches!(lower.as_str(), "and" | "or" | "not") {
            self.error(token.start, format!("expected a value before '{word}'"))
        } else if Function::from_name(word).is_some() {
            self.error(token.end, format!("expected '(' after the function name '{word}'"))
        } else if followed_by_paren {
            self.error(token.start, format!("unknown function '{word}'"))
        } else if matches!(lower.as_str(), "today" | "now") {
            self.error(token.start, format!("'{word}' must be written in quotes: '{lower}'"))
        } else {
            self.error(
                token.start,
                format!("unexpected word '{word}': field names are written in square brackets, e.g. [{lower}], and text in quotes"),
            )
        }
    }

    #[inline(never)]
    fn bad_argument_end(&self, function: Function, next: &Token) -> ParseError {
        match next.kind {
            Kind::End => self.error(next.start, format!("expected ')' after the arguments of {}()", function.name())),
            _ => self.error(next.start, format!("expected ',' or ')' but found {}", self.describe(next))),
        }
    }

    /// The number of arguments, and for `datediff` its literal arguments.
    #[inline(never)]
    fn check_call(&self, function: Function, args: &[Expr], pos: usize) -> Result<(), ParseError> {
        let (min, max) = function.arity();
        if args.len() < min || max.is_some_and(|max| args.len() > max) {
            let wanted = match max {
                Some(max) if max == min => format!("{min}"),
                Some(max) => format!("{min} to {max}"),
                None => format!("at least {min}"),
            };
            let plural = if min == 1 && max.is_none_or(|max| max == 1) { "" } else { "s" };
            return Err(self.error(
                pos,
                format!("{}() takes {wanted} argument{plural} but was given {}", function.name(), args.len()),
            ));
        }
        if function == Function::DateDiff {
            self.check_datediff(args, pos)?;
        }
        Ok(())
    }

    /// Catches the mistakes in `datediff` a data manager can fix now rather than discover as a
    /// blank calculation later: an unknown unit or date format, or a date typed in the logic
    /// that is not a date.
    fn check_datediff(&self, args: &[Expr], pos: usize) -> Result<(), ParseError> {
        if let Some(Expr::Text(unit)) = args.get(2)
            && Unit::from_name(unit).is_none()
        {
            return Err(
                self.error(pos, format!("datediff() unit '{unit}' is unknown: use 'y', 'M', 'd', 'h', 'm' or 's'"))
            );
        }
        let mut order = Some(DateOrder::Ymd);
        if let Some(fourth) = args.get(3)
            && !matches!(fourth, Expr::Text(_) | Expr::Bool(_) | Expr::Number(_))
        {
            // The date format is computed: literal dates cannot be checked now.
            order = None;
        }
        if let Some(Expr::Text(fourth)) = args.get(3) {
            let is_signed_flag = ["true", "false"].iter().any(|f| fourth.trim().eq_ignore_ascii_case(f));
            match DateOrder::from_name(fourth) {
                Some(o) => order = Some(o),
                None if is_signed_flag && args.len() == 4 => {}
                None => {
                    return Err(self.error(
                        pos,
                        format!("datediff() date format '{fourth}' is unknown: use 'ymd', 'mdy' or 'dmy'"),
                    ));
                }
            }
        }
        let Some(order) = order else { return Ok(()) };
        for arg in &args[..2] {
            if let Expr::Text(date) = arg
                && !date.trim().is_empty()
                && !dates::is_today_or_now(date)
                && dates::parse_date(date, order, || chrono::NaiveDateTime::MIN).is_none()
            {
                return Err(self.error(pos, format!("datediff() cannot read '{date}' as a date")));
            }
        }
        Ok(())
    }

    /// Turns `[a]`, `[a][b]`, `[a][b][2]` (brackets written back to back) into a reference.
    fn field(&mut self, first: &Token) -> Result<FieldRef, ParseError> {
        let mut parts = vec![first.clone()];
        while parts.len() < 4 {
            let next = self.peek();
            let Some(last) = parts.last() else { break };
            if next.kind != Kind::Bracket || next.start != last.end {
                break;
            }
            parts.push(self.bump());
        }
        let inner = |t: &Token| &self.src[t.start + 1..t.end - 1];
        let is_instance = |t: &Token| !inner(t).is_empty() && inner(t).bytes().all(|b| b.is_ascii_digit());
        let (event, field, instance) = match parts.as_slice() {
            [f] => (None, f, None),
            [f, n] if is_instance(n) => (None, f, Some(n)),
            [e, f] => (Some(e), f, None),
            [e, f, n] if is_instance(n) => (Some(e), f, Some(n)),
            [_, _, extra] | [_, _, _, extra, ..] => {
                return Err(
                    self.error(extra.start, format!("unexpected {} after a field reference", self.describe(extra)))
                );
            }
            [] => return Err(self.error(first.start, "expected a field name")),
        };
        let (name, code) = self.field_name(field, inner(field))?;
        let mut r = FieldRef::new(name);
        r.code = code;
        if let Some(event) = event {
            let (name, code) = self.field_name(event, inner(event))?;
            if code.is_some() {
                return Err(self.error(event.start, "an event name cannot carry a checkbox code"));
            }
            if is_instance(field) {
                return Err(
                    self.error(field.start, format!("expected a field name but found {}", self.describe(field)))
                );
            }
            r.event = Some(name);
        }
        if let Some(n) = instance {
            match inner(n).parse::<u32>() {
                Ok(i) if i >= 1 => r.instance = Some(i),
                _ => return Err(self.error(n.start, "instance numbers start at 1")),
            }
        }
        Ok(r)
    }

    /// Checks `name` or `name(code)` inside a bracket token.
    fn field_name(&self, token: &Token, inner: &str) -> Result<(String, Option<String>), ParseError> {
        let at = token.start + 1;
        let (name, code) = match inner.find('(') {
            Some(open) => {
                let Some(code) = inner[open + 1..].strip_suffix(')') else {
                    return Err(
                        self.error(at + open, "a checkbox code is written [field(code)] with the code in parentheses")
                    );
                };
                (&inner[..open], Some(code))
            }
            None => (inner, None),
        };
        if name.is_empty() {
            return Err(self.error(at, "empty field name in square brackets"));
        }
        if name.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error(at, format!("'{name}' is not a field name: names contain a letter")));
        }
        if name.contains('-') || name.contains(':') {
            return Err(self.error(at, format!("'[{inner}]' is a smart variable, which this logic does not support")));
        }
        if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
            let message = if bad.is_ascii_uppercase() {
                format!("field names are lowercase: write [{}]", name.to_ascii_lowercase())
            } else {
                format!("'{bad}' cannot appear in a field name (lowercase letters, digits and '_')")
            };
            return Err(self.error(at, message));
        }
        let code = match code {
            Some("") => return Err(self.error(at, "empty checkbox code in [field()]")),
            Some(code) => {
                if let Some(bad) = code.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
                    return Err(self.error(at, format!("'{bad}' cannot appear in a checkbox code")));
                }
                Some(code.to_owned())
            }
            None => None,
        };
        Ok((name.to_owned(), code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: f64) -> Box<Expr> {
        Box::new(Expr::Number(v))
    }

    fn f(name: &str) -> Box<Expr> {
        Box::new(Expr::Field(FieldRef::new(name)))
    }

    fn err(src: &str) -> ParseError {
        match parse(src) {
            Ok(e) => panic!("{src:?} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn precedence_follows_the_language() {
        use BinaryOp::*;
        let e = parse("1 + 2 * 3 ^ 2").unwrap();
        assert_eq!(
            e,
            Expr::Binary(Add, n(1.0), Box::new(Expr::Binary(Mul, n(2.0), Box::new(Expr::Binary(Pow, n(3.0), n(2.0))))))
        );
        // Unary minus binds tighter than ^.
        let e = parse("-2 ^ 2").unwrap();
        assert_eq!(e, Expr::Binary(Pow, Box::new(Expr::Neg(n(2.0))), n(2.0)));
        // ^ is right-associative, - and / are left-associative.
        assert_eq!(parse("2 ^ 3 ^ 2").unwrap(), Expr::Binary(Pow, n(2.0), Box::new(Expr::Binary(Pow, n(3.0), n(2.0)))));
        assert_eq!(parse("8 - 3 - 1").unwrap(), Expr::Binary(Sub, Box::new(Expr::Binary(Sub, n(8.0), n(3.0))), n(1.0)));
        assert_eq!(parse("8 / 4 / 2").unwrap(), Expr::Binary(Div, Box::new(Expr::Binary(Div, n(8.0), n(4.0))), n(2.0)));
        // or < and < not < comparison.
        let e = parse("not [a] = 1 and [b] or [c]").unwrap();
        let not_a = Expr::Not(Box::new(Expr::Binary(Eq, f("a"), n(1.0))));
        assert_eq!(e, Expr::Binary(Or, Box::new(Expr::Binary(And, Box::new(not_a), f("b"))), f("c")));
        // Comparison binds looser than arithmetic.
        assert_eq!(
            parse("[a] + 1 > [b] * 2").unwrap(),
            Expr::Binary(Gt, Box::new(Expr::Binary(Add, f("a"), n(1.0))), Box::new(Expr::Binary(Mul, f("b"), n(2.0))))
        );
    }

    #[test]
    fn operator_spellings() {
        use BinaryOp::*;
        for (src, op) in [
            ("[a] = 1", Eq),
            ("[a] == 1", Eq),
            ("[a] <> 1", Ne),
            ("[a] != 1", Ne),
            ("[a] < 1", Lt),
            ("[a] <= 1", Le),
            ("[a] > 1", Gt),
            ("[a] >= 1", Ge),
            ("[a] and 1", And),
            ("[a] AND 1", And),
            ("[a] And 1", And),
            ("[a] && 1", And),
            ("[a] or 1", Or),
            ("[a] OR 1", Or),
            ("[a] || 1", Or),
            ("[a]+1", Add),
            ("[a]-1", Sub),
            ("[a]*1", Mul),
            ("[a]/1", Div),
            ("[a]^1", Pow),
        ] {
            assert_eq!(parse(src).unwrap(), Expr::Binary(op, f("a"), n(1.0)), "{src}");
        }
        assert_eq!(parse("NOT [a]").unwrap(), Expr::Not(f("a")));
        assert_eq!(parse("not not [a]").unwrap(), Expr::Not(Box::new(Expr::Not(f("a")))));
        assert_eq!(parse("+[a]").unwrap(), *f("a"));
        assert_eq!(parse("--[a]").unwrap(), Expr::Neg(Box::new(Expr::Neg(f("a")))));
    }

    #[test]
    fn literals() {
        assert_eq!(parse("12").unwrap(), Expr::Number(12.0));
        assert_eq!(parse("1.25").unwrap(), Expr::Number(1.25));
        assert_eq!(parse(".5").unwrap(), Expr::Number(0.5));
        assert_eq!(parse("'abc'").unwrap(), Expr::Text("abc".into()));
        assert_eq!(parse("\"abc\"").unwrap(), Expr::Text("abc".into()));
        assert_eq!(parse("''").unwrap(), Expr::Text(String::new()));
        assert_eq!(parse("\"\"").unwrap(), Expr::Text(String::new()));
        assert_eq!(parse("\"it's\"").unwrap(), Expr::Text("it's".into()));
        assert_eq!(parse("'it''s'").unwrap(), Expr::Text("it's".into()));
        assert_eq!(parse("'é ü 日本'").unwrap(), Expr::Text("é ü 日本".into()));
        assert_eq!(parse("true").unwrap(), Expr::Bool(true));
        assert_eq!(parse("FALSE").unwrap(), Expr::Bool(false));
    }

    #[test]
    fn field_references() {
        assert_eq!(parse("[age]").unwrap(), Expr::Field(FieldRef::new("age")));
        assert_eq!(parse("[visit_1][age]").unwrap(), Expr::Field(FieldRef::new("age").in_event("visit_1")));
        assert_eq!(parse("[meds(3)]").unwrap(), Expr::Field(FieldRef::new("meds").choice("3")));
        assert_eq!(parse("[meds(-99)]").unwrap(), Expr::Field(FieldRef::new("meds").choice("-99")));
        assert_eq!(
            parse("[baseline_arm_1][meds(99)]").unwrap(),
            Expr::Field(FieldRef::new("meds").in_event("baseline_arm_1").choice("99"))
        );
        assert_eq!(parse("[ae_grade][2]").unwrap(), Expr::Field(FieldRef::new("ae_grade").instance(2)));
        assert_eq!(
            parse("[week_4][meds(1)][3]").unwrap(),
            Expr::Field(FieldRef::new("meds").in_event("week_4").choice("1").instance(3))
        );
        assert_eq!(parse("[1_month_arm_1][x]").unwrap(), Expr::Field(FieldRef::new("x").in_event("1_month_arm_1")));
        // Brackets separated by a space are two operands, not one reference.
        assert!(parse("[a] [b]").is_err());
    }

    #[test]
    fn functions_are_case_insensitive_and_checked_for_arity() {
        assert_eq!(parse("ROUND([x], 1)").unwrap(), Expr::Call(Function::Round, vec![*f("x"), Expr::Number(1.0)]));
        assert_eq!(parse("Sum([a],[b],[c])").unwrap(), Expr::Call(Function::Sum, vec![*f("a"), *f("b"), *f("c")]));
        assert_eq!(
            parse("if ([a], 1, 0)").unwrap(),
            Expr::Call(Function::If, vec![*f("a"), Expr::Number(1.0), Expr::Number(0.0)])
        );
        assert_eq!(err("if([a], 1)").message, "if() takes 3 arguments but was given 2");
        assert_eq!(err("abs()").message, "abs() takes 1 argument but was given 0");
        assert_eq!(err("round(1, 2, 3)").message, "round() takes 1 to 2 arguments but was given 3");
        assert_eq!(err("sum()").message, "sum() takes at least 1 argument but was given 0");
        for func in Function::ALL {
            assert_eq!(Function::from_name(&func.name().to_uppercase()), Some(func));
        }
    }

    #[test]
    fn error_positions_and_messages() {
        let e = err("([age] > 18 and [x]");
        assert_eq!((e.pos, e.column), (19, 20));
        assert_eq!(e.to_string(), "expected ')' but found the end of the logic at position 20");

        let e = err("[a] = foo(1)");
        assert_eq!(e.to_string(), "unknown function 'foo' at position 7");
        assert_eq!(e.pos, 6);

        let e = err("[name] = 'Ann");
        assert_eq!(e.to_string(), "unterminated text: the quote opened here is never closed at position 10");

        let e = err("round([x], 1");
        assert_eq!(e.to_string(), "expected ')' after the arguments of round() at position 13");

        let e = err("[age > 3");
        assert_eq!(e.column, 1);
        assert!(e.message.contains("missing ']'"));

        let e = err("[a] = 1 [b] = 2");
        assert_eq!(e.column, 9);
        assert!(e.message.contains("expected 'and', 'or'"), "{e}");

        let e = err("[a] = 1\nand [b] = ");
        assert_eq!((e.line, e.column), (2, 11));
        assert_eq!(e.to_string(), "the logic ends too early: a value is missing at line 2, position 11");

        // Columns count characters, not bytes.
        let e = err("'é' = foo(1)");
        assert_eq!((e.pos, e.column), (7, 7));
    }

    #[test]
    fn helpful_errors() {
        assert_eq!(err("").message, "the logic is empty");
        assert_eq!(err("   ").message, "the logic is empty");
        assert!(err("age > 18").message.contains("[age]"));
        assert!(err("[Age] > 18").message.contains("lowercase"));
        assert!(err("[event-name] = 'x'").message.contains("smart variable"));
        assert!(err("[a] = ‘1’").message.contains("straight quotes"));
        assert!(err("1 < [a] < 5").message.contains("chained"));
        assert!(err("[a] = 1 )").message.contains("no '('"));
        assert!(err("[a] ! 1").message.contains("not"));
        assert!(err("[a] & 1").message.contains("and"));
        assert!(err("datediff([d], today, 'y')").message.contains("quotes"));
        assert!(err("sum").message.contains("'('"));
        assert!(err("[a]]").message.contains("']'"));
        assert!(err("[a][b][c]").message.contains("[c]"));
        assert!(err("[a][0]").message.contains("start at 1"));
        assert!(err("[a(1)][b]").message.contains("event"));
        assert!(err("[a()]").message.contains("empty checkbox code"));
        assert!(err("[a(1]").message.contains("parentheses"));
        assert!(err("[]").message.contains("empty field name"));
        assert!(err("[12]").message.contains("letter"));
        assert!(err("[a b]").message.contains("' '"));
        assert!(err("[a] = $").message.contains("'$'"));
        assert!(err("1 and").message.contains("too early"));
        assert!(err("and 1").message.contains("before 'and'"));
        assert!(err("(1, 2)").message.contains("')'"));
        assert!(err(&"9".repeat(400)).message.contains("too large"));
    }

    #[test]
    fn datediff_arguments_are_checked_when_written() {
        assert!(parse("datediff([a], [b], 'y')").is_ok());
        assert!(parse("datediff([a], 'today', 'M', 'mdy', true)").is_ok());
        assert!(parse("datediff([a], 'now', 'h', true)").is_ok());
        assert!(parse("datediff([a], 'now', 'h', 'true')").is_ok());
        assert!(parse("datediff('12-31-2023', 'today', 'd', 'mdy')").is_ok());
        assert!(err("datediff([a], [b], 'w')").message.contains("unit 'w'"));
        assert!(err("datediff([a], [b], 'd', 'ydm')").message.contains("date format 'ydm'"));
        assert!(err("datediff([a], [b], 'd', 'true', true)").message.contains("date format"));
        assert!(err("datediff('2024-02-30', [b], 'd')").message.contains("'2024-02-30'"));
        assert!(err("datediff('12-31-2023', [b], 'd', 'dmy')").message.contains("'12-31-2023'"));
    }

    #[test]
    fn hostile_nesting_is_refused_not_overflowed() {
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(err(&deep).message.contains("nests"));
        let negations = format!("{}1", "-".repeat(10_000));
        assert!(err(&negations).message.contains("nests"));
        let nots = format!("{}1", "not ".repeat(10_000));
        assert!(err(&nots).message.contains("nests"));
        let powers = vec!["2"; 10_000].join("^");
        assert!(err(&powers).message.contains("nests"));
        let long_sum = vec!["[q]"; 10_000].join(" + ");
        assert!(err(&long_sum).message.contains("sum("));
        let ok_sum = vec!["[q]"; 200].join(" + ");
        assert!(parse(&ok_sum).is_ok());
    }
}
