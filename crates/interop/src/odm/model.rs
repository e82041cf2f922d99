//! The ODM 1.3.2 model: one struct per element the export needs, fields in the schema's order.
//! Optional attributes are `Option`s, repeated child elements `Vec`s; a `Vec<TranslatedText>`
//! that is empty leaves its optional element (`Description`, `Question`, `ErrorMessage`) out.

use chrono::{DateTime, NaiveDate, Utc};
use std::num::NonZeroU32;

/// An enumeration of the schema, spelled as ODM spells it.
macro_rules! odm_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in the schema's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The attribute value as ODM writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value for an attribute as ODM writes it; `None` for anything else.
            pub fn from_odm(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

odm_enum!(
    /// Whether a file holds the current state only or the changes that led to it.
    FileType {
        /// The current state: one instruction per data point.
        Snapshot = "Snapshot",
        /// Changes in the order they happened, each with its transaction type.
        Transactional = "Transactional",
    }
);

odm_enum!(
    /// Shorthand for the breadth of a file.
    Granularity {
        All = "All",
        Metadata = "Metadata",
        AdminData = "AdminData",
        ReferenceData = "ReferenceData",
        AllClinicalData = "AllClinicalData",
        SingleSite = "SingleSite",
        SingleSubject = "SingleSubject",
    }
);

odm_enum!(
    /// The kind of a study event definition.
    EventType {
        Scheduled = "Scheduled",
        Unscheduled = "Unscheduled",
        /// Forms shared by every visit (adverse events, concomitant medications).
        Common = "Common",
    }
);

odm_enum!(
    /// An item's data type (ODM's list, including the 1.3 extended date and time types).
    DataType {
        Integer = "integer",
        Float = "float",
        Date = "date",
        Datetime = "datetime",
        Time = "time",
        Text = "text",
        String = "string",
        Double = "double",
        Uri = "URI",
        Boolean = "boolean",
        HexBinary = "hexBinary",
        Base64Binary = "base64Binary",
        HexFloat = "hexFloat",
        Base64Float = "base64Float",
        PartialDate = "partialDate",
        PartialTime = "partialTime",
        PartialDatetime = "partialDatetime",
        DurationDatetime = "durationDatetime",
        IntervalDatetime = "intervalDatetime",
        IncompleteDatetime = "incompleteDatetime",
        IncompleteDate = "incompleteDate",
        IncompleteTime = "incompleteTime",
    }
);

odm_enum!(
    /// A code list's data type (a smaller list than items have).
    CodeListDataType {
        Integer = "integer",
        Float = "float",
        Text = "text",
        String = "string",
    }
);

odm_enum!(
    /// How a range check compares the value with its check values.
    Comparator {
        Lt = "LT",
        Le = "LE",
        Gt = "GT",
        Ge = "GE",
        Eq = "EQ",
        Ne = "NE",
        In = "IN",
        NotIn = "NOTIN",
    }
);

odm_enum!(
    /// Whether a failed range check is a warning (soft) or refuses the value (hard).
    SoftHard {
        Soft = "Soft",
        Hard = "Hard",
    }
);

odm_enum!(
    /// What a method computes.
    MethodType {
        Computation = "Computation",
        Imputation = "Imputation",
        Transpose = "Transpose",
        Other = "Other",
    }
);

odm_enum!(
    /// What a data element does to the receiver's copy (see the module documentation).
    TransactionType {
        Insert = "Insert",
        Update = "Update",
        Remove = "Remove",
        /// Update when it exists, insert otherwise.
        Upsert = "Upsert",
        /// Sent for context only (matching keys), changes nothing.
        Context = "Context",
    }
);

odm_enum!(
    /// The kind of a user.
    UserType {
        Sponsor = "Sponsor",
        Investigator = "Investigator",
        Lab = "Lab",
        Other = "Other",
    }
);

odm_enum!(
    /// The kind of a location.
    LocationType {
        Sponsor = "Sponsor",
        Site = "Site",
        Cro = "CRO",
        Lab = "Lab",
        Other = "Other",
    }
);

odm_enum!(
    /// How a signature was made: a cryptographic (digital) or an electronic signature.
    SignMethod {
        Digital = "Digital",
        Electronic = "Electronic",
    }
);

/// The attributes of the `ODM` element. `ODMVersion` is always [`super::VERSION`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// Unique for each file written (a new one per export).
    pub file_oid: String,
    pub creation_date_time: DateTime<Utc>,
    pub file_type: FileType,
    pub granularity: Option<Granularity>,
    pub description: Option<String>,
    /// The previous file of a linked series.
    pub prior_file_oid: Option<String>,
    /// The moment the data was taken from the source database.
    pub as_of_date_time: Option<DateTime<Utc>>,
    pub originator: Option<String>,
    pub source_system: Option<String>,
    pub source_system_version: Option<String>,
}

