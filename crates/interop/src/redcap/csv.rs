//! CSV as REDCap writes and reads it. REDCap writes with PHP's `fputcsv` (no escape
//! character) and then turns every CRLF into LF: a value is quoted when it holds a comma, a
//! quote, a line break, a tab or a space, quotes inside are doubled, and every line ends in LF.
//! Writing by the same rule is what makes a dictionary exported from REDCap come back out of
//! Clinbridge byte for byte; the `csv` crate's quoting (no quotes around spaces) would not.
//!
//! Reading accepts what spreadsheets write too (CRLF or CR line ends, quotes only where needed)
//! and reports each malformed record with its row instead of stopping at the first.

use std::borrow::Cow;

/// One record of a file: the spreadsheet row it is (the first record is row 1; a value spanning
/// lines keeps the record one row), the line it starts on, and its cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub row: usize,
    pub line: usize,
    pub cells: Vec<String>,
}

impl Record {
    /// A record with no text at all (an empty line, or only delimiters).
    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(String::is_empty)
    }
}

/// A record that could not be read as CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub row: usize,
    pub line: usize,
    pub message: String,
}

/// Reads every record of a file. Problems do not stop the reading, except a quoted value that
/// is never closed, which swallows the rest of the file.
pub fn read(text: &str) -> (Vec<Record>, Vec<Malformed>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut row = 0;
    while chars.peek().is_some() {
        row += 1;
        let start_line = line;
        let mut cells = Vec::new();
        let mut cell = String::new();
        // The record runs until a line break outside quotes, or the end of the text.
        loop {
            if chars.peek() == Some(&'"') && cell.is_empty() {
                chars.next();
                let opened = line;
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            cell.push('"');
                        } else {
                            closed = true;
                            break;
                        }
                    } else {
                        if c == '\n' || (c == '\r' && chars.peek() != Some(&'\n')) {
                            line += 1;
                        }
                        cell.push(c);
                    }
                }
                if !closed {
                    problems.push(Malformed {
                        row,
                        line: opened,
                        message: format!("a quoted value opened on line {opened} is never closed"),
                    });
                    cells.push(std::mem::take(&mut cell));
                    records.push(Record { row, line: start_line, cells });
                    return (records, problems);
                }
                if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                    problems.push(Malformed {
                        row,
                        line,
                        message: format!(
                            "text follows the closing quote of value {} (a quote inside a quoted value is written twice)",
                            cells.len() + 1
                        ),
                    });
                }
            }
            match chars.next() {
                None => {
                    cells.push(std::mem::take(&mut cell));
                    break;
                }
                Some(',') => cells.push(std::mem::take(&mut cell)),
                Some('\n') => {
                    line += 1;
                    cells.push(std::mem::take(&mut cell));
                    break;
                }
                Some('\r') => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    line += 1;
                    cells.push(std::mem::take(&mut cell));
                    break;
                }
                Some(c) => cell.push(c),
            }
        }
        records.push(Record { row, line: start_line, cells });
    }
    (records, problems)
}

/// Whether REDCap quotes this value.
fn needs_quotes(cell: &str) -> bool {
    cell.contains([',', '"', '\n', '\r', '\t', ' '])
}

/// A value as REDCap writes it: CRLF as LF, quoted when needed, inner quotes doubled.
pub fn cell(value: &str) -> Cow<'_, str> {
    let value: Cow<'_, str> =
        if value.contains("\r\n") { Cow::Owned(value.replace("\r\n", "\n")) } else { value.into() };
    if needs_quotes(&value) { Cow::Owned(format!("\"{}\"", value.replace('"', "\"\""))) } else { value }
}

