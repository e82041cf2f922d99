//! The streaming ODM writer. Metadata and administrative data are small and written whole;
//! clinical data is written as the caller walks its database, one subject or one value at a
//! time, so memory stays flat however large the export. Element order follows the schema's
//! sequences, which are strict: every function below writes children in the XSD's order.

use super::model::*;
use super::{NAMESPACE, VERSION};
use chrono::{DateTime, SecondsFormat, Utc};
use std::io::{self, Write};

/// Bytes gathered before they are handed to the output: few enough to keep memory flat, many
/// enough that an unbuffered file is not written one element at a time.
const FLUSH_AT: usize = 32 * 1024;

/// Writes one ODM document.
///
/// The order of calls follows the document: [`OdmWriter::new`] (the `ODM` element), then any
/// [`write_study`](OdmWriter::write_study), then any
/// [`write_admin_data`](OdmWriter::write_admin_data), then any number of `ClinicalData`
/// blocks, then [`finish`](OdmWriter::finish). Inside a block, either hand over whole subjects
/// with [`write_subject`](OdmWriter::write_subject), or stream finer with the
/// `begin_…`/`end_…` pairs and [`write_item`](OdmWriter::write_item): a `begin_…` writes the
/// element's start and whatever the struct already holds, and leaves the element open for more
/// children. A call out of order is refused with [`io::ErrorKind::InvalidInput`], and so is a
/// value the schema would reject (an empty OID, a code list without items…); nothing of a
/// refused call is written.
///
/// Output goes to `W` in chunks of about 32 KiB; wrapping a file in a `BufWriter` is not needed.
pub struct OdmWriter<W: Write> {
    out: W,
    xml: Xml,
    file_type: FileType,
    /// The last top-level section written: Study, AdminData and ClinicalData come in that order.
    section: Section,
    /// The innermost clinical data element left open.
    open: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Header,
    Study,
    AdminData,
    ClinicalData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Odm,
    ClinicalData,
    SubjectData,
    StudyEventData,
    FormData,
    ItemGroupData,
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
        }
    }

    fn parent(self) -> Level {
        match self {
            Level::Odm | Level::ClinicalData => Level::Odm,
            Level::SubjectData => Level::ClinicalData,
            Level::StudyEventData => Level::SubjectData,
            Level::FormData => Level::StudyEventData,
            Level::ItemGroupData => Level::FormData,
        }
    }
}

impl<W: Write> OdmWriter<W> {
    /// Starts the document: the XML declaration and the `ODM` start tag.
    pub fn new(out: W, header: &FileHeader) -> io::Result<Self> {
        let mut xml = Xml::default();
        xml.buf.extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let created = timestamp(header.creation_date_time);
        let as_of = header.as_of_date_time.map(timestamp);
        xml.start(
            "ODM",
            &[
                ("xmlns", Some(NAMESPACE)),
                ("ODMVersion", Some(VERSION)),
                ("FileType", Some(header.file_type.as_str())),
                ("Granularity", header.granularity.map(Granularity::as_str)),
                ("Description", header.description.as_deref()),
                ("FileOID", Some(required("ODM", "FileOID", &header.file_oid)?)),
                ("PriorFileOID", optional("ODM", "PriorFileOID", &header.prior_file_oid)?),
                ("CreationDateTime", Some(&created)),
                ("AsOfDateTime", as_of.as_deref()),
                ("Originator", header.originator.as_deref()),
                ("SourceSystem", header.source_system.as_deref()),
                ("SourceSystemVersion", header.source_system_version.as_deref()),
            ],
        );
        Ok(OdmWriter { out, xml, file_type: header.file_type, section: Section::Header, open: Level::Odm })
    }

    /// A whole `Study` (global variables and metadata versions).
    pub fn write_study(&mut self, study: &Study) -> io::Result<()> {
        self.enter_section(Section::Study, "Study")?;
        self.emit(|x| write_study(x, study))
    }

    /// A whole `AdminData` (users, locations, signature definitions).
    pub fn write_admin_data(&mut self, admin: &AdminData) -> io::Result<()> {
        self.enter_section(Section::AdminData, "AdminData")?;
        self.emit(|x| write_admin_data(x, admin))
    }