impl FileHeader {
    /// A header with only the required attributes; the rest can be set on the result.
    pub fn new(file_oid: &str, creation_date_time: DateTime<Utc>, file_type: FileType) -> Self {
        FileHeader {
            file_oid: file_oid.to_owned(),
            creation_date_time,
            file_type,
            granularity: None,
            description: None,
            prior_file_oid: None,
            as_of_date_time: None,
            originator: None,
            source_system: None,
            source_system_version: None,
        }
    }
}

/// Text in one language; `lang` is `xml:lang` (`None` when the study has one language).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TranslatedText {
    pub lang: Option<String>,
    pub text: String,
}

impl TranslatedText {
    pub fn new(lang: Option<&str>, text: &str) -> Self {
        TranslatedText { lang: lang.map(str::to_owned), text: text.to_owned() }
    }
}

/// A name for the element in another context, e.g. `Context="REDCap field type"`,
/// `Name="radio"`: the way to carry what ODM has no attribute for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alias {
    pub context: String,
    pub name: String,
}

impl Alias {
    pub fn new(context: &str, name: &str) -> Self {
        Alias { context: context.to_owned(), name: name.to_owned() }
    }
}

/// An expression in some language; `context` names the language (e.g. `REDCap`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormalExpression {
    pub context: Option<String>,
    pub expression: String,
}

/// A study and its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Study {
    pub oid: String,
    pub global_variables: GlobalVariables,
    pub metadata_versions: Vec<MetaDataVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalVariables {
    pub study_name: String,
    pub study_description: String,
    pub protocol_name: String,
}

/// One version of the study's data dictionary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetaDataVersion {
    pub oid: String,
    pub name: String,
    pub description: Option<String>,
    pub protocol: Option<Protocol>,
    pub study_event_defs: Vec<StudyEventDef>,
    pub form_defs: Vec<FormDef>,
    pub item_group_defs: Vec<ItemGroupDef>,
    pub item_defs: Vec<ItemDef>,
    pub code_lists: Vec<CodeList>,
    pub condition_defs: Vec<ConditionDef>,
    pub method_defs: Vec<MethodDef>,
}

