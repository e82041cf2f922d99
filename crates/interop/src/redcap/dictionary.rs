//! The REDCap data dictionary as a file. REDCap offers it two ways: downloaded from its pages
//! (a UTF-8 byte order mark, then the headings `Variable / Field Name`, `Form Name`, …) and from
//! its API (no mark, the headings `field_name`, `form_name`, …). Both read here, and both can be
//! written; a dictionary read from either and written in the same style gives the same bytes.
//!
//! Reading is all or nothing: the result is a [`Dictionary`] or every problem found, malformed
//! CSV and wrong headers as well as every rule of `clinbridge_core::edc`, each with its row (the
//! header is row 1; a value spanning lines keeps its record one row, as in a spreadsheet) and its
//! column. Rows with no text at all are skipped, as spreadsheets leave them behind.

use super::csv::{self, Record};
use clinbridge_core::edc::{Column, Dictionary, FieldRow, Problem};

/// Which headings a dictionary file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Headings {
    /// `Variable / Field Name`, … as downloaded from REDCap's Data Dictionary page.
    Labels,
    /// `field_name`, … as REDCap's API exports metadata as CSV.
    ApiNames,
}

/// How a dictionary file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CsvStyle {
    pub headings: Headings,
    /// Whether the file starts with a UTF-8 byte order mark (REDCap's downloads do, so that
    /// spreadsheet programs read the file as UTF-8).
    pub bom: bool,
}

impl CsvStyle {
    /// As downloaded from REDCap's Data Dictionary page.
    pub const DOWNLOAD: CsvStyle = CsvStyle { headings: Headings::Labels, bom: true };
    /// As REDCap's API exports metadata with `format=csv`.
    pub const API: CsvStyle = CsvStyle { headings: Headings::ApiNames, bom: false };
}

const BOM: char = '\u{FEFF}';

/// Reads a dictionary file.
pub fn parse(input: &[u8]) -> Result<Dictionary, Vec<Problem>> {
    parse_with_style(input).map(|(d, _)| d)
}

/// Reads a dictionary file and tells how it was written, so it can be written back the same way.
pub fn parse_with_style(input: &[u8]) -> Result<(Dictionary, CsvStyle), Vec<Problem>> {
    let text = std::str::from_utf8(input).map_err(|e| {
        let before = &input[..e.valid_up_to()];
        let line = 1 + before.iter().filter(|b| **b == b'\n').count();
        vec![Problem::new(
            line,
            None,
            format!(
                "the file is not UTF-8 text (line {line}, byte {}); save it from the spreadsheet as \"CSV UTF-8\"",
                e.valid_up_to() + 1
            ),
        )]
    })?;
    let (bom, text) = match text.strip_prefix(BOM) {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (records, malformed) = csv::read(text);
    let mut problems: Vec<Problem> =
        malformed.into_iter().map(|m| Problem::new(m.row, None, format!("{} (line {})", m.message, m.line))).collect();

    let mut records = records.into_iter();
    let Some(header) = records.next() else {
        problems.push(Problem::new(1, None, "the file is empty; a dictionary starts with its header row"));
        return Err(problems);
    };
    let headings = match read_header(&header) {
        Ok(h) => h,
        Err(found) => {
            problems.extend(found);
            return Err(problems);
        }
    };

    let mut rows = Vec::new();
    for record in records.filter(|r| !r.is_blank()) {
        let n = record.cells.len();
        match <[String; 18]>::try_from(record.cells) {
            Ok(cells) => rows.push((record.row, FieldRow::from_cells(cells))),
            Err(_) if n < 18 => problems.push(Problem::new(
                record.row,
                Column::ALL.get(n).copied(),
                format!("this row has {n} values; a dictionary row has 18 (is a comma missing, or a quote?)"),
            )),
            Err(_) => problems.push(Problem::new(
                record.row,
                None,
                format!(
                    "this row has {n} values; a dictionary row has 18 (is a value with a comma missing its quotes?)"
                ),
            )),
        }
    }
    match Dictionary::from_numbered_rows(rows) {
        Ok(d) if problems.is_empty() => Ok((d, CsvStyle { headings, bom })),
        Ok(_) => Err(problems),
        Err(found) => {
            problems.extend(found);
            problems.sort_by_key(|p| (p.row, p.column.map_or(0, |c| c.index() + 1)));
            Err(problems)
        }
    }
}

fn heading(c: Column, h: Headings) -> &'static str {
    match h {
        Headings::Labels => c.heading(),
        Headings::ApiNames => c.name(),
    }
}

