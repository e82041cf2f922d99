//! The streaming reader of ODM clinical data, for imports: it walks the document with a pull
//! parser and yields each value with its keys (subject, site, study event, form, item group and
//! their repeat keys) and the line it is on, holding one element at a time. Metadata,
//! administrative and reference data are skipped, and so is anything in another namespace
//! (vendor extensions); a data element where the nesting does not allow it is an error.

use super::NAMESPACE;
use super::model::{ItemValue, TransactionType};
use quick_xml::NsReader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;
use std::io::{self, BufRead, Read};

/// What the reader yields: the start of each `ClinicalData` block, then its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClinicalDataPart {
    ClinicalData { study_oid: String, metadata_version_oid: String, line: u64 },
    Item(ItemRecord),
}

/// One value with everything that says where it belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    /// The line of the `ItemData` start tag (1-based), for error reports.
    pub line: u64,
    pub subject_key: String,
    /// The subject's `SiteRef`, when it has one.
    pub site_oid: Option<String>,
    pub study_event_oid: String,
    pub study_event_repeat_key: Option<String>,
    pub form_oid: String,
    pub form_repeat_key: Option<String>,
    pub item_group_oid: String,
    pub item_group_repeat_key: Option<String>,
    pub item_oid: String,
    pub value: ItemValue,
    /// The transaction type in effect: the item's own, else the nearest enclosing element's
    /// (ODM's inheritance rule).
    pub transaction_type: Option<TransactionType>,
}

/// Why a document could not be read; each names the line where reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("line {line}: the document could not be read: {source}")]
    Io {
        line: u64,
        #[source]
        source: io::Error,
    },
    #[error("line {line}: malformed XML: {message}")]
    Malformed { line: u64, message: String },
    #[error("line {line}: {message}")]
    Structure { line: u64, message: String },
}

impl ReadError {
    pub fn line(&self) -> u64 {
        match self {
            ReadError::Io { line, .. } | ReadError::Malformed { line, .. } | ReadError::Structure { line, .. } => *line,
        }
    }
}

/// Reads the clinical data of an ODM 1.3 document, one [`ClinicalDataPart`] at a time.
///
/// The iterator ends after the first error. Only UTF-8 documents are read (every ODM export
/// seen in practice is); a declaration naming another encoding is an error. Entities declared
/// in a DTD are not expanded, so a document relying on them is refused rather than misread.
pub struct ClinicalDataReader<R: BufRead> {
    xml: NsReader<LineCounter<R>>,
    buf: Vec<u8>,
    /// The clinical data elements open around the current position, outermost first.
    open: Vec<Frame>,
    /// How many elements deep inside something skipped (metadata, audit records, extensions).
    skipping: usize,
    /// A typed `ItemDataString`-style element whose text is being gathered.
    typed: Option<ItemRecord>,
    seen_root: bool,
    finished: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Odm,
    ClinicalData,
    SubjectData,
    StudyEventData,
    FormData,
    ItemGroupData,
    ItemData,
}

impl Level {
    fn element(self) -> &'static str {
        match self {
            Level::Odm => "ODM",
            Level::ClinicalData => "ClinicalData",
            Level::SubjectData => "SubjectData",
            Level::StudyEventData => "StudyEventData",
            Level::FormData => "FormData",
            Level::ItemGroupData => "ItemGroupData",
            Level::ItemData => "ItemData",
        }
    }

    /// The clinical data element a name stands for, if it is one.
    fn of(local: &str) -> Option<Level> {
        Some(match local {
            "ClinicalData" => Level::ClinicalData,
            "SubjectData" => Level::SubjectData,
            "StudyEventData" => Level::StudyEventData,
            "FormData" => Level::FormData,
            "ItemGroupData" => Level::ItemGroupData,
            "ItemData" => Level::ItemData,
            typed if typed.starts_with("ItemData") => Level::ItemData,
            _ => return None,
        })
    }

    /// Where an element of this level may stand.
    fn parent(self) -> Option<Level> {
        match self {
            Level::Odm => None,
            Level::ClinicalData => Some(Level::Odm),
            Level::SubjectData => Some(Level::ClinicalData),
            Level::StudyEventData => Some(Level::SubjectData),
            Level::FormData => Some(Level::StudyEventData),
            Level::ItemGroupData => Some(Level::FormData),
            Level::ItemData => Some(Level::ItemGroupData),
        }
    }
}

