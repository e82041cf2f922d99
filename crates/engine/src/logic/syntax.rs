//! The syntax tree of a logic expression, and its canonical printed form.
//! A data dictionary's logic is parsed once into an [`Expr`] and then evaluated for every record
//! and every keystroke; printing it back gives one spelling per meaning (`=`, `<>`, `and`, `or`,
//! lowercase function names, only the parentheses the precedence needs).

use std::fmt;

/// A parsed logic expression: branching logic or a calculation.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number written in the logic. The parser only produces non-negative finite numbers
    /// (`-3` is [`Expr::Neg`] of `3`).
    Number(f64),
    /// Text in quotes. `''` and `""` are the blank value.
    Text(String),
    /// `true` or `false`.
    Bool(bool),
    /// `[field]`, `[event][field]`, `[field(code)]`, optionally with an instance `[field][2]`.
    Field(FieldRef),
    /// Unary minus.
    Neg(Box<Expr>),
    /// `not x`.
    Not(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Call(Function, Vec<Expr>),
}

/// A reference to a stored answer, as written between square brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldRef {
    /// The unique event name in a longitudinal study; `None` means the event being evaluated.
    pub event: Option<String>,
    /// The field (variable) name.
    pub field: String,
    /// The choice code of a checkbox: `[meds(3)]` is "1" when choice 3 is ticked, else "0".
    pub code: Option<String>,
    /// The instance of a repeating form or event; `None` means the instance being evaluated.
    pub instance: Option<u32>,
}

impl FieldRef {
    /// A plain `[field]`.
    pub fn new(field: impl Into<String>) -> Self {
        FieldRef { event: None, field: field.into(), code: None, instance: None }
    }

    /// The same reference qualified by an event: `[event][field]`.
    pub fn in_event(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// The same reference to one choice of a checkbox: `[field(code)]`.
    pub fn choice(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// The same reference to one instance: `[field][instance]`.
    pub fn instance(mut self, instance: u32) -> Self {
        self.instance = Some(instance);
        self
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(event) = &self.event {
            write!(f, "[{event}]")?;
        }
        match &self.code {
            Some(code) => write!(f, "[{}({code})]", self.field)?,
            None => write!(f, "[{}]", self.field)?,
        }
        if let Some(instance) = self.instance {
            write!(f, "[{instance}]")?;
        }
        Ok(())
    }
}

/// The binary operators, loosest first within [`BinaryOp::precedence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    /// `=` (also written `==`): equality, never assignment.
    Eq,
    /// `<>` (also written `!=`).
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    /// `^`, right-associative: `2 ^ 3 ^ 2` is `2 ^ 9`.
    Pow,
}

/// Precedence levels. `not` sits between `and` and the comparisons; unary minus binds tighter
/// than `^`, so `-2 ^ 2` is `(-2) ^ 2`, as the logic language defines it.
pub(crate) const PREC_OR: u8 = 1;
pub(crate) const PREC_AND: u8 = 2;
pub(crate) const PREC_NOT: u8 = 3;
pub(crate) const PREC_CMP: u8 = 4;
pub(crate) const PREC_ADD: u8 = 5;
pub(crate) const PREC_MUL: u8 = 6;
pub(crate) const PREC_POW: u8 = 7;
pub(crate) const PREC_NEG: u8 = 8;
pub(crate) const PREC_ATOM: u8 = 9;

impl BinaryOp {
    /// The operator as printed in canonical form.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Pow => "^",
        }
    }

    /// How tightly the operator binds; higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => PREC_OR,
            BinaryOp::And => PREC_AND,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => PREC_CMP,
            BinaryOp::Add | BinaryOp::Sub => PREC_ADD,
            BinaryOp::Mul | BinaryOp::Div => PREC_MUL,
            BinaryOp::Pow => PREC_POW,
        }
    }

    /// Whether this is one of the six comparisons.
    pub fn is_comparison(self) -> bool {
        self.precedence() == PREC_CMP
    }
}

/// The functions of the logic language. Names are matched without regard to case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    If,
    Sum,
    Mean,
    Median,
    Min,
    Max,
    Round,
    RoundUp,
    RoundDown,
    Abs,
    Sqrt,
    Mod,
    DateDiff,
    Contains,
    NotContain,
    StartsWith,
    EndsWith,
    Length,
    IsNumber,
    IsInteger,
    IsBlankOrMissingCode,
    Left,
    Right,
    Mid,
    Concat,
    Upper,
    Lower,
    Trim,
}

impl Function {
    /// Every function, for listing in an editor's help.
    pub const ALL: [Function; 28] = [
        Function::If,
        Function::Sum,
        Function::Mean,
        Function::Median,
        Function::Min,
        Function::Max,
        Function::Round,
        Function::RoundUp,
        Function::RoundDown,
        Function::Abs,
        Function::Sqrt,
        Function::Mod,
        Function::DateDiff,
        Function::Contains,
        Function::NotContain,
        Function::StartsWith,
        Function::EndsWith,
        Function::Length,
        Function::IsNumber,
        Function::IsInteger,
        Function::IsBlankOrMissingCode,
        Function::Left,
        Function::Right,
        Function::Mid,
        Function::Concat,
        Function::Upper,
        Function::Lower,
        Function::Trim,
    ];