    /// Opens a `ClinicalData` block for one study and metadata version.
    pub fn begin_clinical_data(&mut self, study_oid: &str, metadata_version_oid: &str) -> io::Result<()> {
        self.enter_section(Section::ClinicalData, "ClinicalData")?;
        self.emit(|x| {
            x.start(
                "ClinicalData",
                &[
                    ("StudyOID", Some(required("ClinicalData", "StudyOID", study_oid)?)),
                    ("MetaDataVersionOID", Some(required("ClinicalData", "MetaDataVersionOID", metadata_version_oid)?)),
                ],
            );
            Ok(())
        })?;
        self.open = Level::ClinicalData;
        Ok(())
    }

    /// One whole subject, inside an open `ClinicalData`.
    pub fn write_subject(&mut self, subject: &SubjectData) -> io::Result<()> {
        self.begin_subject(subject)?;
        self.end_subject()
    }

    /// Writes the subject's start, its audit record, signature, site and the study events it
    /// holds, and leaves it open for more study events.
    pub fn begin_subject(&mut self, subject: &SubjectData) -> io::Result<()> {
        self.expect_open(Level::SubjectData)?;
        if self.file_type == FileType::Transactional && subject.transaction_type.is_none() {
            return Err(invalid(format!(
                "subject {:?}: in a Transactional file each SubjectData states its TransactionType",
                subject.subject_key
            )));
        }
        self.emit(|x| start_subject(x, subject))?;
        self.open = Level::SubjectData;
        Ok(())
    }

    /// Writes the study event's start, its audit record and signature and the forms it holds,
    /// and leaves it open for more forms.
    pub fn begin_study_event(&mut self, event: &StudyEventData) -> io::Result<()> {
        self.expect_open(Level::StudyEventData)?;
        self.emit(|x| start_study_event(x, event))?;
        self.open = Level::StudyEventData;
        Ok(())
    }

    /// Writes the form's start, its audit record and signature and the item groups it holds,
    /// and leaves it open for more item groups.
    pub fn begin_form(&mut self, form: &FormData) -> io::Result<()> {
        self.expect_open(Level::FormData)?;
        self.emit(|x| start_form(x, form))?;
        self.open = Level::FormData;
        Ok(())
    }

    /// Writes the item group's start, its audit record and signature and the items it holds,
    /// and leaves it open for more items.
    pub fn begin_item_group(&mut self, group: &ItemGroupData) -> io::Result<()> {
        self.expect_open(Level::ItemGroupData)?;
        self.emit(|x| start_item_group(x, group))?;
        self.open = Level::ItemGroupData;
        Ok(())
    }

    /// One value, inside an open item group.
    pub fn write_item(&mut self, item: &ItemData) -> io::Result<()> {
        if self.open != Level::ItemGroupData {
            return Err(invalid(format!("ItemData belongs inside ItemGroupData, not {}", self.open.element())));
        }
        self.emit(|x| write_item(x, item))
    }

    pub fn end_item_group(&mut self) -> io::Result<()> {
        self.close(Level::ItemGroupData)
    }

    pub fn end_form(&mut self) -> io::Result<()> {
        self.close(Level::FormData)
    }

    pub fn end_study_event(&mut self) -> io::Result<()> {
        self.close(Level::StudyEventData)
    }

    pub fn end_subject(&mut self) -> io::Result<()> {
        self.close(Level::SubjectData)
    }

    pub fn end_clinical_data(&mut self) -> io::Result<()> {
        self.close(Level::ClinicalData)
    }

