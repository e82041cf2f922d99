//! Electronic data capture metadata: a study's instruments and fields, read from a REDCap-style
//! data dictionary, and the rules values must follow to be stored in them. A [`Dictionary`] is
//! only ever built from rows that pass every rule, and it remembers each row's text so the
//! dictionary writes back exactly as it was read. Formats (CSV, the API's JSON) live in
//! `clinbridge-interop`; branching logic and calculations are parsed by the logic engine.

mod action_tags;
mod field;
mod validation;
mod values;

#[cfg(test)]
mod tests;

pub use action_tags::ActionTags;
pub use field::{
    Alignment, Choice, Field, FieldType, MAX_CHECKBOX_COLUMN, MAX_FIELD_NAME, MAX_FORM_NAME, MAX_MATRIX_GROUP,
    RESERVED_NAMES, SQL_REFUSAL, SliderLabels, check_field_name, check_form_name, checkbox_column, parse_choices,
};
pub use validation::{Bound, DateOrder, VALIDATION_NAMES, Validation};
pub use values::{EntryContext, MissingCodes};

use crate::{FieldError, Invalid};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// A column of the data dictionary, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    FieldName,
    FormName,
    SectionHeader,
    FieldType,
    FieldLabel,
    #[serde(rename = "select_choices_or_calculations")]
    Choices,
    FieldNote,
    #[serde(rename = "text_validation_type_or_show_slider_number")]
    Validation,
    #[serde(rename = "text_validation_min")]
    ValidationMin,
    #[serde(rename = "text_validation_max")]
    ValidationMax,
    Identifier,
    BranchingLogic,
    #[serde(rename = "required_field")]
    Required,
    #[serde(rename = "custom_alignment")]
    Alignment,
    QuestionNumber,
    #[serde(rename = "matrix_group_name")]
    MatrixGroup,
    MatrixRanking,
    #[serde(rename = "field_annotation")]
    Annotation,
}

impl Column {
    pub const ALL: [Column; 18] = [
        Column::FieldName,
        Column::FormName,
        Column::SectionHeader,
        Column::FieldType,
        Column::FieldLabel,
        Column::Choices,
        Column::FieldNote,
        Column::Validation,
        Column::ValidationMin,
        Column::ValidationMax,
        Column::Identifier,
        Column::BranchingLogic,
        Column::Required,
        Column::Alignment,
        Column::QuestionNumber,
        Column::MatrixGroup,
        Column::MatrixRanking,
        Column::Annotation,
    ];

    /// The column's name in REDCap's API (`select_choices_or_calculations`).
    pub fn name(self) -> &'static str {
        match self {
            Column::FieldName => "field_name",
            Column::FormName => "form_name",
            Column::SectionHeader => "section_header",
            Column::FieldType => "field_type",
            Column::FieldLabel => "field_label",
            Column::Choices => "select_choices_or_calculations",
            Column::FieldNote => "field_note",
            Column::Validation => "text_validation_type_or_show_slider_number",
            Column::ValidationMin => "text_validation_min",
            Column::ValidationMax => "text_validation_max",
            Column::Identifier => "identifier",
            Column::BranchingLogic => "branching_logic",
            Column::Required => "required_field",
            Column::Alignment => "custom_alignment",
            Column::QuestionNumber => "question_number",
            Column::MatrixGroup => "matrix_group_name",
            Column::MatrixRanking => "matrix_ranking",
            Column::Annotation => "field_annotation",
        }
    }

    /// The column's heading in a dictionary downloaded from REDCap's pages.
    pub fn heading(self) -> &'static str {
        match self {
            Column::FieldName => "Variable / Field Name",
            Column::FormName => "Form Name",
            Column::SectionHeader => "Section Header",
            Column::FieldType => "Field Type",
            Column::FieldLabel => "Field Label",
            Column::Choices => "Choices, Calculations, OR Slider Labels",
            Column::FieldNote => "Field Note",
            Column::Validation => "Text Validation Type OR Show Slider Number",
            Column::ValidationMin => "Text Validation Min",
            Column::ValidationMax => "Text Validation Max",
            Column::Identifier => "Identifier?",
            Column::BranchingLogic => "Branching Logic (Show field only if...)",
            Column::Required => "Required Field?",
            Column::Alignment => "Custom Alignment",
            Column::QuestionNumber => "Question Number (surveys only)",
            Column::MatrixGroup => "Matrix Group Name",
            Column::MatrixRanking => "Matrix Ranking?",
            Column::Annotation => "Field Annotation",
        }
    }

    /// The column's place in the file, from 0.
    pub fn index(self) -> usize {
        Column::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One dictionary row as text, named as REDCap's API names the columns. Serialized, a list of
/// rows is exactly the JSON of REDCap's `export_metadata` (every value a string); a missing key
/// reads as blank.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldRow {
    pub field_name: String,
    pub form_name: String,
    pub section_header: String,
    pub field_type: String,
    pub field_label: String,
    pub select_choices_or_calculations: String,
    pub field_note: String,
    pub text_validation_type_or_show_slider_number: String,
    pub text_validation_min: String,
    pub text_validation_max: String,
    pub identifier: String,
    pub branching_logic: String,
    pub required_field: String,
    pub custom_alignment: String,
    pub question_number: String,
    pub matrix_group_name: String,
    pub matrix_ranking: String,
    pub field_annotation: String,
}