/// The schedule: which study events the study has, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Protocol {
    pub description: Vec<TranslatedText>,
    pub study_event_refs: Vec<StudyEventRef>,
    pub aliases: Vec<Alias>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StudyEventRef {
    pub study_event_oid: String,
    pub order_number: Option<u32>,
    pub mandatory: bool,
    pub collection_exception_condition_oid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyEventDef {
    pub oid: String,
    pub name: String,
    pub repeating: bool,
    pub event_type: EventType,
    pub category: Option<String>,
    pub description: Vec<TranslatedText>,
    pub form_refs: Vec<FormRef>,
    pub aliases: Vec<Alias>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormRef {
    pub form_oid: String,
    pub order_number: Option<u32>,
    pub mandatory: bool,
    pub collection_exception_condition_oid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormDef {
    pub oid: String,
    pub name: String,
    pub repeating: bool,
    pub description: Vec<TranslatedText>,
    pub item_group_refs: Vec<ItemGroupRef>,
    pub aliases: Vec<Alias>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemGroupRef {
    pub item_group_oid: String,
    pub order_number: Option<u32>,
    pub mandatory: bool,
    pub collection_exception_condition_oid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemGroupDef {
    pub oid: String,
    pub name: String,
    pub repeating: bool,
    pub description: Vec<TranslatedText>,
    pub item_refs: Vec<ItemRef>,
    pub aliases: Vec<Alias>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemRef {
    pub item_oid: String,
    pub order_number: Option<u32>,
    pub mandatory: bool,
    /// The method that computes the item (a calculated field).
    pub method_oid: Option<String>,
    /// The condition under which the item is *not* collected (the negation of a branching
    /// logic's "show when").
    pub collection_exception_condition_oid: Option<String>,
}

/// One question or variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemDef {
    pub oid: String,
    pub name: String,
    pub data_type: DataType,
    pub length: Option<NonZeroU32>,
    pub significant_digits: Option<u32>,
    /// At most 8 characters, a letter or `_` then letters, digits or `_` (the writer checks).
    pub sas_field_name: Option<String>,
    pub comment: Option<String>,
    pub description: Vec<TranslatedText>,
    /// The question as asked on the form.
    pub question: Vec<TranslatedText>,
    pub range_checks: Vec<RangeCheck>,
    pub code_list_oid: Option<String>,
    pub aliases: Vec<Alias>,
}

impl ItemDef {
    /// An item with only the required attributes.
    pub fn new(oid: &str, name: &str, data_type: DataType) -> Self {
        ItemDef {
            oid: oid.to_owned(),
            name: name.to_owned(),
            data_type,
            length: None,
            significant_digits: None,
            sas_field_name: None,
            comment: None,
            description: Vec::new(),
            question: Vec::new(),
            range_checks: Vec::new(),
            code_list_oid: None,
            aliases: Vec::new(),
        }
    }
}

/// A check on an item's value: `value comparator check` (e.g. `GE 18`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeCheck {
    pub comparator: Option<Comparator>,
    pub soft_hard: SoftHard,
    pub against: CheckAgainst,
    pub error_message: Vec<TranslatedText>,
}

/// What a range check compares with: constants, or expressions. The schema allows one kind
/// per check, and at least one of it (the writer checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckAgainst {
    Values(Vec<String>),
    Expressions(Vec<FormalExpression>),
}

/// The choices of a coded item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeList {
    pub oid: String,
    pub name: String,
    pub data_type: CodeListDataType,
    pub description: Vec<TranslatedText>,
    /// At least one (the writer checks).
    pub items: Vec<CodeListItem>,
    pub aliases: Vec<Alias>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CodeListItem {
    pub coded_value: String,
    pub order_number: Option<u32>,
    /// The label shown for the code; at least one text (the writer checks).
    pub decode: Vec<TranslatedText>,
    pub aliases: Vec<Alias>,
}

/// A condition (branching logic), referred to by `CollectionExceptionConditionOID`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConditionDef {
    pub oid: String,
    pub name: String,
    /// Required by the schema: at least one text (the writer checks).
    pub description: Vec<TranslatedText>,
    pub formal_expressions: Vec<FormalExpression>,
    pub aliases: Vec<Alias>,
}

/// A method (a calculation), referred to by `ItemRef::method_oid`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MethodDef {
    pub oid: String,
    pub name: String,
    pub method_type: Option<MethodType>,
    /// Required by the schema: at least one text (the writer checks).
    pub description: Vec<TranslatedText>,
    pub formal_expressions: Vec<FormalExpression>,
    pub aliases: Vec<Alias>,
}

/// Users, locations and signature meanings that audit records and signatures refer to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminData {
    pub study_oid: Option<String>,
    pub users: Vec<User>,
    pub locations: Vec<Location>,
    pub signature_defs: Vec<SignatureDef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub oid: String,
    pub user_type: Option<UserType>,
    pub login_name: Option<String>,
    pub display_name: Option<String>,
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub organization: Option<String>,
    pub emails: Vec<String>,
    /// The locations (sites) the user works at.
    pub location_oids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub oid: String,
    pub name: String,
    pub location_type: Option<LocationType>,
    /// Which metadata version the location uses from when; at least one (the writer checks).
    pub metadata_version_refs: Vec<MetaDataVersionRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaDataVersionRef {
    pub study_oid: String,
    pub metadata_version_oid: String,
    pub effective_date: NaiveDate,
}

/// What a kind of signature means ("I approve this data") and its legal standing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureDef {
    pub oid: String,
    pub methodology: Option<SignMethod>,
    pub meaning: String,
    pub legal_reason: String,
}