    /// The output, e.g. to see how much has been handed to it.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Hands everything written so far to the output and flushes it.
    pub fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.out.flush()
    }

    /// Closes whatever is still open and the `ODM` element, flushes, and gives the output back.
    pub fn finish(mut self) -> io::Result<W> {
        while self.open > Level::Odm {
            self.close(self.open)?;
        }
        self.xml.end("ODM");
        self.flush()?;
        Ok(self.out)
    }

    fn enter_section(&mut self, section: Section, element: &str) -> io::Result<()> {
        if self.open != Level::Odm {
            return Err(invalid(format!("{element} cannot start inside an open {}", self.open.element())));
        }
        if self.section > section {
            return Err(invalid(format!("{element} must come before the document's {:?}", self.section)));
        }
        self.section = section;
        Ok(())
    }

    fn expect_open(&self, child: Level) -> io::Result<()> {
        if self.open != child.parent() {
            return Err(invalid(format!(
                "{} belongs inside {}, not {}",
                child.element(),
                child.parent().element(),
                self.open.element()
            )));
        }
        Ok(())
    }

    fn close(&mut self, level: Level) -> io::Result<()> {
        if self.open != level {
            return Err(invalid(format!(
                "cannot end {}: the open element is {}",
                level.element(),
                self.open.element()
            )));
        }
        self.emit(|x| {
            x.end(level.element());
            Ok(())
        })?;
        self.open = level.parent();
        Ok(())
    }

    /// Runs one writing step; a step that fails leaves nothing behind.
    fn emit(&mut self, step: impl FnOnce(&mut Xml) -> io::Result<()>) -> io::Result<()> {
        let (len, depth) = (self.xml.buf.len(), self.xml.depth);
        if let Err(e) = step(&mut self.xml) {
            self.xml.buf.truncate(len);
            self.xml.depth = depth;
            return Err(e);
        }
        if self.xml.buf.len() >= FLUSH_AT {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> io::Result<()> {
        self.out.write_all(&self.xml.buf)?;
        self.xml.buf.clear();
        if self.xml.buf.capacity() > 4 * FLUSH_AT {
            // One large study's metadata should not keep its buffer for the whole export.
            self.xml.buf.shrink_to(FLUSH_AT);
        }
        Ok(())
    }
}

fn write_study(x: &mut Xml, study: &Study) -> io::Result<()> {
    x.start("Study", &[("OID", Some(required("Study", "OID", &study.oid)?))]);
    let globals = &study.global_variables;
    x.start("GlobalVariables", &[]);
    x.leaf("StudyName", &[], required("GlobalVariables", "StudyName", &globals.study_name)?);
    x.leaf("StudyDescription", &[], &globals.study_description);
    x.leaf("ProtocolName", &[], required("GlobalVariables", "ProtocolName", &globals.protocol_name)?);
    x.end("GlobalVariables");
    for version in &study.metadata_versions {
        write_metadata_version(x, version)?;
    }
    x.end("Study");
    Ok(())
}

fn write_metadata_version(x: &mut Xml, m: &MetaDataVersion) -> io::Result<()> {
    x.start(
        "MetaDataVersion",
        &[
            ("OID", Some(required("MetaDataVersion", "OID", &m.oid)?)),
            ("Name", Some(required("MetaDataVersion", "Name", &m.name)?)),
            ("Description", m.description.as_deref()),
        ],
    );
    if let Some(protocol) = &m.protocol {
        x.start("Protocol", &[]);
        x.translated("Description", &protocol.description);
        for r in &protocol.study_event_refs {
            let order = r.order_number.map(|n| n.to_string());
            x.empty(
                "StudyEventRef",
                &[
                    ("StudyEventOID", Some(required("StudyEventRef", "StudyEventOID", &r.study_event_oid)?)),
                    ("OrderNumber", order.as_deref()),
                    ("Mandatory", Some(yes_no(r.mandatory))),
                    (
                        "CollectionExceptionConditionOID",
                        optional(
                            "StudyEventRef",
                            "CollectionExceptionConditionOID",
                            &r.collection_exception_condition_oid,
                        )?,
                    ),
                ],
            );
        }
        x.aliases(&protocol.aliases);
        x.end("Protocol");
    }
    for def in &m.study_event_defs {
        x.start(
            "StudyEventDef",
            &[
                ("OID", Some(required("StudyEventDef", "OID", &def.oid)?)),
                ("Name", Some(required("StudyEventDef", "Name", &def.name)?)),
                ("Repeating", Some(yes_no(def.repeating))),
                ("Type", Some(def.event_type.as_str())),
                ("Category", def.category.as_deref()),
            ],
        );
        x.translated("Description", &def.description);
        for r in &def.form_refs {
            let order = r.order_number.map(|n| n.to_string());
            x.empty(
                "FormRef",
                &[
                    ("FormOID", Some(required("FormRef", "FormOID", &r.form_oid)?)),
                    ("OrderNumber", order.as_deref()),
                    ("Mandatory", Some(yes_no(r.mandatory))),
                    (
                        "CollectionExceptionConditionOID",
                        optional("FormRef", "CollectionExceptionConditionOID", &r.collection_exception_condition_oid)?,
                    ),
                ],
            );
        }
        x.aliases(&def.aliases);
        x.end("StudyEventDef");
    }
    for def in &m.form_defs {
        x.start(
            "FormDef",
            &[
                ("OID", Some(required("FormDef", "OID", &def.oid)?)),
                ("Name", Some(required("FormDef", "Name", &def.name)?)),
                ("Repeating", Some(yes_no(def.repeating))),
            ],
        );
        x.translated("Description", &def.description);
        for r in &def.item_group_refs {
            let order = r.order_number.map(|n| n.to_string());
            x.empty(
                "ItemGroupRef",
                &[
                    ("ItemGroupOID", Some(required("ItemGroupRef", "ItemGroupOID", &r.item_group_oid)?)),
                    ("OrderNumber", order.as_deref()),
                    ("Mandatory", Some(yes_no(r.mandatory))),
                    (
                        "CollectionExceptionConditionOID",
                        optional(
                            "ItemGroupRef",
                            "CollectionExceptionConditionOID",
                            &r.collection_exception_condition_oid,
                        )?,
                    ),
                ],
            );
        }
        x.aliases(&def.aliases);
        x.end("FormDef");
    }
    for def in &m.item_group_defs {
        x.start(
            "ItemGroupDef",
            &[
                ("OID", Some(required("ItemGroupDef", "OID", &def.oid)?)),
                ("Name", Some(required("ItemGroupDef", "Name", &def.name)?)),
                ("Repeating", Some(yes_no(def.repeating))),
            ],
        );
        x.translated("Description", &def.description);
        for r in &def.item_refs {
            let order = r.order_number.map(|n| n.to_string());
            x.empty(
                "ItemRef",
                &[
                    ("ItemOID", Some(required("ItemRef", "ItemOID", &r.item_oid)?)),
                    ("OrderNumber", order.as_deref()),
                    ("Mandatory", Some(yes_no(r.mandatory))),
                    ("MethodOID", optional("ItemRef", "MethodOID", &r.method_oid)?),
                    (
                        "CollectionExceptionConditionOID",
                        optional("ItemRef", "CollectionExceptionConditionOID", &r.collection_exception_condition_oid)?,
                    ),
                ],
            );
        }
        x.aliases(&def.aliases);
        x.end("ItemGroupDef");
    }
    for def in &m.item_defs {
        write_item_def(x, def)?;
    }
    for list in &m.code_lists {
        write_code_list(x, list)?;
    }
    for def in &m.condition_defs {
        x.start(
            "ConditionDef",
            &[
                ("OID", Some(required("ConditionDef", "OID", &def.oid)?)),
                ("Name", Some(required("ConditionDef", "Name", &def.name)?)),
            ],
        );
        required_translated(x, "ConditionDef", &def.oid, "Description", &def.description)?;
        x.expressions(&def.formal_expressions);
        x.aliases(&def.aliases);
        x.end("ConditionDef");
    }
    for def in &m.method_defs {
        x.start(
            "MethodDef",
            &[
                ("OID", Some(required("MethodDef", "OID", &def.oid)?)),
                ("Name", Some(required("MethodDef", "Name", &def.name)?)),
                ("Type", def.method_type.map(MethodType::as_str)),
            ],
        );
        required_translated(x, "MethodDef", &def.oid, "Description", &def.description)?;
        x.expressions(&def.formal_expressions);
        x.aliases(&def.aliases);
        x.end("MethodDef");
    }
    x.end("MetaDataVersion");
    Ok(())
}

fn write_item_def(x: &mut Xml, def: &ItemDef) -> io::Result<()> {
    let length = def.length.map(|n| n.to_string());
    let digits = def.significant_digits.map(|n| n.to_string());
    if let Some(sas) = &def.sas_field_name
        && !is_sas_name(sas)
    {
        return Err(invalid(format!(
            "ItemDef {:?}: SASFieldName {sas:?} is not a SAS name (a letter or _, then letters, digits or _, at most 8)",
            def.oid
        )));
    }
    x.start(
        "ItemDef",
        &[
            ("OID", Some(required("ItemDef", "OID", &def.oid)?)),
            ("Name", Some(required("ItemDef", "Name", &def.name)?)),
            ("DataType", Some(def.data_type.as_str())),
            ("Length", length.as_deref()),
            ("SignificantDigits", digits.as_deref()),
            ("SASFieldName", def.sas_field_name.as_deref()),
            ("Comment", def.comment.as_deref()),
        ],
    );
    x.translated("Description", &def.description);
    x.translated("Question", &def.question);
    for check in &def.range_checks {
        x.start(
            "RangeCheck",
            &[("Comparator", check.comparator.map(Comparator::as_str)), ("SoftHard", Some(check.soft_hard.as_str()))],
        );
        match &check.against {
            CheckAgainst::Values(values) if !values.is_empty() => {
                for v in values {
                    x.leaf("CheckValue", &[], v);
                }
            }
            CheckAgainst::Expressions(expressions) if !expressions.is_empty() => x.expressions(expressions),
            _ => {
                return Err(invalid(format!(
                    "ItemDef {:?}: a RangeCheck needs a check value or an expression",
                    def.oid
                )));
            }
        }
        x.translated("ErrorMessage", &check.error_message);
        x.end("RangeCheck");
    }
    if let Some(list) = &def.code_list_oid {
        x.empty("CodeListRef", &[("CodeListOID", Some(required("CodeListRef", "CodeListOID", list)?))]);
    }
    x.aliases(&def.aliases);
    x.end("ItemDef");
    Ok(())
}

fn write_code_list(x: &mut Xml, list: &CodeList) -> io::Result<()> {
    x.start(
        "CodeList",
        &[
            ("OID", Some(required("CodeList", "OID", &list.oid)?)),
            ("Name", Some(required("CodeList", "Name", &list.name)?)),
            ("DataType", Some(list.data_type.as_str())),
        ],
    );
    x.translated("Description", &list.description);
    if list.items.is_empty() {
        return Err(invalid(format!("CodeList {:?} has no items", list.oid)));
    }
    for item in &list.items {
        let order = item.order_number.map(|n| n.to_string());
        x.start("CodeListItem", &[("CodedValue", Some(&item.coded_value)), ("OrderNumber", order.as_deref())]);
        required_translated(x, "CodeList", &list.oid, "Decode", &item.decode)?;
        x.aliases(&item.aliases);
        x.end("CodeListItem");
    }
    x.aliases(&list.aliases);
    x.end("CodeList");
    Ok(())
}

fn write_admin_data(x: &mut Xml, admin: &AdminData) -> io::Result<()> {
    x.start("AdminData", &[("StudyOID", optional("AdminData", "StudyOID", &admin.study_oid)?)]);
    for user in &admin.users {
        x.start(
            "User",
            &[("OID", Some(required("User", "OID", &user.oid)?)), ("UserType", user.user_type.map(UserType::as_str))],
        );
        let names = [
            ("LoginName", &user.login_name),
            ("DisplayName", &user.display_name),
            ("FullName", &user.full_name),
            ("FirstName", &user.first_name),
            ("LastName", &user.last_name),
            ("Organization", &user.organization),
        ];
        for (element, value) in names {
            if let Some(value) = value {
                x.leaf(element, &[], value);
            }
        }
        for email in &user.emails {
            x.leaf("Email", &[], email);
        }
        for location in &user.location_oids {
            x.empty("LocationRef", &[("LocationOID", Some(required("LocationRef", "LocationOID", location)?))]);
        }
        x.end("User");
    }
    for location in &admin.locations {
        x.start(
            "Location",
            &[
                ("OID", Some(required("Location", "OID", &location.oid)?)),
                ("Name", Some(required("Location", "Name", &location.name)?)),
                ("LocationType", location.location_type.map(LocationType::as_str)),
            ],
        );
        if location.metadata_version_refs.is_empty() {
            return Err(invalid(format!("Location {:?} needs at least one MetaDataVersionRef", location.oid)));
        }
        for r in &location.metadata_version_refs {
            let effective = r.effective_date.format("%Y-%m-%d").to_string();
            x.empty(
                "MetaDataVersionRef",
                &[
                    ("StudyOID", Some(required("MetaDataVersionRef", "StudyOID", &r.study_oid)?)),
                    (
                        "MetaDataVersionOID",
                        Some(required("MetaDataVersionRef", "MetaDataVersionOID", &r.metadata_version_oid)?),
                    ),
                    ("EffectiveDate", Some(&effective)),
                ],
            );
        }
        x.end("Location");
    }
    for def in &admin.signature_defs {
        x.start(
            "SignatureDef",
            &[
                ("OID", Some(required("SignatureDef", "OID", &def.oid)?)),
                ("Methodology", def.methodology.map(SignMethod::as_str)),
            ],
        );
        x.leaf("Meaning", &[], &def.meaning);
        x.leaf("LegalReason", &[], &def.legal_reason);
        x.end("SignatureDef");
    }
    x.end("AdminData");
    Ok(())
}

fn start_subject(x: &mut Xml, s: &SubjectData) -> io::Result<()> {
    x.start(
        "SubjectData",
        &[
            ("SubjectKey", Some(required("SubjectData", "SubjectKey", &s.subject_key)?)),
            ("TransactionType", s.transaction_type.map(TransactionType::as_str)),
        ],
    );
    write_audit_and_signature(x, &s.audit_record, &s.signature)?;
    if let Some(site) = &s.site_oid {
        x.empty("SiteRef", &[("LocationOID", Some(required("SiteRef", "LocationOID", site)?))]);
    }
    for event in &s.study_events {
        start_study_event(x, event)?;
        x.end("StudyEventData");
    }
    Ok(())
}

fn start_study_event(x: &mut Xml, e: &StudyEventData) -> io::Result<()> {
    x.start(
        "StudyEventData",
        &[
            ("StudyEventOID", Some(required("StudyEventData", "StudyEventOID", &e.study_event_oid)?)),
            ("StudyEventRepeatKey", optional("StudyEventData", "StudyEventRepeatKey", &e.repeat_key)?),
            ("TransactionType", e.transaction_type.map(TransactionType::as_str)),
        ],
    );
    write_audit_and_signature(x, &e.audit_record, &e.signature)?;
    for form in &e.forms {
        start_form(x, form)?;
        x.end("FormData");
    }
    Ok(())
}

fn start_form(x: &mut Xml, f: &FormData) -> io::Result<()> {
    x.start(
        "FormData",
        &[
            ("FormOID", Some(required("FormData", "FormOID", &f.form_oid)?)),
            ("FormRepeatKey", optional("FormData", "FormRepeatKey", &f.repeat_key)?),
            ("TransactionType", f.transaction_type.map(TransactionType::as_str)),
        ],
    );
    write_audit_and_signature(x, &f.audit_record, &f.signature)?;
    for group in &f.item_groups {
        start_item_group(x, group)?;
        x.end("ItemGroupData");
    }
    Ok(())
}

fn start_item_group(x: &mut Xml, g: &ItemGroupData) -> io::Result<()> {
    x.start(
        "ItemGroupData",
        &[
            ("ItemGroupOID", Some(required("ItemGroupData", "ItemGroupOID", &g.item_group_oid)?)),
            ("ItemGroupRepeatKey", optional("ItemGroupData", "ItemGroupRepeatKey", &g.repeat_key)?),
            ("TransactionType", g.transaction_type.map(TransactionType::as_str)),
        ],
    );
    write_audit_and_signature(x, &g.audit_record, &g.signature)?;
    for item in &g.items {
        write_item(x, item)?;
    }
    Ok(())
}

fn write_item(x: &mut Xml, item: &ItemData) -> io::Result<()> {
    let (value, is_null) = match &item.value {
        ItemValue::Value(v) => (Some(v.as_str()), None),
        ItemValue::Null => (None, Some("Yes")),
        ItemValue::Absent => (None, None),
    };
    let attributes = [
        ("ItemOID", Some(required("ItemData", "ItemOID", &item.item_oid)?)),
        ("TransactionType", item.transaction_type.map(TransactionType::as_str)),
        ("IsNull", is_null),
        ("Value", value),
    ];
    if item.audit_record.is_none() && item.signature.is_none() {
        x.empty("ItemData", &attributes);
    } else {
        x.start("ItemData", &attributes);
        write_audit_and_signature(x, &item.audit_record, &item.signature)?;
        x.end("ItemData");
    }
    Ok(())
}

fn write_audit_and_signature(
    x: &mut Xml,
    audit: &Option<AuditRecord>,
    signature: &Option<Signature>,
) -> io::Result<()> {
    if let Some(a) = audit {
        x.start("AuditRecord", &[]);
        x.empty("UserRef", &[("UserOID", Some(required("UserRef", "UserOID", &a.user_oid)?))]);
        x.empty("LocationRef", &[("LocationOID", Some(required("LocationRef", "LocationOID", &a.location_oid)?))]);
        x.leaf("DateTimeStamp", &[], &timestamp(a.date_time_stamp));
        if let Some(reason) = &a.reason_for_change {
            x.leaf("ReasonForChange", &[], reason);
        }
        if let Some(source) = &a.source_id {
            x.leaf("SourceID", &[], source);
        }
        x.end("AuditRecord");
    }
    if let Some(s) = signature {
        x.start("Signature", &[]);
        x.empty("UserRef", &[("UserOID", Some(required("UserRef", "UserOID", &s.user_oid)?))]);
        x.empty("LocationRef", &[("LocationOID", Some(required("LocationRef", "LocationOID", &s.location_oid)?))]);
        x.empty("SignatureRef", &[("SignatureOID", Some(required("SignatureRef", "SignatureOID", &s.signature_oid)?))]);
        x.leaf("DateTimeStamp", &[], &timestamp(s.date_time_stamp));
        x.end("Signature");
    }
    Ok(())
}

/// A `Description` or `Decode` that the schema requires, with at least one text.
fn required_translated(x: &mut Xml, owner: &str, oid: &str, element: &str, texts: &[TranslatedText]) -> io::Result<()> {
    if texts.is_empty() {
        return Err(invalid(format!("{owner} {oid:?} needs a {element} with at least one text")));
    }
    x.translated(element, texts);
    Ok(())
}

/// The schema's `oid`, `oidref`, `name`, `subjectKey` and `repeatKey` types refuse the empty
/// string; refusing it here names the element instead of leaving it to a validator.
fn required<'a>(element: &str, attribute: &str, value: &'a str) -> io::Result<&'a str> {
    if value.is_empty() {
        return Err(invalid(format!("{element}: {attribute} must not be empty")));
    }
    Ok(value)
}