impl FieldRow {
    /// The text of one column.
    pub fn get(&self, column: Column) -> &str {
        match column {
            Column::FieldName => &self.field_name,
            Column::FormName => &self.form_name,
            Column::SectionHeader => &self.section_header,
            Column::FieldType => &self.field_type,
            Column::FieldLabel => &self.field_label,
            Column::Choices => &self.select_choices_or_calculations,
            Column::FieldNote => &self.field_note,
            Column::Validation => &self.text_validation_type_or_show_slider_number,
            Column::ValidationMin => &self.text_validation_min,
            Column::ValidationMax => &self.text_validation_max,
            Column::Identifier => &self.identifier,
            Column::BranchingLogic => &self.branching_logic,
            Column::Required => &self.required_field,
            Column::Alignment => &self.custom_alignment,
            Column::QuestionNumber => &self.question_number,
            Column::MatrixGroup => &self.matrix_group_name,
            Column::MatrixRanking => &self.matrix_ranking,
            Column::Annotation => &self.field_annotation,
        }
    }

    /// Sets the text of one column.
    pub fn set(&mut self, column: Column, value: impl Into<String>) {
        let cell = match column {
            Column::FieldName => &mut self.field_name,
            Column::FormName => &mut self.form_name,
            Column::SectionHeader => &mut self.section_header,
            Column::FieldType => &mut self.field_type,
            Column::FieldLabel => &mut self.field_label,
            Column::Choices => &mut self.select_choices_or_calculations,
            Column::FieldNote => &mut self.field_note,
            Column::Validation => &mut self.text_validation_type_or_show_slider_number,
            Column::ValidationMin => &mut self.text_validation_min,
            Column::ValidationMax => &mut self.text_validation_max,
            Column::Identifier => &mut self.identifier,
            Column::BranchingLogic => &mut self.branching_logic,
            Column::Required => &mut self.required_field,
            Column::Alignment => &mut self.custom_alignment,
            Column::QuestionNumber => &mut self.question_number,
            Column::MatrixGroup => &mut self.matrix_group_name,
            Column::MatrixRanking => &mut self.matrix_ranking,
            Column::Annotation => &mut self.field_annotation,
        };
        *cell = value.into();
    }

    /// A row from its 18 cells in file order.
    pub fn from_cells(cells: [String; 18]) -> FieldRow {
        let [
            field_name,
            form_name,
            section_header,
            field_type,
            field_label,
            select_choices_or_calculations,
            field_note,
            text_validation_type_or_show_slider_number,
            text_validation_min,
            text_validation_max,
            identifier,
            branching_logic,
            required_field,
            custom_alignment,
            question_number,
            matrix_group_name,
            matrix_ranking,
            field_annotation,
        ] = cells;
        FieldRow {
            field_name,
            form_name,
            section_header,
            field_type,
            field_label,
            select_choices_or_calculations,
            field_note,
            text_validation_type_or_show_slider_number,
            text_validation_min,
            text_validation_max,
            identifier,
            branching_logic,
            required_field,
            custom_alignment,
            question_number,
            matrix_group_name,
            matrix_ranking,
            field_annotation,
        }
    }

