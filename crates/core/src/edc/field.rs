//! One field of a dictionary: its type, choices, validation and presentation, read from one row
//! of the dictionary. Every rule that concerns a single row lives here and reports each problem
//! with the column it is in; the rules that compare rows live with the dictionary.

use super::action_tags::ActionTags;
use super::validation::{Bound, Validation, is_decimal, number_value};
use super::{Column, FieldRow};
use serde::{Deserialize, Serialize};

/// The longest field name REDCap accepts (its recommended length is 26).
pub const MAX_FIELD_NAME: usize = 100;
/// The longest instrument (form) name REDCap accepts.
pub const MAX_FORM_NAME: usize = 64;
/// The longest matrix group name REDCap accepts.
pub const MAX_MATRIX_GROUP: usize = 60;
/// The longest export column a checkbox choice may produce (`name___code`): the same limit as a
/// field name, since exports and imports treat the column as a variable.
pub const MAX_CHECKBOX_COLUMN: usize = 100;

/// The message given for a dynamic SQL field, which Clinbridge cannot run.
pub const SQL_REFUSAL: &str =
    "field type 'sql' is not supported: SQL fields query the REDCap server's own database; replace it with a dropdown";

/// Names REDCap keeps for itself (export columns, form machinery) or refuses because browsers
/// choke on them in branching logic. Form-derived names (`{form}_complete`, `{form}_timestamp`,
/// `{form}_return_code`) are checked against the dictionary's own instruments.
pub const RESERVED_NAMES: [&str; 28] = [
    "redcap_event_name",
    "redcap_csrf_token",
    "redcap_survey_timestamp",
    "redcap_survey_identifier",
    "redcap_survey_return_code",
    "redcap_data_access_group",
    "redcap_repeat_instance",
    "redcap_repeat_instrument",
    "hidden_edit_flag",
    "instance",
    "submit",
    "new",
    "return",
    "continue",
    "case",
    "switch",
    "class",
    "enum",
    "catch",
    "throw",
    "document",
    "super",
    "focus",
    "elements",
    "action",
    "event_id",
    "target",
    "field_label",
];

/// What kind of input a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// One line of text, optionally validated.
    Text,
    /// Several lines of free text.
    Notes,
    Dropdown,
    Radio,
    /// Several choices may be ticked; exported as one 0/1 column per choice.
    Checkbox,
    /// Yes (1) or No (0).
    Yesno,
    /// True (1) or False (0).
    Truefalse,
    /// An uploaded file (or, with validation `signature`, a drawn signature).
    File,
    /// Computed from other fields by its calculation.
    Calc,
    /// A 0–100 scale (or the field's own range), with up to three labels.
    Slider,
    /// Text or an image shown on the form; takes no value.
    Descriptive,
}

impl FieldType {
    pub const ALL: [FieldType; 11] = [
        FieldType::Text,
        FieldType::Notes,
        FieldType::Dropdown,
        FieldType::Radio,
        FieldType::Checkbox,
        FieldType::Yesno,
        FieldType::Truefalse,
        FieldType::File,
        FieldType::Calc,
        FieldType::Slider,
        FieldType::Descriptive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Notes => "notes",
            FieldType::Dropdown => "dropdown",
            FieldType::Radio => "radio",
            FieldType::Checkbox => "checkbox",
            FieldType::Yesno => "yesno",
            FieldType::Truefalse => "truefalse",
            FieldType::File => "file",
            FieldType::Calc => "calc",
            FieldType::Slider => "slider",
            FieldType::Descriptive => "descriptive",
        }
    }

    /// Reads a field type as REDCap writes it. The legacy names `textarea` and `select` are read
    /// as `notes` and `dropdown` (REDCap itself renames them); `sql` is refused with
    /// [`SQL_REFUSAL`].
    pub fn parse(s: &str) -> Result<FieldType, String> {
        match s {
            "textarea" => return Ok(FieldType::Notes),
            "select" => return Ok(FieldType::Dropdown),
            "sql" => return Err(SQL_REFUSAL.to_string()),
            "" => return Err("the field type is missing".to_string()),
            _ => {}
        }
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
            format!("field type '{s}' is not one of {}", names.join(", "))
        })
    }

    /// Whether the type offers a list of coded choices written in the dictionary.
    pub fn has_choices(self) -> bool {
        matches!(self, FieldType::Dropdown | FieldType::Radio | FieldType::Checkbox)
    }
}