/// One open element: its level, its key (OID or subject key), repeat key and transaction type.
#[derive(Debug)]
struct Frame {
    level: Level,
    key: String,
    repeat_key: Option<String>,
    transaction_type: Option<TransactionType>,
    /// Only for SubjectData: its `SiteRef`.
    site_oid: Option<String>,
}

impl<R: BufRead> ClinicalDataReader<R> {
    pub fn new(input: R) -> Self {
        let mut xml = NsReader::from_reader(LineCounter { inner: input, line: 1 });
        let config = xml.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        ClinicalDataReader {
            xml,
            buf: Vec::new(),
            open: Vec::new(),
            skipping: 0,
            typed: None,
            seen_root: false,
            finished: false,
        }
    }

    fn line(&self) -> u64 {
        self.xml.get_ref().line
    }

    fn structure(&self, line: u64, message: String) -> ReadError {
        ReadError::Structure { line, message }
    }

    fn level(&self) -> Option<Level> {
        self.open.last().map(|f| f.level)
    }

    /// Reads events until one makes a part to hand out, or the document ends.
    fn advance(&mut self) -> Result<Option<ClinicalDataPart>, ReadError> {
        loop {
            self.buf.clear();
            // Text is never trimmed, so the line before reading is the line the event starts on.
            let line = self.line();
            let (namespace, event) = match self.xml.read_resolved_event_into(&mut self.buf) {
                Ok((ns, event)) => (is_odm(&ns), event),
                Err(e) => {
                    let line = self.line();
                    return Err(match e {
                        quick_xml::Error::Io(io) => {
                            ReadError::Io { line, source: io::Error::new(io.kind(), io.to_string()) }
                        }
                        other => ReadError::Malformed { line, message: other.to_string() },
                    });
                }
            };
            match event {
                Event::Start(_) if self.skipping > 0 => self.skipping += 1,
                Event::Empty(_) if self.skipping > 0 => {}
                Event::Start(start) => {
                    let start = start.into_owned();
                    if let Some(part) = self.element(&start, namespace, line, false)? {
                        return Ok(Some(part));
                    }
                }
                Event::Empty(start) => {
                    let start = start.into_owned();
                    if let Some(part) = self.element(&start, namespace, line, true)? {
                        return Ok(Some(part));
                    }
                }
                Event::End(_) if self.skipping > 0 => self.skipping -= 1,
                Event::End(_) => {
                    if let Some(record) = self.typed.take() {
                        return Ok(Some(ClinicalDataPart::Item(record)));
                    }
                    self.open.pop();
                }
                Event::Text(text) => {
                    if self.skipping == 0
                        && let Some(record) = &mut self.typed
                        && let ItemValue::Value(value) = &mut record.value
                    {
                        value.push_str(&text.xml10_content());
                    }
                }
                Event::CData(text) => {
                    if self.skipping == 0
                        && let Some(record) = &mut self.typed
                        && let ItemValue::Value(value) = &mut record.value
                    {
                        value.push_str(&text.xml10_content());
                    }
                }
                Event::GeneralRef(reference) => {
                    let resolved = resolve_reference(&reference).ok_or_else(|| ReadError::Malformed {
                        line,
                        message: format!("unknown entity or character reference &{};", &*reference),
                    })?;
                    if self.skipping == 0
                        && let Some(record) = &mut self.typed
                        && let ItemValue::Value(value) = &mut record.value
                    {
                        value.push(resolved);
                    }
                }
                Event::Decl(decl) => {
                    if let Some(Ok(encoding)) = decl.encoding()
                        && !encoding.eq_ignore_ascii_case("utf-8")
                        && !encoding.eq_ignore_ascii_case("utf8")
                    {
                        return Err(ReadError::Structure {
                            line,
                            message: format!("the document is in {encoding}; only UTF-8 is read"),
                        });
                    }
                }
                Event::Eof => {
                    if let Some(frame) = self.open.last() {
                        let line = self.line();
                        return Err(self.structure(line, format!("the document ends inside {}", frame.level.element())));
                    }
                    if !self.seen_root {
                        return Err(self.structure(line, "the document has no ODM element".to_owned()));
                    }
                    return Ok(None);
                }
                Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    /// A start or empty tag outside anything skipped.
    fn element(
        &mut self,
        start: &BytesStart<'_>,
        odm: bool,
        line: u64,
        empty: bool,
    ) -> Result<Option<ClinicalDataPart>, ReadError> {
        let local = start.local_name().as_ref().to_owned();
        if self.typed.is_some() {
            return Err(self.structure(line, format!("{local} inside a typed ItemData value")));
        }
        let Some(current) = self.level() else {
            if self.seen_root {
                return Err(self.structure(line, format!("{local} after the end of the ODM element")));
            }
            if local != "ODM" || !odm {
                return Err(self.structure(
                    line,
                    format!("not an ODM 1.3 document: the root is {local} (expected ODM in {NAMESPACE})"),
                ));
            }
            self.seen_root = true;
            if !empty {
                self.push(Level::Odm, String::new(), None, None);
            }
            return Ok(None);
        };
        if !odm {
            return Ok(self.skip(empty));
        }
        if local == "SiteRef" && current == Level::SubjectData {
            let site = required(start, "LocationOID", line, &local)?;
            if let Some(frame) = self.open.last_mut() {
                frame.site_oid = Some(site);
            }
            return Ok(self.skip(empty));
        }
        let Some(level) = Level::of(&local) else {
            // Audit records, signatures, annotations; metadata, admin and reference data (whose
            // item groups are not clinical data).
            return Ok(self.skip(empty));
        };
        if level.parent() != Some(current) {
            let expected = level.parent().map_or("nothing", Level::element);
            return Err(self.structure(
                line,
                format!(
                    "{local} outside the expected nesting: it belongs inside {expected}, not {}",
                    current.element()
                ),
            ));
        }
        let transaction_type = transaction_type(start, line, &local)?;
        match level {
            Level::ClinicalData => {
                let study_oid = required(start, "StudyOID", line, &local)?;
                let metadata_version_oid = required(start, "MetaDataVersionOID", line, &local)?;
                if !empty {
                    self.push(level, String::new(), None, None);
                }
                Ok(Some(ClinicalDataPart::ClinicalData { study_oid, metadata_version_oid, line }))
            }
            Level::SubjectData => {
                let key = required(start, "SubjectKey", line, &local)?;
                self.push_unless_empty(empty, level, key, None, transaction_type);
                Ok(None)
            }
            Level::StudyEventData | Level::FormData | Level::ItemGroupData => {
                let (key_attribute, repeat_attribute) = match level {
                    Level::StudyEventData => ("StudyEventOID", "StudyEventRepeatKey"),
                    Level::FormData => ("FormOID", "FormRepeatKey"),
                    _ => ("ItemGroupOID", "ItemGroupRepeatKey"),
                };
                let key = required(start, key_attribute, line, &local)?;
                let repeat_key = optional(start, repeat_attribute, line, &local)?;
                self.push_unless_empty(empty, level, key, repeat_key, transaction_type);
                Ok(None)
            }
            Level::ItemData | Level::Odm => {
                let item_oid = required(start, "ItemOID", line, &local)?;
                let typed = local != "ItemData";
                let is_null = match optional(start, "IsNull", line, &local)?.as_deref() {
                    None => false,
                    Some("Yes") => true,
                    Some(other) => {
                        return Err(
                            self.structure(line, format!("{local}: IsNull is {other:?}; only \"Yes\" is allowed"))
                        );
                    }
                };
                let value = optional(start, "Value", line, &local)?;
                let value = match (typed, is_null, value) {
                    (true, true, _) => ItemValue::Null,
                    (true, false, _) => ItemValue::Value(String::new()),
                    (false, true, Some(_)) => {
                        return Err(self.structure(line, format!("{local} {item_oid:?} has both a Value and IsNull")));
                    }
                    (false, true, None) => ItemValue::Null,
                    (false, false, Some(v)) => ItemValue::Value(v),
                    (false, false, None) => ItemValue::Absent,
                };
                let record = self.record(line, item_oid, value, transaction_type);
                if typed && !empty && record.value != ItemValue::Null {
                    // The value is the element's text: hand the record out at its end tag.
                    self.typed = Some(record);
                    return Ok(None);
                }
                if !empty {
                    // A typed null, or ItemData with audit records and signatures inside.
                    self.push(Level::ItemData, String::new(), None, None);
                }
                Ok(Some(ClinicalDataPart::Item(record)))
            }
        }
    }

    /// Skips the element and everything inside it.
    fn skip(&mut self, empty: bool) -> Option<ClinicalDataPart> {
        if !empty {
            self.skipping = 1;
        }
        None
    }

    fn push(
        &mut self,
        level: Level,
        key: String,
        repeat_key: Option<String>,
        transaction_type: Option<TransactionType>,
    ) {
        self.open.push(Frame { level, key, repeat_key, transaction_type, site_oid: None });
    }

    fn push_unless_empty(
        &mut self,
        empty: bool,
        level: Level,
        key: String,
        repeat_key: Option<String>,
        transaction_type: Option<TransactionType>,
    ) {
        if !empty {
            self.push(level, key, repeat_key, transaction_type);
        }
    }

    fn record(&self, line: u64, item_oid: String, value: ItemValue, own: Option<TransactionType>) -> ItemRecord {
        let frame = |level: Level| self.open.iter().find(|f| f.level == level);
        let key = |level: Level| frame(level).map(|f| f.key.clone()).unwrap_or_default();
        let repeat = |level: Level| frame(level).and_then(|f| f.repeat_key.clone());
        ItemRecord {
            line,
            subject_key: key(Level::SubjectData),
            site_oid: frame(Level::SubjectData).and_then(|f| f.site_oid.clone()),
            study_event_oid: key(Level::StudyEventData),
            study_event_repeat_key: repeat(Level::StudyEventData),
            form_oid: key(Level::FormData),
            form_repeat_key: repeat(Level::FormData),
            item_group_oid: key(Level::ItemGroupData),
            item_group_repeat_key: repeat(Level::ItemGroupData),
            item_oid,
            value,
            transaction_type: own.or_else(|| self.open.iter().rev().find_map(|f| f.transaction_type)),
        }
    }
}

impl<R: BufRead> Iterator for ClinicalDataReader<R> {
    type Item = Result<ClinicalDataPart, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.advance() {
            Ok(Some(part)) => Some(Ok(part)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(e) => {
                self.finished = true;
                Some(Err(e))
            }
        }
    }
}

fn is_odm(namespace: &ResolveResult<'_>) -> bool {
    matches!(namespace, ResolveResult::Bound(ns) if ns.as_ref() == NAMESPACE)
}

/// An attribute's value after XML's attribute-value normalization (literal line breaks and
/// tabs become spaces, references are resolved), as a conforming parser reports it.
fn attribute(start: &BytesStart<'_>, name: &str, line: u64, element: &str) -> Result<Option<String>, ReadError> {
    for attr in start.attributes() {
        let attr: Attribute<'_> =
            attr.map_err(|e| ReadError::Malformed { line, message: format!("{element}: {e}") })?;
        // Unprefixed attributes are in no namespace, which is where ODM's own attributes are.
        if attr.key.as_ref() == name {
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| ReadError::Malformed { line, message: format!("{element} {name}: {e}") })?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

fn optional(start: &BytesStart<'_>, name: &str, line: u64, element: &str) -> Result<Option<String>, ReadError> {
    attribute(start, name, line, element)
}

fn required(start: &BytesStart<'_>, name: &str, line: u64, element: &str) -> Result<String, ReadError> {
    match attribute(start, name, line, element)? {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(ReadError::Structure { line, message: format!("{element} has no {name}") }),
    }
}

fn transaction_type(start: &BytesStart<'_>, line: u64, element: &str) -> Result<Option<TransactionType>, ReadError> {
    match attribute(start, "TransactionType", line, element)? {
        None => Ok(None),
        Some(text) => TransactionType::from_odm(&text).map(Some).ok_or_else(|| ReadError::Structure {
            line,
            message: format!("{element}: unknown TransactionType {text:?}"),
        }),
    }
}

/// A character reference or one of XML's five predefined entities, in text.
fn resolve_reference(reference: &BytesRef<'_>) -> Option<char> {
    if reference.is_char_ref() {
        return reference.resolve_char_ref().ok().flatten();
    }
    resolve_predefined_entity(reference).and_then(|s| s.chars().next())
}

/// Counts the lines of everything the parser has consumed, so each event can name its line.
struct LineCounter<R> {
    inner: R,
    line: u64,
}

impl<R: BufRead> Read for LineCounter<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCounter<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        if amount > 0 {
            // The bytes being consumed are still in the inner buffer: this reads nothing new.
            if let Ok(buffered) = self.inner.fill_buf() {
                let counted = &buffered[..amount.min(buffered.len())];
                self.line += counted.iter().filter(|&&b| b == b'\n').count() as u64;
            }
        }
        self.inner.consume(amount);
    }
}