    /// The 18 cells in file order.
    pub fn cells(&self) -> [&str; 18] {
        Column::ALL.map(|c| self.get(c))
    }
}

/// One thing wrong with a dictionary: the row (the header is row 1, the first field row 2), the
/// column when the problem sits in one, and what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub row: usize,
    pub column: Option<Column>,
    pub message: String,
}

impl Problem {
    pub fn new(row: usize, column: Option<Column>, message: impl Into<String>) -> Problem {
        Problem { row, column, message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "row {}, {}: {}", self.row, c.name(), self.message),
            None => write!(f, "row {}: {}", self.row, self.message),
        }
    }
}

/// Problems as the field errors the web layer answers with (`row 4, field_type` names the cell).
pub fn problems_to_invalid(problems: &[Problem]) -> Invalid {
    Invalid(
        problems
            .iter()
            .map(|p| {
                let place = match p.column {
                    Some(c) => format!("row {}, {}", p.row, c.name()),
                    None => format!("row {}", p.row),
                };
                FieldError::new(place, p.message.clone())
            })
            .collect(),
    )
}

/// A study's data dictionary: its fields in order, grouped into instruments.
#[derive(Debug, Clone, PartialEq)]
pub struct Dictionary {
    fields: Vec<Field>,
}

impl Dictionary {
    /// Reads a dictionary from its rows in order, the first field row being row 2.
    pub fn from_rows(rows: Vec<FieldRow>) -> Result<Dictionary, Vec<Problem>> {
        Self::from_numbered_rows(rows.into_iter().enumerate().map(|(i, r)| (i + 2, r)).collect())
    }

    /// Reads a dictionary from rows numbered as in their file (a file may skip blank rows).
    /// All or nothing: either every row passes every rule, or every problem found is returned,
    /// ordered by row and column.
    pub fn from_numbered_rows(rows: Vec<(usize, FieldRow)>) -> Result<Dictionary, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut fields: Vec<Option<Field>> = Vec::with_capacity(rows.len());
        for (row, r) in &rows {
            match Field::from_row(r) {
                Ok(f) => fields.push(Some(f)),
                Err(found) => {
                    problems.extend(found.into_iter().map(|(c, m)| Problem::new(*row, Some(c), m)));
                    fields.push(None);
                }
            }
        }
        check_across_rows(&rows, &fields, &mut problems);
        if !problems.is_empty() {
            problems.sort_by_key(|p| (p.row, p.column.map_or(0, |c| c.index() + 1)));
            return Err(problems);
        }
        Ok(Dictionary { fields: fields.into_iter().flatten().collect() })
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name() == name)
    }

    /// The field that identifies a record: the first field of the first instrument, as in REDCap.
    pub fn record_id_field(&self) -> &Field {
        // A dictionary is never empty: reading one refuses a file without fields.
        &self.fields[0]
    }

    /// The instruments (form names) in order of their first field.
    pub fn instruments(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for f in &self.fields {
            if out.last() != Some(&f.form()) {
                out.push(f.form());
            }
        }
        out
    }

    /// The fields of one instrument, in order.
    pub fn instrument_fields<'a>(&'a self, form: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields.iter().filter(move |f| f.form() == form)
    }

    /// The rows the dictionary was read from.
    pub fn to_rows(&self) -> Vec<FieldRow> {
        self.fields.iter().map(Field::to_row).collect()
    }

    /// The columns of a flat data export of a classic project, as REDCap orders them: each
    /// field's columns (checkboxes one per choice, descriptive fields none), and after each
    /// instrument its status column `{form}_complete`.
    pub fn export_columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        for form in self.instruments() {
            for f in self.instrument_fields(form) {
                out.extend(f.export_columns());
            }
            out.push(format!("{form}_complete"));
        }
        out
    }
}