/// One coded answer of a dropdown, radio or checkbox field: the code is stored, the label shown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Choice {
    pub code: String,
    pub label: String,
}

/// Reads choices written `1, Male | 2, Female`: choices separated by `|`, each a code, a comma
/// and a label (a choice without a comma is its own code and label, as REDCap reads it).
/// Codes are integers (negative ones too), decimals (not for checkboxes, whose codes become
/// column names) or letters, digits and underscores. Every problem is reported.
pub fn parse_choices(text: &str, checkbox: bool) -> Result<Vec<Choice>, Vec<String>> {
    let mut choices: Vec<Choice> = Vec::new();
    let mut problems = Vec::new();
    if text.trim().is_empty() {
        return Err(vec!["no choices are given; write them as 1, First | 2, Second".to_string()]);
    }
    for (i, part) in text.split('|').enumerate() {
        let n = i + 1;
        let (code, label) = match part.split_once(',') {
            Some((c, l)) => (c.trim(), l.trim()),
            None => (part.trim(), part.trim()),
        };
        if code.is_empty() && label.is_empty() {
            problems.push(format!("choice {n} is empty"));
            continue;
        }
        if code.is_empty() {
            problems.push(format!("choice {n} ('{label}') has no code before its comma"));
            continue;
        }
        if !is_choice_code(code, !checkbox) {
            let what = if checkbox {
                "a checkbox code is an integer or letters, digits and underscores"
            } else {
                "a code is a number or letters, digits and underscores"
            };
            problems.push(format!("choice {n} has the code '{code}': {what}"));
            continue;
        }
        if label.is_empty() {
            problems.push(format!("choice {n} (code '{code}') has no label"));
            continue;
        }
        if choices.iter().any(|c| c.code == code) {
            problems.push(format!("the code '{code}' is used by more than one choice"));
            continue;
        }
        choices.push(Choice { code: code.to_string(), label: label.to_string() });
    }
    if problems.is_empty() { Ok(choices) } else { Err(problems) }
}

/// `12`, `-1`, `2.5` (when decimals are allowed) or `yes_2`.
fn is_choice_code(code: &str, decimals: bool) -> bool {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let word = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let unsigned = code.strip_prefix('-');
    match unsigned {
        Some(n) => digits(n) || (decimals && n.split_once('.').is_some_and(|(a, b)| digits(a) && digits(b))),
        None => word(code) || (decimals && code.split_once('.').is_some_and(|(a, b)| digits(a) && digits(b))),
    }
}

/// The export column of one checkbox choice, `name___code`, as REDCap forms it: the code in
/// lower case with a minus (or a decimal point) written as an underscore, so `-1` and `1` get
/// different columns.
pub fn checkbox_column(field: &str, code: &str) -> String {
    let code: String = code
        .chars()
        .map(|c| if c == '-' || c == '.' { '_' } else { c.to_ascii_lowercase() })
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
        .collect();
    format!("{field}___{code}")
}

/// The labels under a slider: left, middle and right, any of them empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliderLabels {
    pub left: String,
    pub middle: String,
    pub right: String,
}

impl SliderLabels {
    /// Reads `left | middle | right`; one label is the left one, two are left and right.
    pub fn parse(text: &str) -> Result<SliderLabels, String> {
        if text.trim().is_empty() {
            return Ok(SliderLabels::default());
        }
        let parts: Vec<String> = text.split('|').map(|p| p.trim().to_string()).collect();
        match parts.as_slice() {
            [l] => Ok(SliderLabels { left: l.clone(), ..Default::default() }),
            [l, r] => Ok(SliderLabels { left: l.clone(), middle: String::new(), right: r.clone() }),
            [l, m, r] => Ok(SliderLabels { left: l.clone(), middle: m.clone(), right: r.clone() }),
            _ => Err(format!("a slider has at most three labels (left | middle | right); {} are given", parts.len())),
        }
    }
}

/// Where a field's answers sit relative to its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alignment {
    /// `RV`: right of the label, choices stacked (REDCap's default).
    #[serde(rename = "RV")]
    RightVertical,
    /// `RH`: right of the label, choices side by side.
    #[serde(rename = "RH")]
    RightHorizontal,
    /// `LV`: below the label, stacked.
    #[serde(rename = "LV")]
    LeftVertical,
    /// `LH`: below the label, side by side.
    #[serde(rename = "LH")]
    LeftHorizontal,
}

