//! CDISC ODM 1.3.2 for EDC exports and imports: a model of the parts of the standard an
//! electronic data capture system exchanges (study metadata, administrative data, clinical data
//! with audit records and signatures), a streaming writer and a streaming reader of clinical data.
//!
//! The model is Clinbridge's own plain structs; the caller maps its data dictionary onto them.
//! Both directions stream: the writer takes clinical data one subject (or one value) at a time
//! and hands bytes to the `Write` as it goes, the reader yields one value at a time from a
//! `BufRead`, so neither holds a whole export in memory.
//!
//! # Choices the standard leaves open
//!
//! **An item's history.** In ODM 1.3.2 an `ItemData` element carries at most one `AuditRecord`.
//! A change history is therefore written as a *Transactional* file (`FileType::Transactional`)
//! in which the same item appears once per change, in the order the changes happened, inside
//! the same `ItemGroupData`: the first with `TransactionType="Insert"`, later ones `Update`
//! (a cleared value is an `Update` with `IsNull="Yes"`), a deletion `Remove` with no value, each
//! with its own `AuditRecord` (who, where, when, why). This is the standard's own reading of a
//! transactional document ("a data entity can be represented as a series of data elements …
//! sequential changes to the same parts"; transactions apply in document order; audit records
//! and signatures in increasing time). The alternative the schema also offers, typed
//! `ItemDataString`-style elements pointing by `AuditRecordID` into a block of `AuditRecords`
//! at the end of `ClinicalData`, would keep every audit record of a study in memory until the
//! end of the block and is rarely read by other systems, so the writer does not use it. Because
//! the top-level data element of a transactional file must state its transaction type, the
//! writer refuses a `SubjectData` without one in a Transactional file.
//!
//! **Characters XML 1.0 cannot carry.** Control characters other than tab, line feed and
//! carriage return (U+0000–U+0008, U+000B, U+000C, U+000E–U+001F) and the non-characters
//! U+FFFE and U+FFFF cannot appear in an XML 1.0 document at all, not even as character
//! references. The writer replaces each with U+FFFD (the replacement character) rather than
//! dropping it, so a value that lost something shows it, and its length in characters stays the
//! same. Tab, line feed and carriage return in attribute values (such as `Value`), and carriage
//! return in text, are written as character references, so they survive the parser's
//! whitespace normalization and a multi-line free-text value reads back exactly.

mod model;
mod reader;
mod writer;

pub use model::*;
pub use reader::{ClinicalDataPart, ClinicalDataReader, ItemRecord, ReadError};
pub use writer::OdmWriter;

/// The ODM 1.3 namespace; ODM 1.3.1 and 1.3.2 documents keep it (the version is an attribute).
pub const NAMESPACE: &str = "http://www.cdisc.org/ns/odm/v1.3";

/// The version the writer declares in `ODMVersion`.
pub const VERSION: &str = "1.3.2";