/// Who changed a data point, where, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub user_oid: String,
    pub location_oid: String,
    pub date_time_stamp: DateTime<Utc>,
    pub reason_for_change: Option<String>,
    /// The record's identifier in the source system (e.g. its audit log id).
    pub source_id: Option<String>,
}

/// Who signed, where, with which meaning (a [`SignatureDef`]) and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub user_oid: String,
    pub location_oid: String,
    pub signature_oid: String,
    pub date_time_stamp: DateTime<Utc>,
}

/// One subject's data. For streaming, [`super::OdmWriter::begin_subject`] writes what this
/// holds and leaves the element open for more study events.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubjectData {
    pub subject_key: String,
    pub transaction_type: Option<TransactionType>,
    pub audit_record: Option<AuditRecord>,
    pub signature: Option<Signature>,
    /// `SiteRef`: the location (site) the subject belongs to.
    pub site_oid: Option<String>,
    pub study_events: Vec<StudyEventData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StudyEventData {
    pub study_event_oid: String,
    pub repeat_key: Option<String>,
    pub transaction_type: Option<TransactionType>,
    pub audit_record: Option<AuditRecord>,
    pub signature: Option<Signature>,
    pub forms: Vec<FormData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FormData {
    pub form_oid: String,
    pub repeat_key: Option<String>,
    pub transaction_type: Option<TransactionType>,
    pub audit_record: Option<AuditRecord>,
    pub signature: Option<Signature>,
    pub item_groups: Vec<ItemGroupData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemGroupData {
    pub item_group_oid: String,
    pub repeat_key: Option<String>,
    pub transaction_type: Option<TransactionType>,
    pub audit_record: Option<AuditRecord>,
    pub signature: Option<Signature>,
    /// In a Transactional file the same item may appear several times, once per change.
    pub items: Vec<ItemData>,
}

/// One value (or one change of a value, in a Transactional file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemData {
    pub item_oid: String,
    pub value: ItemValue,
    pub transaction_type: Option<TransactionType>,
    pub audit_record: Option<AuditRecord>,
    pub signature: Option<Signature>,
}

impl ItemData {
    /// A value, with no transaction type, audit record or signature.
    pub fn value(item_oid: &str, value: &str) -> Self {
        ItemData {
            item_oid: item_oid.to_owned(),
            value: ItemValue::Value(value.to_owned()),
            transaction_type: None,
            audit_record: None,
            signature: None,
        }
    }

    /// An explicit null (`IsNull="Yes"`).
    pub fn null(item_oid: &str) -> Self {
        ItemData { value: ItemValue::Null, ..ItemData::value(item_oid, "") }
    }
}

/// What an `ItemData` says about the value. ODM keeps "empty" and "null" apart: an empty
/// string is a value (`Value=""`), null is `IsNull="Yes"` with no `Value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemValue {
    /// `Value="…"`, possibly empty.
    Value(String),
    /// `IsNull="Yes"`.
    Null,
    /// Neither attribute: what a `Remove` carries.
    Absent,
}

impl ItemValue {
    /// The value, if there is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ItemValue::Value(v) => Some(v),
            ItemValue::Null | ItemValue::Absent => None,
        }
    }
}