impl Alignment {
    pub const ALL: [Alignment; 4] =
        [Alignment::RightVertical, Alignment::RightHorizontal, Alignment::LeftVertical, Alignment::LeftHorizontal];

    pub fn as_str(self) -> &'static str {
        match self {
            Alignment::RightVertical => "RV",
            Alignment::RightHorizontal => "RH",
            Alignment::LeftVertical => "LV",
            Alignment::LeftHorizontal => "LH",
        }
    }

    pub fn parse(s: &str) -> Option<Alignment> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A field of the dictionary. It can only be made from a dictionary row that passes every rule,
/// and it keeps the text of the columns it interprets (choices, validation, min, max,
/// annotation) exactly as written, so writing the dictionary back gives the same file.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub(super) name: String,
    pub(super) form: String,
    pub(super) section_header: String,
    pub(super) field_type: FieldType,
    pub(super) label: String,
    pub(super) choices_text: String,
    pub(super) choices: Vec<Choice>,
    pub(super) slider: Option<SliderLabels>,
    pub(super) field_note: String,
    pub(super) validation_text: String,
    pub(super) validation: Option<Validation>,
    pub(super) min_text: String,
    pub(super) max_text: String,
    pub(super) min: Option<Bound>,
    pub(super) max: Option<Bound>,
    pub(super) identifier: bool,
    pub(super) branching_logic: String,
    pub(super) required: bool,
    pub(super) alignment: Option<Alignment>,
    pub(super) question_number: String,
    pub(super) matrix_group: String,
    pub(super) matrix_ranking: bool,
    pub(super) annotation: String,
    pub(super) action_tags: ActionTags,
}

impl Field {
    /// The variable name: what data, logic and exports call the field.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The instrument (form) the field is on.
    pub fn form(&self) -> &str {
        &self.form
    }
    /// Text shown above the field, starting a new section (may hold HTML, as REDCap allows).
    pub fn section_header(&self) -> &str {
        &self.section_header
    }
    pub fn field_type(&self) -> FieldType {
        self.field_type
    }
    /// The question as shown (may hold HTML and line breaks).
    pub fn label(&self) -> &str {
        &self.label
    }
    /// The choices of a dropdown, radio or checkbox, in order; empty for other types.
    pub fn choices(&self) -> &[Choice] {
        &self.choices
    }
    /// The choice with this code.
    pub fn choice(&self, code: &str) -> Option<&Choice> {
        self.choices.iter().find(|c| c.code == code)
    }
    /// The calculation of a calc field, as written (the logic engine reads it).
    pub fn calculation(&self) -> Option<&str> {
        (self.field_type == FieldType::Calc).then_some(self.choices_text.as_str())
    }
    /// The labels of a slider.
    pub fn slider(&self) -> Option<&SliderLabels> {
        self.slider.as_ref()
    }
    /// The text of the choices/calculations/slider-labels column exactly as written. For a text
    /// field it may hold an ontology reference (REDCap's BioPortal lookup), kept but not used.
    pub fn choices_text(&self) -> &str {
        &self.choices_text
    }
    /// The note shown under the field.
    pub fn field_note(&self) -> &str {
        &self.field_note
    }
    /// The validation of a text field.
    pub fn validation(&self) -> Option<Validation> {
        self.validation
    }
    /// The validation column as written: a validation name (legacy spellings kept), `number` on
    /// a slider that shows its number, `autocomplete` on a dropdown, `signature` on a file.
    pub fn validation_text(&self) -> &str {
        &self.validation_text
    }
    /// A dropdown that offers type-ahead search.
    pub fn autocomplete(&self) -> bool {
        self.field_type == FieldType::Dropdown && self.validation_text == "autocomplete"
    }
    /// A file field that takes a drawn signature.
    pub fn signature(&self) -> bool {
        self.field_type == FieldType::File && self.validation_text == "signature"
    }
    /// A slider that shows the number chosen.
    pub fn slider_shows_number(&self) -> bool {
        self.field_type == FieldType::Slider && self.validation_text == "number"
    }
    /// The minimum, resolved against the validation type.
    pub fn min(&self) -> Option<Bound> {
        self.min
    }
    /// The maximum, resolved against the validation type.
    pub fn max(&self) -> Option<Bound> {
        self.max
    }
    /// The minimum as written.
    pub fn min_text(&self) -> &str {
        &self.min_text
    }
    /// The maximum as written.
    pub fn max_text(&self) -> &str {
        &self.max_text
    }
    /// The range of a slider: its own minimum and maximum, 0 to 100 by default.
    pub fn slider_range(&self) -> (f64, f64) {
        let num = |b: Option<Bound>, d: f64| match b {
            Some(Bound::Number(n)) => n,
            _ => d,
        };
        (num(self.min, 0.0), num(self.max, 100.0))
    }
    /// Whether the field holds an identifier of the participant (PHI): removed from
    /// de-identified exports.
    pub fn identifier(&self) -> bool {
        self.identifier
    }
    /// The condition under which the field is shown, as written; the logic engine parses it.
    pub fn branching_logic(&self) -> &str {
        &self.branching_logic
    }
    /// Whether a form is incomplete while this field is blank (and shown).
    pub fn required(&self) -> bool {
        self.required
    }
    pub fn alignment(&self) -> Option<Alignment> {
        self.alignment
    }
    /// The number shown before the question on surveys.
    pub fn question_number(&self) -> &str {
        &self.question_number
    }
    /// The matrix the field is a row of; empty when it stands alone.
    pub fn matrix_group(&self) -> &str {
        &self.matrix_group
    }
    /// Whether the matrix lets each column be chosen only once.
    pub fn matrix_ranking(&self) -> bool {
        self.matrix_ranking
    }
    /// The annotation as written, action tags and notes.
    pub fn annotation(&self) -> &str {
        &self.annotation
    }
    /// The action tags Clinbridge acts on.
    pub fn action_tags(&self) -> &ActionTags {
        &self.action_tags
    }

