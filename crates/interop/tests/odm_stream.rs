//! ODM streaming and its edges: a million values written and read back through a pipe (neither
//! side ever holds the document), calls out of order and values the schema would refuse, and
//! the reader's treatment of documents other systems write — extensions, typed values, and
//! malformed or misnested input reported with its line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{TimeZone, Utc};
use clinbridge_interop::odm::*;
use std::io::{self, BufReader, Write};

fn header(file_type: FileType) -> FileHeader {
    FileHeader::new("F.STREAM", Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(), file_type)
}

/// Counts what reaches it and remembers the largest single write, keeping nothing.
#[derive(Default)]
struct CountingSink {
    bytes: u64,
    writes: u64,
    largest_write: usize,
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len() as u64;
        self.writes += 1;
        self.largest_write = self.largest_write.max(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `subjects` × 10 item groups × 100 values, one value at a time.
fn write_values<W: Write>(
    writer: &mut OdmWriter<W>,
    subjects: usize,
    mut after_subject: impl FnMut(&OdmWriter<W>, usize),
) {
    writer.begin_clinical_data("ST.1", "MDV.1").unwrap();
    for s in 0..subjects {
        writer
            .begin_subject(&SubjectData {
                subject_key: format!("S-{s:05}"),
                site_oid: Some("L.1".into()),
                ..Default::default()
            })
            .unwrap();
        writer.begin_study_event(&StudyEventData { study_event_oid: "SE.1".into(), ..Default::default() }).unwrap();
        writer.begin_form(&FormData { form_oid: "F.1".into(), ..Default::default() }).unwrap();
        for g in 0..10 {
            let group = ItemGroupData {
                item_group_oid: "IG.1".into(),
                repeat_key: Some((g + 1).to_string()),
                ..Default::default()
            };
            writer.begin_item_group(&group).unwrap();
            for i in 0..100 {
                writer.write_item(&ItemData::value(&format!("I.{i}"), &format!("{s}.{g}.{i}"))).unwrap();
            }
            writer.end_item_group().unwrap();
        }
        writer.end_form().unwrap();
        writer.end_study_event().unwrap();
        writer.end_subject().unwrap();
        after_subject(writer, s);
    }
    writer.end_clinical_data().unwrap();
}

#[test]
fn a_million_values_stream_through_the_writer_in_small_writes() {
    let mut writer = OdmWriter::new(CountingSink::default(), &header(FileType::Snapshot)).unwrap();
    let mut handed_over = Vec::new();
    write_values(&mut writer, 1000, |writer, _| handed_over.push(writer.get_ref().bytes));
    let sink = writer.finish().unwrap();
    // Each subject's thousand values (about 40 KB) reached the sink before the next subject
    // began: the writer hands bytes on as it goes instead of gathering the document.
    assert!(handed_over[0] > 0);
    assert!(handed_over.windows(2).all(|w| w[1] > w[0]), "the output grew with every subject");
    assert!(sink.bytes > 40_000_000, "{} bytes", sink.bytes);
    assert!(sink.bytes - handed_over[999] < 40 * 1024, "only the last partial chunk waits for finish()");
    assert!(sink.largest_write < 40 * 1024, "a write of {} bytes", sink.largest_write);
}

#[test]
fn a_million_values_go_from_writer_to_reader_through_a_pipe() {
    // The pipe holds a few kilobytes: the writer can only go on as fast as the reader takes
    // values, so neither side can be holding the document.
    let (pipe_reader, pipe_writer) = io::pipe().unwrap();
    let producer = std::thread::spawn(move || {
        let mut writer = OdmWriter::new(pipe_writer, &header(FileType::Snapshot)).unwrap();
        write_values(&mut writer, 1000, |_, _| {});
        writer.finish().unwrap();
    });
    let mut values = 0u64;
    let mut last = None;
    for part in ClinicalDataReader::new(BufReader::new(pipe_reader)) {
        match part.unwrap() {
            ClinicalDataPart::ClinicalData { study_oid, .. } => assert_eq!(study_oid, "ST.1"),
            ClinicalDataPart::Item(record) => {
                values += 1;
                last = Some(record);
            }
        }
    }
    producer.join().unwrap();
    assert_eq!(values, 1_000_000);
    let last = last.unwrap();
    assert_eq!(
        (
            last.subject_key.as_str(),
            last.site_oid.as_deref(),
            last.item_group_repeat_key.as_deref(),
            last.item_oid.as_str()
        ),
        ("S-00999", Some("L.1"), Some("10"), "I.99")
    );
    assert_eq!(last.value, ItemValue::Value("999.9.99".into()));
}

fn refused(result: io::Result<()>) -> String {
    let error = result.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{error}");
    error.to_string()
}

#[test]
fn calls_out_of_document_order_are_refused() {
    let mut writer = OdmWriter::new(Vec::new(), &header(FileType::Snapshot)).unwrap();
    assert!(refused(writer.write_item(&ItemData::value("I.1", "x"))).contains("inside ItemGroupData"));
    assert!(
        refused(writer.begin_subject(&SubjectData { subject_key: "S".into(), ..Default::default() }))
            .contains("inside ClinicalData")
    );
    assert!(refused(writer.end_form()).contains("cannot end FormData"));
    writer.write_admin_data(&AdminData::default()).unwrap();
    assert!(refused(writer.write_study(&Study::default())).contains("before"));
    writer.begin_clinical_data("ST.1", "MDV.1").unwrap();
    assert!(refused(writer.write_admin_data(&AdminData::default())).contains("inside an open ClinicalData"));
    assert!(
        refused(writer.begin_form(&FormData { form_oid: "F.1".into(), ..Default::default() }))
            .contains("inside StudyEventData")
    );
    let text = String::from_utf8(writer.finish().unwrap()).unwrap();
    assert!(text.ends_with("  <AdminData>\n  </AdminData>\n  <ClinicalData StudyOID=\"ST.1\" MetaDataVersionOID=\"MDV.1\">\n  </ClinicalData>\n</ODM>\n"), "{text}");
}

#[test]
fn values_the_schema_refuses_are_refused_and_leave_nothing_behind() {
    let mut writer = OdmWriter::new(Vec::new(), &header(FileType::Transactional)).unwrap();
    let mut study = Study { oid: "ST.1".into(), ..Default::default() };
    study.global_variables =
        GlobalVariables { study_name: "S".into(), study_description: String::new(), protocol_name: "P".into() };
    let mut item = ItemDef::new("I.1", "Item", DataType::Text);
    item.sas_field_name = Some("TOO_LONG_NAME".into());
    study.metadata_versions =
        vec![MetaDataVersion { oid: "MDV.1".into(), name: "V1".into(), item_defs: vec![item], ..Default::default() }];
    assert!(refused(writer.write_study(&study)).contains("SASFieldName"));
    study.metadata_versions[0].item_defs[0].sas_field_name = Some("ITEM1".into());
    study.metadata_versions[0].code_lists = vec![CodeList {
        oid: "CL.1".into(),
        name: "Empty".into(),
        data_type: CodeListDataType::Text,
        description: vec![],
        items: vec![],
        aliases: vec![],
    }];
    assert!(refused(writer.write_study(&study)).contains("CL.1"));
    study.metadata_versions[0].code_lists.clear();
    study.metadata_versions[0].condition_defs =
        vec![ConditionDef { oid: "C.1".into(), name: "C".into(), ..Default::default() }];
    assert!(refused(writer.write_study(&study)).contains("Description"));
    study.metadata_versions[0].condition_defs.clear();
    writer.write_study(&study).unwrap();

    writer.begin_clinical_data("ST.1", "MDV.1").unwrap();
    let subject = SubjectData { subject_key: "S-1".into(), ..Default::default() };
    assert!(refused(writer.begin_subject(&subject)).contains("TransactionType"));
    assert!(
        refused(writer.begin_subject(&SubjectData {
            subject_key: String::new(),
            transaction_type: Some(TransactionType::Insert),
            ..Default::default()
        }))
        .contains("SubjectKey must not be empty")
    );
    writer.begin_subject(&SubjectData { transaction_type: Some(TransactionType::Insert), ..subject }).unwrap();
    writer.begin_study_event(&StudyEventData { study_event_oid: "SE.1".into(), ..Default::default() }).unwrap();
    writer.begin_form(&FormData { form_oid: "F.1".into(), ..Default::default() }).unwrap();
    assert!(
        refused(writer.begin_item_group(&ItemGroupData {
            item_group_oid: "IG.1".into(),
            repeat_key: Some(String::new()),
            ..Default::default()
        }))
        .contains("ItemGroupRepeatKey")
    );
    writer.begin_item_group(&ItemGroupData { item_group_oid: "IG.1".into(), ..Default::default() }).unwrap();
    // A refused item in the middle of a group leaves no trace: the next one follows cleanly.
    let mut bad = ItemData::value("I.1", "lost");
    bad.audit_record = Some(AuditRecord {
        user_oid: String::new(),
        location_oid: "L.1".into(),
        date_time_stamp: Utc::now(),
        reason_for_change: None,
        source_id: None,
    });
    assert!(refused(writer.write_item(&bad)).contains("UserOID"));
    writer.write_item(&ItemData::value("I.1", "kept")).unwrap();
    let bytes = writer.finish().unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        !text.contains("lost") && !text.contains("TOO_LONG") && !text.contains("CL.1") && !text.contains("C.1"),
        "{text}"
    );
    let values: Vec<ItemValue> = ClinicalDataReader::new(bytes.as_slice())
        .filter_map(|p| match p.unwrap() {
            ClinicalDataPart::Item(r) => Some(r.value),
            ClinicalDataPart::ClinicalData { .. } => None,
        })
        .collect();
    assert_eq!(values, vec![ItemValue::Value("kept".into())]);
}

fn items(document: &str) -> Vec<ItemRecord> {
    ClinicalDataReader::new(document.as_bytes())
        .filter_map(|p| match p.unwrap() {
            ClinicalDataPart::Item(r) => Some(r),
            ClinicalDataPart::ClinicalData { .. } => None,
        })
        .collect()
}

fn first_error(document: &str) -> ReadError {
    let mut reader = ClinicalDataReader::new(document.as_bytes());
    let error = reader.by_ref().find_map(Result::err).expect("an error");
    assert!(reader.next().is_none(), "the reader stops after an error");
    error
}

const ODM_START: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" xmlns:vendor="urn:example:vendor" ODMVersion="1.3.2" FileType="Snapshot" FileOID="F" CreationDateTime="2025-03-01T12:00:00Z">"#;

#[test]
fn the_reader_skips_metadata_admin_reference_data_and_extensions() {
    let document = format!(
        r#"{ODM_START}
  <Study OID="ST.1"><GlobalVariables><StudyName>S &amp; T</StudyName><StudyDescription/><ProtocolName>P</ProtocolName></GlobalVariables></Study>
  <AdminData><User OID="U.1"/></AdminData>
  <ReferenceData StudyOID="ST.1" MetaDataVersionOID="MDV.1">
    <ItemGroupData ItemGroupOID="IG.REF"><ItemData ItemOID="I.REF" Value="not clinical"/></ItemGroupData>
  </ReferenceData>
  <ClinicalData StudyOID="ST.1" MetaDataVersionOID="MDV.1">
    <SubjectData SubjectKey="S-1" TransactionType="Insert">
      <vendor:Status>locked<ItemData ItemOID="I.HIDDEN" Value="inside an extension"/></vendor:Status>
      <SiteRef LocationOID="L.1"/>
      <StudyEventData StudyEventOID="SE.1" StudyEventRepeatKey="2">
        <FormData FormOID="F.1" FormRepeatKey="1" TransactionType="Update">
          <ItemGroupData ItemGroupOID="IG.1">
            <ItemData ItemOID="I.1" Value="a&#10;b&#x9;c"/>
            <ItemData ItemOID="I.2" Value="x
y" TransactionType="Upsert">
              <AuditRecord><UserRef UserOID="U.1"/><LocationRef LocationOID="L.1"/><DateTimeStamp>2025-02-01T00:00:00Z</DateTimeStamp></AuditRecord>
              <vendor:Note>ignored</vendor:Note>
            </ItemData>
            <vendor:Extra/>
          </ItemGroupData>
        </FormData>
      </StudyEventData>
    </SubjectData>
    <AuditRecords/>
  </ClinicalData>
</ODM>"#
    );
    let records = items(&document);
    assert_eq!(records.len(), 2, "{records:#?}");
    let first = &records[0];
    assert_eq!(
        (
            first.subject_key.as_str(),
            first.site_oid.as_deref(),
            first.study_event_oid.as_str(),
            first.study_event_repeat_key.as_deref()
        ),
        ("S-1", Some("L.1"), "SE.1", Some("2"))
    );
    assert_eq!(
        (first.form_oid.as_str(), first.form_repeat_key.as_deref(), first.item_group_repeat_key.as_deref()),
        ("F.1", Some("1"), None)
    );
    // Character references keep line breaks and tabs; the inherited transaction type is the form's.
    assert_eq!(first.value, ItemValue::Value("a\nb\tc".into()));
    assert_eq!(first.transaction_type, Some(TransactionType::Update));
    assert_eq!(first.line, 15);
    // A literal line break in an attribute is a space to every conforming parser.
    assert_eq!(records[1].value, ItemValue::Value("x y".into()));
    assert_eq!(records[1].transaction_type, Some(TransactionType::Upsert));
}

#[test]
fn typed_item_data_elements_are_read_too() {
    let document = format!(
        r#"{ODM_START}
  <ClinicalData StudyOID="ST.1" MetaDataVersionOID="MDV.1">
    <SubjectData SubjectKey="S-1"><StudyEventData StudyEventOID="SE.1"><FormData FormOID="F.1"><ItemGroupData ItemGroupOID="IG.1">
      <ItemDataString ItemOID="I.1">Tom &amp; Jerry <![CDATA[<b>]]> &#233;</ItemDataString>
      <ItemDataInteger ItemOID="I.2">42</ItemDataInteger>
      <ItemDataAny ItemOID="I.3" IsNull="Yes"/>
      <ItemDataString ItemOID="I.4"/>
    </ItemGroupData></FormData></StudyEventData></SubjectData>
  </ClinicalData>
</ODM>"#
    );
    let values: Vec<(String, ItemValue)> = items(&document).into_iter().map(|r| (r.item_oid, r.value)).collect();
    assert_eq!(
        values,
        vec![
            ("I.1".into(), ItemValue::Value("Tom & Jerry <b> é".into())),
            ("I.2".into(), ItemValue::Value("42".into())),
            ("I.3".into(), ItemValue::Null),
            ("I.4".into(), ItemValue::Value(String::new())),
        ]
    );
}

#[test]
fn item_data_outside_the_expected_nesting_names_its_line() {
    let document = format!(
        r#"{ODM_START}
  <ClinicalData StudyOID="ST.1" MetaDataVersionOID="MDV.1">
    <SubjectData SubjectKey="S-1">
      <StudyEventData StudyEventOID="SE.1">
        <FormData FormOID="F.1">
          <ItemData ItemOID="I.1" Value="orphan"/>
        </FormData>
      </StudyEventData>
    </SubjectData>
  </ClinicalData>
</ODM>"#
    );
    let error = first_error(&document);
    assert_eq!(error.line(), 7, "{error}");
    assert_eq!(
        error.to_string(),
        "line 7: ItemData outside the expected nesting: it belongs inside ItemGroupData, not FormData"
    );

    let document = format!("{ODM_START}\n  <SubjectData SubjectKey=\"S-1\"/>\n</ODM>");
    assert_eq!(
        first_error(&document).to_string(),
        "line 3: SubjectData outside the expected nesting: it belongs inside ClinicalData, not ODM"
    );
}

#[test]
fn malformed_xml_names_its_line() {
    let document = format!(
        r#"{ODM_START}
  <ClinicalData StudyOID="ST.1" MetaDataVersionOID="MDV.1">
    <SubjectData SubjectKey="S-1">
    </SubjectDatum>
  </ClinicalData>
</ODM>"#
    );
    let error = first_error(&document);
    assert!(matches!(error, ReadError::Malformed { .. }), "{error}");
    assert_eq!(error.line(), 5, "{error}");

    let unquoted = format!("{ODM_START}\n\n  <ClinicalData StudyOID=ST.1 MetaDataVersionOID=\"MDV.1\"/>\n</ODM>");
    let error = first_error(&unquoted);
    assert!(matches!(error, ReadError::Malformed { .. }), "{error}");
    assert_eq!(error.line(), 4, "{error}");

    let truncated = format!(
        "{ODM_START}\n  <ClinicalData StudyOID=\"ST.1\" MetaDataVersionOID=\"MDV.1\">\n    <SubjectData SubjectKey=\"S-1\">\n"
    );
    let error = first_error(&truncated);
    assert!(error.to_string().contains("ends inside SubjectData"), "{error}");
    assert_eq!(error.line(), 5);
}

#[test]
fn documents_that_are_not_odm_or_not_utf_8_are_refused() {
    let error = first_error("<?xml version=\"1.0\"?>\n<Export><ItemData ItemOID=\"I\"/></Export>");
    assert_eq!(
        error.to_string(),
        "line 2: not an ODM 1.3 document: the root is Export (expected ODM in http://www.cdisc.org/ns/odm/v1.3)"
    );
    let error = first_error("<ODM xmlns=\"http://www.cdisc.org/ns/odm/v1.2\"/>");
    assert!(error.to_string().contains("not an ODM 1.3 document"), "{error}");
    let error = first_error(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<ODM xmlns=\"http://www.cdisc.org/ns/odm/v1.3\"/>",
    );
    assert_eq!(error.to_string(), "line 1: the document is in ISO-8859-1; only UTF-8 is read");
    assert!(first_error("").to_string().contains("no ODM element"));
}

#[test]
fn entities_from_a_dtd_are_not_expanded() {
    let document = r#"<?xml version="1.0"?>
<!DOCTYPE ODM [<!ENTITY big "lots and lots">]>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3">
  <ClinicalData StudyOID="ST.1" MetaDataVersionOID="MDV.1">
    <SubjectData SubjectKey="S-1"><StudyEventData StudyEventOID="SE.1"><FormData FormOID="F.1"><ItemGroupData ItemGroupOID="IG.1">
      <ItemData ItemOID="I.1" Value="&big;"/>
    </ItemGroupData></FormData></StudyEventData></SubjectData>
  </ClinicalData>
</ODM>"#;
    let error = first_error(document);
    assert!(matches!(error, ReadError::Malformed { line: 6, .. }), "{error}");
}

#[test]
fn bad_attributes_name_the_element_and_line() {
    let wrap = |item: &str| {
        format!(
            "{ODM_START}\n<ClinicalData StudyOID=\"ST.1\" MetaDataVersionOID=\"MDV.1\"><SubjectData SubjectKey=\"S\"><StudyEventData StudyEventOID=\"SE\"><FormData FormOID=\"F\"><ItemGroupData ItemGroupOID=\"IG\">\n{item}\n</ItemGroupData></FormData></StudyEventData></SubjectData></ClinicalData></ODM>"
        )
    };
    assert_eq!(
        first_error(&wrap(r#"<ItemData ItemOID="I" Value="1" IsNull="Yes"/>"#)).to_string(),
        "line 4: ItemData \"I\" has both a Value and IsNull"
    );
    assert_eq!(
        first_error(&wrap(r#"<ItemData ItemOID="I" TransactionType="Delete"/>"#)).to_string(),
        "line 4: ItemData: unknown TransactionType \"Delete\""
    );
    assert_eq!(first_error(&wrap(r#"<ItemData Value="1"/>"#)).to_string(), "line 4: ItemData has no ItemOID");
    assert_eq!(
        first_error(&wrap(r#"<ItemData ItemOID="I" IsNull="No"/>"#)).to_string(),
        "line 4: ItemData: IsNull is \"No\"; only \"Yes\" is allowed"
    );
}