fn optional<'a>(element: &str, attribute: &str, value: &'a Option<String>) -> io::Result<Option<&'a str>> {
    value.as_deref().map(|v| required(element, attribute, v)).transpose()
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("ODM: {message}"))
}

fn yes_no(yes: bool) -> &'static str {
    if yes { "Yes" } else { "No" }
}

/// `xs:dateTime` in UTC, with as many fraction digits as the time has (the store keeps
/// microseconds).
fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn is_sas_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 8
}

/// The bytes of the document being built, one element per line, indented by depth.
#[derive(Default)]
struct Xml {
    buf: Vec<u8>,
    depth: usize,
}

type Attributes<'a> = [(&'static str, Option<&'a str>)];

impl Xml {
    fn start(&mut self, name: &str, attributes: &Attributes<'_>) {
        self.tag(name, attributes);
        self.buf.extend_from_slice(b">\n");
        self.depth += 1;
    }

    fn end(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.buf.extend_from_slice(b"</");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b">\n");
    }

    fn empty(&mut self, name: &str, attributes: &Attributes<'_>) {
        self.tag(name, attributes);
        self.buf.extend_from_slice(b"/>\n");
    }

    /// An element holding only text.
    fn leaf(&mut self, name: &str, attributes: &Attributes<'_>, text: &str) {
        self.tag(name, attributes);
        self.buf.push(b'>');
        escape_into(&mut self.buf, text, false);
        self.buf.extend_from_slice(b"</");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b">\n");
    }

    /// An element of `TranslatedText`s; nothing when there are none.
    fn translated(&mut self, name: &str, texts: &[TranslatedText]) {
        if texts.is_empty() {
            return;
        }
        self.start(name, &[]);
        for t in texts {
            self.leaf("TranslatedText", &[("xml:lang", t.lang.as_deref())], &t.text);
        }
        self.end(name);
    }

    fn aliases(&mut self, aliases: &[Alias]) {
        for a in aliases {
            self.empty("Alias", &[("Context", Some(&a.context)), ("Name", Some(&a.name))]);
        }
    }

    fn expressions(&mut self, expressions: &[FormalExpression]) {
        for e in expressions {
            self.leaf("FormalExpression", &[("Context", e.context.as_deref())], &e.expression);
        }
    }

    fn tag(&mut self, name: &str, attributes: &Attributes<'_>) {
        self.indent();
        self.buf.push(b'<');
        self.buf.extend_from_slice(name.as_bytes());
        for (key, value) in attributes {
            if let Some(value) = value {
                self.buf.push(b' ');
                self.buf.extend_from_slice(key.as_bytes());
                self.buf.extend_from_slice(b"=\"");
                escape_into(&mut self.buf, value, true);
                self.buf.push(b'"');
            }
        }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.buf.extend_from_slice(b"  ");
        }
    }
}