    /// The export column of one of this checkbox's choices.
    pub fn checkbox_column(&self, code: &str) -> String {
        checkbox_column(&self.name, code)
    }

    /// The choice behind an export column `name___code` of this checkbox.
    pub fn checkbox_choice(&self, column: &str) -> Option<&Choice> {
        if self.field_type != FieldType::Checkbox {
            return None;
        }
        self.choices.iter().find(|c| self.checkbox_column(&c.code) == column)
    }

    /// The columns this field has in a flat data export: none for a descriptive field, one per
    /// choice for a checkbox, its name otherwise.
    pub fn export_columns(&self) -> Vec<String> {
        match self.field_type {
            FieldType::Descriptive => Vec::new(),
            FieldType::Checkbox => self.choices.iter().map(|c| self.checkbox_column(&c.code)).collect(),
            _ => vec![self.name.clone()],
        }
    }

    /// The dictionary row this field was read from (flags written `y`, legacy type names
    /// written as their current ones, everything else as given).
    pub fn to_row(&self) -> FieldRow {
        let flag = |b: bool| if b { "y".to_string() } else { String::new() };
        FieldRow {
            field_name: self.name.clone(),
            form_name: self.form.clone(),
            section_header: self.section_header.clone(),
            field_type: self.field_type.as_str().to_string(),
            field_label: self.label.clone(),
            select_choices_or_calculations: self.choices_text.clone(),
            field_note: self.field_note.clone(),
            text_validation_type_or_show_slider_number: self.validation_text.clone(),
            text_validation_min: self.min_text.clone(),
            text_validation_max: self.max_text.clone(),
            identifier: flag(self.identifier),
            branching_logic: self.branching_logic.clone(),
            required_field: flag(self.required),
            custom_alignment: self.alignment.map(|a| a.as_str().to_string()).unwrap_or_default(),
            question_number: self.question_number.clone(),
            matrix_group_name: self.matrix_group.clone(),
            matrix_ranking: flag(self.matrix_ranking),
            field_annotation: self.annotation.clone(),
        }
    }