/// Checks the 18 headings, in either spelling (letter case and surrounding spaces aside), and
/// names each one that differs.
fn read_header(header: &Record) -> Result<Headings, Vec<Problem>> {
    let same = |found: &str, expected: &str| found.trim().eq_ignore_ascii_case(expected);
    let first = header.cells.first().map(String::as_str).unwrap_or_default();
    let headings = if same(first, Column::FieldName.heading()) {
        Headings::Labels
    } else if same(first, Column::FieldName.name()) {
        Headings::ApiNames
    } else {
        return Err(vec![Problem::new(
            header.row,
            Some(Column::FieldName),
            format!(
                "the first heading is '{first}'; a dictionary starts with '{}' (or '{}' as the API writes it)",
                Column::FieldName.heading(),
                Column::FieldName.name()
            ),
        )]);
    };
    let mut problems = Vec::new();
    for (i, column) in Column::ALL.into_iter().enumerate() {
        let expected = heading(column, headings);
        match header.cells.get(i) {
            Some(found) if same(found, expected) => {}
            Some(found) => problems.push(Problem::new(
                header.row,
                Some(column),
                format!("heading {} is '{found}' where '{expected}' was expected", i + 1),
            )),
            None => problems.push(Problem::new(
                header.row,
                Some(column),
                format!("the heading '{expected}' is missing (column {})", i + 1),
            )),
        }
    }
    if header.cells.len() > Column::ALL.len() {
        problems.push(Problem::new(
            header.row,
            None,
            format!(
                "the header has {} columns; a dictionary has 18, ending with '{}'",
                header.cells.len(),
                heading(Column::Annotation, headings)
            ),
        ));
    }
    if problems.is_empty() { Ok(headings) } else { Err(problems) }
}

/// Writes a dictionary in the given style, with REDCap's quoting and LF line ends.
pub fn write(dictionary: &Dictionary, style: CsvStyle) -> String {
    let mut out = String::new();
    if style.bom {
        out.push(BOM);
    }
    csv::write_record(&mut out, &Column::ALL.map(|c| heading(c, style.headings)));
    for row in dictionary.to_rows() {
        csv::write_record(&mut out, &row.cells());
    }
    out
}

/// The rows of REDCap's metadata API (`content=metadata`): one object per field with the API's
/// column names, every value a string.
pub fn to_api_rows(dictionary: &Dictionary) -> Vec<FieldRow> {
    dictionary.to_rows()
}

/// Reads rows sent to REDCap's metadata API; row numbers count as in a file (the first field
/// is row 2).
pub fn from_api_rows(rows: Vec<FieldRow>) -> Result<Dictionary, Vec<Problem>> {
    Dictionary::from_rows(rows)
}

/// The JSON of REDCap's `export_metadata`: an array of row objects.
pub fn to_api_json(dictionary: &Dictionary) -> String {
    // Rows of plain strings always serialize; the fallback is never taken.
    serde_json::to_string(&to_api_rows(dictionary)).unwrap_or_else(|_| "[]".to_string())
}

/// Reads the JSON of REDCap's `import_metadata`. Keys left out read as blank; a value that is
/// not a string is refused.
pub fn from_api_json(text: &str) -> Result<Dictionary, Vec<Problem>> {
    let rows: Vec<FieldRow> = serde_json::from_str(text).map_err(|e| {
        vec![Problem::new(
            1,
            None,
            format!("the metadata is not a JSON array of field objects with string values: {e}"),
        )]
    })?;
    from_api_rows(rows)
}