/// Appends `text` escaped for XML 1.0 text (`attribute == false`) or a double-quoted attribute
/// value. See the module documentation for the characters XML 1.0 cannot carry.
fn escape_into(buf: &mut Vec<u8>, text: &str, attribute: bool) {
    let mut plain = 0;
    for (i, c) in text.char_indices() {
        let replacement = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' if attribute => "&quot;",
            '\t' if attribute => "&#9;",
            '\n' if attribute => "&#10;",
            '\r' => "&#13;",
            '\t' | '\n' => continue,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => "\u{fffd}",
            _ => continue,
        };
        buf.extend_from_slice(&text.as_bytes()[plain..i]);
        buf.extend_from_slice(replacement.as_bytes());
        plain = i + c.len_utf8();
    }
    buf.extend_from_slice(&text.as_bytes()[plain..]);
}

#[cfg(test)]
mod tests {
    use super::escape_into;

    fn escaped(text: &str, attribute: bool) -> String {
        let mut buf = Vec::new();
        escape_into(&mut buf, text, attribute);
        String::from_utf8(buf).unwrap_or_default()
    }

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(escaped(r#"a<b & "c" > d's"#, true), "a&lt;b &amp; &quot;c&quot; &gt; d's");
        assert_eq!(escaped(r#"a<b & "c""#, false), r#"a&lt;b &amp; "c""#);
    }

    #[test]
    fn line_breaks_survive_attribute_normalization() {
        assert_eq!(escaped("one\r\ntwo\tthree", true), "one&#13;&#10;two&#9;three");
        assert_eq!(escaped("one\r\ntwo\tthree", false), "one&#13;\ntwo\tthree");
    }

    #[test]
    fn characters_xml_cannot_carry_become_the_replacement_character() {
        assert_eq!(
            escaped("a\u{0}b\u{b}c\u{1f}d\u{fffe}e\u{ffff}", true),
            "a\u{fffd}b\u{fffd}c\u{fffd}d\u{fffd}e\u{fffd}"
        );
        assert_eq!(escaped("Zoë – 東京 \u{7f}\u{85} 🙂", false), "Zoë – 東京 \u{7f}\u{85} 🙂");
    }
}