    /// Reads a field from one dictionary row, checking every rule that concerns the row alone.
    /// All problems are returned, each with its column.
    pub fn from_row(row: &FieldRow) -> Result<Field, Vec<(Column, String)>> {
        let mut problems: Vec<(Column, String)> = Vec::new();
        let mut report = |c: Column, m: String| problems.push((c, m));

        if let Err(m) = check_field_name(&row.field_name) {
            report(Column::FieldName, m);
        }
        if let Err(m) = check_form_name(&row.form_name) {
            report(Column::FormName, m);
        }
        let field_type = FieldType::parse(&row.field_type).map_err(|m| report(Column::FieldType, m)).ok();

        // Choices, calculation or slider labels.
        let choices_text = &row.select_choices_or_calculations;
        let mut choices = Vec::new();
        let mut slider = None;
        match field_type {
            Some(t) if t.has_choices() => match parse_choices(choices_text, t == FieldType::Checkbox) {
                Ok(c) => {
                    if t == FieldType::Checkbox {
                        check_checkbox_columns(&row.field_name, &c, &mut report);
                    }
                    choices = c;
                }
                Err(ms) => ms.into_iter().for_each(|m| report(Column::Choices, m)),
            },
            Some(FieldType::Calc) if choices_text.trim().is_empty() => {
                report(Column::Choices, "a calc field needs its calculation in this column".to_string())
            }
            Some(FieldType::Slider) => match SliderLabels::parse(choices_text) {
                Ok(s) => slider = Some(s),
                Err(m) => report(Column::Choices, m),
            },
            Some(
                t @ (FieldType::Notes
                | FieldType::Yesno
                | FieldType::Truefalse
                | FieldType::File
                | FieldType::Descriptive),
            ) if !choices_text.is_empty() => {
                report(Column::Choices, format!("a {} field takes no choices or calculation", t.as_str()))
            }
            _ => {}
        }

        // Validation, and the min and max it gives a meaning to.
        let text = row.text_validation_type_or_show_slider_number.as_str();
        let mut validation = None;
        match field_type {
            _ if text.is_empty() => {}
            Some(FieldType::Text) => match Validation::parse(text) {
                Some(v) => validation = Some(v),
                None => report(
                    Column::Validation,
                    format!("'{text}' is not a validation type Clinbridge knows; use one of {}", known_validations()),
                ),
            },
            Some(FieldType::Slider) if text != "number" => {
                report(Column::Validation, "a slider takes only 'number' here (to show the number chosen)".to_string())
            }
            Some(FieldType::Dropdown) if text != "autocomplete" => {
                report(Column::Validation, "a dropdown takes only 'autocomplete' here".to_string())
            }
            Some(FieldType::File) if text != "signature" => {
                report(Column::Validation, "a file field takes only 'signature' here".to_string())
            }
            Some(FieldType::Slider | FieldType::Dropdown | FieldType::File) => {}
            Some(t) => report(Column::Validation, format!("a {} field cannot carry a validation", t.as_str())),
            None => {}
        }
        let (min, max) = bounds(row, field_type, validation, text, &mut report);

        let identifier = flag(&row.identifier).map_err(|m| report(Column::Identifier, m)).unwrap_or(false);
        let required = flag(&row.required_field).map_err(|m| report(Column::Required, m)).unwrap_or(false);
        if required && field_type == Some(FieldType::Descriptive) {
            report(Column::Required, "a descriptive field takes no value, so it cannot be required".to_string());
        }
        let alignment = match row.custom_alignment.as_str() {
            "" => None,
            a => {
                let found = Alignment::parse(a);
                if found.is_none() {
                    report(Column::Alignment, format!("'{a}' is not an alignment; use RV, RH, LV or LH"));
                }
                found
            }
        };

        let group = row.matrix_group_name.as_str();
        if !group.is_empty() {
            if group.len() > MAX_MATRIX_GROUP
                || !group.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                report(
                    Column::MatrixGroup,
                    format!(
                        "matrix group '{group}' must be lower-case letters, digits and underscores, at most {MAX_MATRIX_GROUP} characters"
                    ),
                );
            }
            if field_type.is_some_and(|t| !matches!(t, FieldType::Radio | FieldType::Checkbox)) {
                report(Column::MatrixGroup, "only radio and checkbox fields can form a matrix".to_string());
            }
        }
        let matrix_ranking = flag(&row.matrix_ranking).map_err(|m| report(Column::MatrixRanking, m)).unwrap_or(false);
        if matrix_ranking && group.is_empty() {
            report(Column::MatrixRanking, "ranking applies to a matrix group, and this field has none".to_string());
        }

        let Some(field_type) = field_type else { return Err(problems) };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Field {
            name: row.field_name.clone(),
            form: row.form_name.clone(),
            section_header: row.section_header.clone(),
            field_type,
            label: row.field_label.clone(),
            choices_text: choices_text.clone(),
            choices,
            slider,
            field_note: row.field_note.clone(),
            validation_text: text.to_string(),
            validation,
            min_text: row.text_validation_min.clone(),
            max_text: row.text_validation_max.clone(),
            min,
            max,
            identifier,
            branching_logic: row.branching_logic.clone(),
            required,
            alignment,
            question_number: row.question_number.clone(),
            matrix_group: group.to_string(),
            matrix_ranking,
            annotation: row.field_annotation.clone(),
            action_tags: ActionTags::parse(&row.field_annotation),
        })
    }
}