    /// The canonical (lowercase) name.
    pub fn name(self) -> &'static str {
        match self {
            Function::If => "if",
            Function::Sum => "sum",
            Function::Mean => "mean",
            Function::Median => "median",
            Function::Min => "min",
            Function::Max => "max",
            Function::Round => "round",
            Function::RoundUp => "roundup",
            Function::RoundDown => "rounddown",
            Function::Abs => "abs",
            Function::Sqrt => "sqrt",
            Function::Mod => "mod",
            Function::DateDiff => "datediff",
            Function::Contains => "contains",
            Function::NotContain => "not_contain",
            Function::StartsWith => "starts_with",
            Function::EndsWith => "ends_with",
            Function::Length => "length",
            Function::IsNumber => "isnumber",
            Function::IsInteger => "isinteger",
            Function::IsBlankOrMissingCode => "isblankormissingcode",
            Function::Left => "left",
            Function::Right => "right",
            Function::Mid => "mid",
            Function::Concat => "concat",
            Function::Upper => "upper",
            Function::Lower => "lower",
            Function::Trim => "trim",
        }
    }

    /// The function called `name`, whatever its case.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// The fewest and the most arguments the function takes (`None`: any number).
    pub fn arity(self) -> (usize, Option<usize>) {
        match self {
            Function::If | Function::Mid => (3, Some(3)),
            Function::Sum | Function::Mean | Function::Median | Function::Min | Function::Max | Function::Concat => {
                (1, None)
            }
            Function::Round | Function::RoundUp | Function::RoundDown => (1, Some(2)),
            Function::Abs
            | Function::Sqrt
            | Function::Length
            | Function::IsNumber
            | Function::IsInteger
            | Function::IsBlankOrMissingCode
            | Function::Upper
            | Function::Lower
            | Function::Trim => (1, Some(1)),
            Function::Mod
            | Function::Contains
            | Function::NotContain
            | Function::StartsWith
            | Function::EndsWith
            | Function::Left
            | Function::Right => (2, Some(2)),
            Function::DateDiff => (3, Some(5)),
        }
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Expr {
    /// How tightly this node binds when printed; children looser than their slot need
    /// parentheses.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Number(n) if n.is_sign_negative() && n.is_finite() => PREC_NEG,
            Expr::Number(_) | Expr::Text(_) | Expr::Bool(_) | Expr::Field(_) | Expr::Call(..) => PREC_ATOM,
            Expr::Neg(_) => PREC_NEG,
            Expr::Not(_) => PREC_NOT,
            Expr::Binary(op, ..) => op.precedence(),
        }
    }

    /// Every field reference the expression reads, once each, in order of first appearance.
    /// Used to check logic against the data dictionary (unknown fields, events or choice codes)
    /// and to order calculated fields after the fields they depend on.
    pub fn references(&self) -> Vec<FieldRef> {
        let mut found: Vec<FieldRef> = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                Expr::Number(_) | Expr::Text(_) | Expr::Bool(_) => {}
                Expr::Field(r) => {
                    if !found.contains(r) {
                        found.push(r.clone());
                    }
                }
                Expr::Neg(x) | Expr::Not(x) => stack.push(x),
                // Pushed right first so the left side is visited first.
                Expr::Binary(_, a, b) => {
                    stack.push(b);
                    stack.push(a);
                }
                Expr::Call(_, args) => stack.extend(args.iter().rev()),
            }
        }
        found
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, slot: u8) -> fmt::Result {
        let parens = self.precedence() < slot;
        if parens {
            f.write_str("(")?;
        }
        match self {
            Expr::Number(n) => write_number(f, *n)?,
            Expr::Text(t) => write_text(f, t)?,
            Expr::Bool(b) => f.write_str(if *b { "true" } else { "false" })?,
            Expr::Field(r) => write!(f, "{r}")?,
            Expr::Neg(x) => {
                f.write_str("-")?;
                x.write(f, PREC_NEG)?;
            }
            Expr::Not(x) => {
                f.write_str("not ")?;
                x.write(f, PREC_NOT)?;
            }
            Expr::Binary(op, a, b) => {
                let p = op.precedence();
                // Left-associative operators keep a same-level left child bare; `^` keeps a
                // same-level right child bare; comparisons do not chain at all.
                let (left, right) = match op {
                    BinaryOp::Pow => (p + 1, p),
                    _ if op.is_comparison() => (p + 1, p + 1),
                    _ => (p, p + 1),
                };
                a.write(f, left)?;
                write!(f, " {} ", op.symbol())?;
                b.write(f, right)?;
            }
            Expr::Call(func, args) => {
                write!(f, "{func}(")?;
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    arg.write(f, 0)?;
                }
                f.write_str(")")?;
            }
        }
        if parens {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Prints a number so that it reads back as the same `f64`. Rust's shortest round-trip form
/// never uses an exponent, which the logic language has no syntax for. A number that cannot be
/// written (infinite or NaN, which only a hand-built tree can hold) prints as the blank it would
/// evaluate to.
fn write_number(f: &mut fmt::Formatter<'_>, n: f64) -> fmt::Result {
    if !n.is_finite() {
        return f.write_str("''");
    }
    if n.is_sign_negative() {
        return write!(f, "-{}", -n);
    }
    write!(f, "{n}")
}

/// Prints text in single quotes, or in double quotes when it holds a single quote and no double
/// one; a quote of the enclosing kind is doubled, which the parser reads back as one.
fn write_text(f: &mut fmt::Formatter<'_>, t: &str) -> fmt::Result {
    let quote = if t.contains('\'') && !t.contains('"') { '"' } else { '\'' };
    let mut buf = String::with_capacity(t.len() + 2);
    buf.push(quote);
    for c in t.chars() {
        if c == quote {
            buf.push(quote);
        }
        buf.push(c);
    }
    buf.push(quote);
    f.write_str(&buf)
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, 0)
    }
}