/// Appends one record and its LF.
pub fn write_record<S: AsRef<str>>(out: &mut String, cells: &[S]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&cell(c.as_ref()));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn cells(text: &str) -> Vec<Vec<String>> {
        let (records, problems) = read(text);
        assert!(problems.is_empty(), "{problems:?}");
        records.into_iter().map(|r| r.cells).collect()
    }

    #[test]
    fn quotes_exactly_where_redcap_does() {
        let mut out = String::new();
        write_record(
            &mut out,
            &["record_id", "Record ID", "", "Identifier?", "a,b", "say \"hi\"", "tab\there", "x\r\ny", "é"],
        );
        assert_eq!(out, "record_id,\"Record ID\",,Identifier?,\"a,b\",\"say \"\"hi\"\"\",\"tab\there\",\"x\ny\",é\n");
        assert_eq!(cell(" "), "\" \"");
        assert_eq!(cell("back\\slash"), "back\\slash");
        assert_eq!(cell("lone\rcr"), "\"lone\rcr\"");
        // One pass, as REDCap's str_replace: CR CR LF keeps its first CR.
        assert_eq!(cell("a\r\r\nb"), "\"a\r\nb\"");
        assert_eq!(cells("\"a\r\nb\"\n"), [vec!["a\r\nb"]]);
    }

    #[test]
    fn reads_quoted_values_with_line_breaks_and_counts_rows_and_lines() {
        let (records, problems) = read("a,\"two\nlines\",c\nd,\"say \"\"x\"\"\",\n\"\",,\n");
        assert!(problems.is_empty());
        assert_eq!(records[0].cells, ["a", "two\nlines", "c"]);
        assert_eq!((records[1].row, records[1].line), (2, 3));
        assert_eq!(records[1].cells, ["d", "say \"x\"", ""]);
        assert_eq!(records[2].cells, ["", "", ""]);
        assert!(records[2].is_blank());
        assert_eq!(records.len(), 3);
    }

    #[test]
    fn accepts_crlf_cr_and_a_missing_final_line_break() {
        assert_eq!(cells("a,b\r\nc,d"), [vec!["a", "b"], vec!["c", "d"]]);
        assert_eq!(cells("a,b\rc,d\r"), [vec!["a", "b"], vec!["c", "d"]]);
        assert_eq!(cells("\n"), [vec![""]]);
        assert!(cells("").is_empty());
    }

    #[test]
    fn a_quote_inside_an_unquoted_value_is_kept_as_spreadsheets_do() {
        assert_eq!(cells("5\" ruler,x\n"), [vec!["5\" ruler", "x"]]);
    }

    #[test]
    fn text_after_a_closing_quote_is_reported_with_its_row() {
        let (records, problems) = read("ok,fine\n\"a\"b,c\n\"x\" ,y\n");
        assert_eq!(records.len(), 3);
        assert_eq!(problems.iter().map(|p| (p.row, p.line)).collect::<Vec<_>>(), [(2, 2), (3, 3)]);
        assert!(problems[0].message.contains("value 1"));
    }

    #[test]
    fn an_unclosed_quote_is_reported_where_it_opened() {
        let (records, problems) = read("a,b\nc,\"never\nclosed,d\ne,f\n");
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].row, problems[0].line), (2, 2));
        assert!(problems[0].message.contains("opened on line 2"));
        assert_eq!(records.len(), 2);
    }

    proptest! {
        /// Whatever the values (line breaks normalised to LF, as REDCap writes them), writing
        /// then reading gives them back.
        #[test]
        fn write_then_read_gives_the_values_back(
            rows in prop::collection::vec(
                prop::collection::vec("[a-z ,\"\t\n\r\\\\é|@=']{0,12}", 1..6),
                1..6,
            )
        ) {
            let mut out = String::new();
            for r in &rows {
                write_record(&mut out, r);
            }
            let (records, problems) = read(&out);
            prop_assert!(problems.is_empty());
            let back: Vec<Vec<String>> = records.into_iter().map(|r| r.cells).collect();
            let expected: Vec<Vec<String>> =
                rows.iter().map(|r| r.iter().map(|c| c.replace("\r\n", "\n")).collect()).collect();
            prop_assert_eq!(back, expected);
        }
    }
}