fn known_validations() -> String {
    super::validation::VALIDATION_NAMES[..27].join(", ")
}

/// A flag column: `y` (any case) or blank.
fn flag(text: &str) -> Result<bool, String> {
    match text.trim() {
        "" => Ok(false),
        t if t.eq_ignore_ascii_case("y") => Ok(true),
        t => Err(format!("'{t}' is not a flag: write y or leave it blank")),
    }
}

/// A lower-case letter, then lower-case letters, digits and underscores; at most 100
/// characters; no triple underscore (kept for checkbox export columns); not a reserved name.
pub fn check_field_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the field name is missing".to_string());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase())
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!(
            "field name '{name}' must start with a lower-case letter and hold only lower-case letters, digits and underscores"
        ));
    }
    if name.len() > MAX_FIELD_NAME {
        return Err(format!("field name '{name}' is longer than {MAX_FIELD_NAME} characters"));
    }
    if name.contains("___") {
        return Err(format!("field name '{name}' contains a triple underscore, which is kept for checkbox columns"));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!("'{name}' is a name REDCap reserves; choose another"));
    }
    Ok(())
}

/// A lower-case letter, then lower-case letters, digits and underscores; at most 64 characters.
pub fn check_form_name(form: &str) -> Result<(), String> {
    if form.is_empty() {
        return Err("the form name is missing".to_string());
    }
    if !form.starts_with(|c: char| c.is_ascii_lowercase())
        || !form.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!(
            "form name '{form}' must start with a lower-case letter and hold only lower-case letters, digits and underscores"
        ));
    }
    if form.len() > MAX_FORM_NAME {
        return Err(format!("form name '{form}' is longer than {MAX_FORM_NAME} characters"));
    }
    Ok(())
}

/// Each choice's export column must fit the length limit, and two codes must not share one
/// (`A` and `a`, or `-1` and `_1`).
fn check_checkbox_columns(name: &str, choices: &[Choice], report: &mut impl FnMut(Column, String)) {
    let mut seen: Vec<(String, &str)> = Vec::new();
    for c in choices {
        let column = checkbox_column(name, &c.code);
        if column.len() > MAX_CHECKBOX_COLUMN {
            report(
                Column::FieldName,
                format!(
                    "the checkbox column '{column}' would be longer than {MAX_CHECKBOX_COLUMN} characters; shorten the field name"
                ),
            );
        }
        if let Some((_, other)) = seen.iter().find(|(col, _)| *col == column) {
            report(
                Column::Choices,
                format!("the codes '{other}' and '{}' would share the export column '{column}'", c.code),
            );
        }
        seen.push((column, &c.code));
    }
}

/// Reads the min and max columns against the field type and validation.
fn bounds(
    row: &FieldRow,
    field_type: Option<FieldType>,
    validation: Option<Validation>,
    validation_text: &str,
    report: &mut impl FnMut(Column, String),
) -> (Option<Bound>, Option<Bound>) {
    let mut read = |column: Column, text: &str| -> Option<Bound> {
        if text.is_empty() {
            return None;
        }
        let what = if column == Column::ValidationMin { "minimum" } else { "maximum" };
        let result = match field_type {
            Some(FieldType::Text) => match validation {
                Some(v) => v.read_bound(text),
                None if validation_text.is_empty() => Err(format!("a {what} needs a validation type")),
                None => return None, // the unknown validation is already reported
            },
            Some(FieldType::Slider) => {
                match is_decimal(text.trim(), '.').then(|| number_value(text.trim())).flatten() {
                    Some(n) => Ok(Bound::Number(n)),
                    None => Err(format!("a slider's {what} must be a number, not '{text}'")),
                }
            }
            Some(t) => Err(format!("a {} field takes no {what}", t.as_str())),
            None => return None,
        };
        result.map_err(|m| report(column, m)).ok()
    };
    let min = read(Column::ValidationMin, &row.text_validation_min);
    let max = read(Column::ValidationMax, &row.text_validation_max);
    if let (Some(lo), Some(hi)) = (min, max)
        && lo.is_fixed()
        && hi.is_fixed()
        && lo.fixed_cmp(hi) == Some(std::cmp::Ordering::Greater)
    {
        report(
            Column::ValidationMax,
            format!("the maximum {} is below the minimum {}", row.text_validation_max, row.text_validation_min),
        );
    }
    (min, max)
}