/// The rules that compare rows: a first field that can identify records, unique names, each
/// instrument's fields together, names that would clash with an instrument's own columns, and
/// matrix groups that hang together. They read the rows' text, so a row that failed its own
/// rules still takes part.
fn check_across_rows(rows: &[(usize, FieldRow)], fields: &[Option<Field>], problems: &mut Vec<Problem>) {
    let Some((first_row, first)) = rows.first() else {
        problems.push(Problem::new(1, Some(Column::FieldName), "the dictionary has no fields"));
        return;
    };
    if FieldType::parse(&first.field_type).is_ok_and(|t| t != FieldType::Text) {
        problems.push(Problem::new(
            *first_row,
            Some(Column::FieldType),
            format!(
                "the first field ('{}') identifies each record and must be a text field, not {}",
                first.field_name, first.field_type
            ),
        ));
    }

    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut form_started: HashMap<&str, usize> = HashMap::new();
    let mut previous_form: Option<&str> = None;
    for (row, r) in rows {
        let name = r.field_name.as_str();
        if !name.is_empty() {
            match names.get(name) {
                Some(first) => problems.push(Problem::new(
                    *row,
                    Some(Column::FieldName),
                    format!("field name '{name}' is already used on row {first}"),
                )),
                None => {
                    names.insert(name, *row);
                }
            }
        }
        let form = r.form_name.as_str();
        if previous_form != Some(form) && !form.is_empty() {
            match form_started.get(form) {
                Some(started) => problems.push(Problem::new(
                    *row,
                    Some(Column::FormName),
                    format!(
                        "instrument '{form}' (started on row {started}) continues here after another instrument; \
                         each instrument's fields must be together"
                    ),
                )),
                None => {
                    form_started.insert(form, *row);
                }
            }
        }
        previous_form = Some(form);
    }

    let forms: HashSet<&str> = form_started.keys().copied().collect();
    for (row, r) in rows {
        for (suffix, what) in
            [("_complete", "status"), ("_timestamp", "survey timestamp"), ("_return_code", "survey return code")]
        {
            if let Some(form) = r.field_name.strip_suffix(suffix).filter(|f| forms.contains(f)) {
                problems.push(Problem::new(
                    *row,
                    Some(Column::FieldName),
                    format!(
                        "'{}' is the {what} column REDCap keeps for instrument '{form}'; choose another name",
                        r.field_name
                    ),
                ));
            }
        }
    }

    check_matrix_groups(rows, fields, problems);
}

/// A matrix is a run of rows sharing a group name: together, of one field type, with the same
/// choices (they are the matrix's columns) and the same ranking setting.
fn check_matrix_groups(rows: &[(usize, FieldRow)], fields: &[Option<Field>], problems: &mut Vec<Problem>) {
    let mut started: HashMap<&str, usize> = HashMap::new();
    let mut leader: HashMap<&str, &Field> = HashMap::new();
    let mut previous: &str = "";
    for ((row, r), field) in rows.iter().zip(fields) {
        let group = r.matrix_group_name.as_str();
        if group.is_empty() {
            previous = group;
            continue;
        }
        if previous != group {
            match started.get(group) {
                Some(first) => problems.push(Problem::new(
                    *row,
                    Some(Column::MatrixGroup),
                    format!("matrix group '{group}' (started on row {first}) continues here after other fields"),
                )),
                None => {
                    started.insert(group, *row);
                }
            }
        }
        previous = group;
        let Some(f) = field else { continue };
        match leader.get(group) {
            None => {
                leader.insert(group, f);
            }
            Some(lead) => {
                if lead.field_type() != f.field_type() {
                    problems.push(Problem::new(
                        *row,
                        Some(Column::FieldType),
                        format!(
                            "matrix group '{group}' is made of {} fields; this one is {}",
                            lead.field_type().as_str(),
                            f.field_type().as_str()
                        ),
                    ));
                }
                if lead.choices() != f.choices() {
                    problems.push(Problem::new(
                        *row,
                        Some(Column::Choices),
                        format!(
                            "every field of matrix group '{group}' needs the same choices as its first field, '{}': {}",
                            lead.name(),
                            lead.choices_text()
                        ),
                    ));
                }
                if lead.matrix_ranking() != f.matrix_ranking() {
                    problems.push(Problem::new(
                        *row,
                        Some(Column::MatrixRanking),
                        format!("matrix group '{group}' must be ranked on every field or on none"),
                    ));
                }
            }
        }
    }
}
