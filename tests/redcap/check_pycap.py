"""PyCap 2.7.0, unchanged, against a demo server's REDCap API (/redcap/api/).

CARDIO-HF3 is in production and longitudinal (visits SCR, BL, W4, W12; a repeating
concomitant-medications instrument); SANDBOX is in development and classic, and starts empty:
this check gives it a dictionary with import_metadata, then reads and writes records and files.
Every call asserts on what a REDCap user would see. Exits non-zero on the first failure.
"""

import argparse
import io
from datetime import datetime, timedelta

import redcap
from redcap import Project, RedcapError


def expect_error(call, *words):
    """The call raises RedcapError, and its message holds every word."""
    try:
        result = call()
    except RedcapError as e:
        message = str(e)
        for w in words:
            assert w.lower() in message.lower(), f"error {message!r} does not mention {w!r}"
        return message
    raise AssertionError(f"expected a RedcapError mentioning {words}, got {result!r}")


def check_longitudinal(url, token):
    p = Project(url, token)
    version = p.export_version()
    assert version is not None and version.major >= 14, version
    info = p.export_project_info()
    assert isinstance(info, dict), info
    assert info["is_longitudinal"] == 1 and info["in_production"] == 1, info
    assert "CARDIO" in info["project_notes"], info

    meta = p.export_metadata()
    names = [m["field_name"] for m in meta]
    assert names[0] == "record_id" and "sbp" in names and "race" in names, names
    assert next(m for m in meta if m["field_name"] == "dob")["text_validation_type_or_show_slider_number"] == "date_mdy"
    assert [m["field_name"] for m in p.export_metadata(fields=["sbp"])] == ["sbp"]
    assert {m["form_name"] for m in p.export_metadata(forms=["eligibility"])} == {"eligibility"}
    assert p.def_field == "record_id" and p.is_longitudinal

    instruments = {i["instrument_name"]: i["instrument_label"] for i in p.export_instruments()}
    assert instruments["concomitant_medications"] == "Concomitant Medications", instruments
    export_names = [f["export_field_name"] for f in p.export_field_names()]
    assert "race___1" in export_names and "race" not in export_names, export_names
    assert [f["choice_value"] for f in p.export_field_names(field="sex")] == [""]

    arms = p.export_arms()
    assert [str(a["arm_num"]) for a in arms] == ["1"], arms
    events = [e["unique_event_name"] for e in p.export_events()]
    assert events[:2] == ["scr_arm_1", "bl_arm_1"], events
    mapping = p.export_instrument_event_mappings()
    assert {"arm_num": "1", "unique_event_name": "scr_arm_1", "form": "demographics"} in mapping, mapping
    assert not any(m["unique_event_name"] == "w4_arm_1" and m["form"] == "demographics" for m in mapping)
    repeating = p.export_repeating_instruments_events()
    assert {"event_name": "scr_arm_1", "form_name": "concomitant_medications", "custom_form_label": ""} in repeating

    records = p.export_records()
    assert records and all("redcap_event_name" in r for r in records), records[:2]
    ids = sorted({r["record_id"] for r in records})
    assert len(ids) >= 3, ids
    first = ids[0]
    scr = [r for r in records if r["record_id"] == first and r["redcap_event_name"] == "scr_arm_1"
           and r["redcap_repeat_instrument"] == ""]
    assert scr and scr[0]["sbp"] and scr[0]["vital_signs_complete"] == "2", scr
    assert "redcap_repeat_instance" in records[0]
    meds = [r for r in records if r["redcap_repeat_instrument"] == "concomitant_medications"]
    assert meds and meds[0]["cm_name"], meds[:1]

    one = p.export_records(records=[first], events=["scr_arm_1"], fields=["sbp"])
    assert {r["record_id"] for r in one} == {first} and {r["redcap_event_name"] for r in one} == {"scr_arm_1"}, one
    vitals = p.export_records(forms=["vital_signs"])
    assert "sbp" in vitals[0] and "initials" not in vitals[0], vitals[0]
    high = p.export_records(fields=["sbp"], filter_logic="[sbp] > 130")
    assert high and len({r["record_id"] for r in high}) < len(ids), high[:2]
    for rid in {r["record_id"] for r in high}:
        assert any(r["sbp"] and int(r["sbp"]) > 130 for r in high if r["record_id"] == rid), rid
    expect_error(lambda: p.export_records(fields=["no_such_field"]), "no_such_field")
    labelled = p.export_records(records=[first], fields=["sex"], events=["scr_arm_1"], raw_or_label="label")
    assert labelled[0]["sex"] in ("Male", "Female"), labelled
    assert labelled[0]["redcap_event_name"] != "scr_arm_1", labelled

    eav = p.export_records(record_type="eav", records=[first])
    assert eav and {"record", "field_name", "value"} <= set(eav[0]), eav[:1]
    assert any(r["field_name"] == "sbp" for r in eav)
    csv_text = p.export_records(format_type="csv", records=[first], fields=["sbp"])
    assert csv_text.startswith("record_id,redcap_event_name"), csv_text[:80]
    tomorrow = datetime.now() + timedelta(days=2)
    assert p.export_records(date_begin=tomorrow) == []
    assert p.export_records(date_end=tomorrow, records=[first])

    # Import: a changed value (a reason is recorded for us), ids, CSV, a bad value named.
    assert p.import_records([{"record_id": first, "redcap_event_name": "scr_arm_1", "hr": "71"}]) == {"count": 1}
    assert p.import_records(
        [{"record_id": first, "redcap_event_name": "scr_arm_1", "hr": "72"}], return_content="ids"
    ) == [first]
    csv_import = f"record_id,redcap_event_name,hr\n{first},scr_arm_1,73\n"
    assert p.import_records(csv_import, import_format="csv") == {"count": 1}
    now = p.export_records(records=[first], events=["scr_arm_1"], fields=["hr"])
    assert [r["hr"] for r in now if r["redcap_repeat_instrument"] == ""] == ["73"], now
    expect_error(
        lambda: p.import_records([{"record_id": first, "redcap_event_name": "scr_arm_1", "sbp": "very high"}]),
        "sbp",
    )
    expect_error(lambda: p.import_records([{"record_id": first, "redcap_event_name": "nowhere_arm_1", "hr": "70"}]))

    log = p.export_logging(record=first)
    assert log and all(e["record"] == first for e in log), log[:2]
    assert any("hr = '73'" in e["details"] for e in log), [e["details"] for e in log]
    assert {"timestamp", "username", "action", "details", "record"} <= set(log[0])
    edits = p.export_logging(log_type="record_edit", user="data.manager@demo.clinbridge.org")
    assert edits and all(e["action"].startswith("Update") for e in edits), edits[:2]
    assert p.export_logging(begin_time=tomorrow) == []

    next_name = p.generate_next_record_name()
    assert next_name.isdigit(), next_name
    expect_error(lambda: p.import_metadata(meta), "production")
    print(f"CARDIO-HF3: {len(ids)} records, {len(meta)} fields, longitudinal methods, import and logging checked")


SANDBOX_DICTIONARY = [
    {"field_name": "record_id", "form_name": "intake", "field_type": "text", "field_label": "Record ID"},
    {"field_name": "name", "form_name": "intake", "field_type": "text", "field_label": "Name"},
    {"field_name": "age", "form_name": "intake", "field_type": "text", "field_label": "Age",
     "text_validation_type_or_show_slider_number": "integer", "text_validation_min": "0",
     "text_validation_max": "120"},
    {"field_name": "visit_date", "form_name": "intake", "field_type": "text", "field_label": "Visit date",
     "text_validation_type_or_show_slider_number": "date_ymd"},
    {"field_name": "colour", "form_name": "intake", "field_type": "checkbox", "field_label": "Colours",
     "select_choices_or_calculations": "1, Red | 2, Green | 3, Blue"},
    {"field_name": "scan", "form_name": "documents", "field_type": "file", "field_label": "Scanned form"},
    {"field_name": "scan_note", "form_name": "documents", "field_type": "notes", "field_label": "Note",
     "branching_logic": "[age] >= 18"},
]


def check_classic(url, token):
    p = Project(url, token)
    assert p.export_metadata() == []
    assert p.export_project_info()["in_production"] == 0
    assert p.import_metadata(SANDBOX_DICTIONARY) == len(SANDBOX_DICTIONARY)
    back = p.export_metadata()
    assert [m["field_name"] for m in back] == [m["field_name"] for m in SANDBOX_DICTIONARY], back
    for sent, got in zip(SANDBOX_DICTIONARY, back):
        for k, v in sent.items():
            assert got[k] == v, (k, sent, got)
    csv_dictionary = p.export_metadata(format_type="csv")
    assert p.import_metadata(csv_dictionary, import_format="csv") == len(SANDBOX_DICTIONARY)
    assert p.export_metadata() == back
    expect_error(lambda: p.import_metadata([{"field_name": "record_id", "form_name": "x", "field_type": "nonsense"}]),
                 "field_type")
    assert [i["instrument_name"] for i in p.export_instruments()] == ["intake", "documents"]

    q = Project(url, token)  # a fresh project: PyCap caches metadata per object
    assert not q.is_longitudinal
    expect_error(q.export_arms, "You cannot export arms for classic projects")
    expect_error(q.export_events, "You cannot export events for classic projects")
    expect_error(q.export_instrument_event_mappings, "You cannot export form/event mappings for classic projects")
    assert q.export_repeating_instruments_events() == []

    rows = [
        {"record_id": "1", "name": "Ada", "age": "36", "visit_date": "2025-03-01", "colour___1": "1"},
        {"record_id": "2", "name": "Ben", "age": "17"},
    ]
    assert q.import_records(rows) == {"count": 2}
    got = {r["record_id"]: r for r in q.export_records()}
    assert got["1"]["name"] == "Ada" and got["1"]["colour___1"] == "1" and got["1"]["colour___2"] == "0", got
    assert "redcap_event_name" not in got["1"]
    assert q.generate_next_record_name() == "3"

    # Blank cells: kept by a normal import, erased by an overwrite.
    assert q.import_records([{"record_id": "1", "name": ""}]) == {"count": 1}
    assert q.export_records(records=["1"])[0]["name"] == "Ada"
    assert q.import_records([{"record_id": "1", "name": ""}], overwrite="overwrite") == {"count": 1}
    assert q.export_records(records=["1"])[0]["name"] == ""

    # Date order, auto-numbering, all or nothing.
    assert q.import_records([{"record_id": "1", "visit_date": "31/12/2025"}], date_format="DMY") == {"count": 1}
    assert q.export_records(records=["1"])[0]["visit_date"] == "2025-12-31"
    auto = q.import_records([{"record_id": "new-a", "name": "Cy"}], force_auto_number=True, return_content="auto_ids")
    assert auto == ["3,new-a"], auto
    expect_error(lambda: q.import_records([{"record_id": "4", "name": "Di"}, {"record_id": "5", "age": "old"}]), "age")
    assert q.export_records(records=["4"]) == []
    expect_error(lambda: q.import_records([{"record_id": "6", "no_such": "x"}]), "no_such")

    # Files: upload, download, the value in exports, removal, the trail.
    assert q.import_file("1", "scan", "scan.txt", io.BytesIO(b"scanned consent\n")) == [{}]
    content, headers = q.export_file("1", "scan")
    assert content == b"scanned consent\n" and headers.get("name") == "scan.txt", (content, headers)
    assert q.export_records(records=["1"], fields=["scan"])[0]["scan"] == "scan.txt"
    assert q.delete_file("1", "scan") == [{}]
    expect_error(lambda: q.export_file("1", "scan"), "file")
    assert q.export_records(records=["1"], fields=["scan"])[0]["scan"] == ""
    log = q.export_logging(record="1")
    assert any("scan = 'scan.txt'" in e["details"] for e in log), [e["details"] for e in log]
    assert any(e["action"].startswith("Create record 1") for e in log), [e["action"] for e in log]

    assert q.delete_records(["2"]) == 1
    assert q.export_records(records=["2"]) == []
    expect_error(lambda: q.delete_records(["no-such-record"]), "no-such-record")
    print("SANDBOX: import_metadata round trip, records, overwrite, dates, auto ids, files and deletion checked")


def check_refusals(url, hf3, monitor):
    bad = Project(url, "0123456789ABCDEF0123456789ABCDEF")
    expect_error(bad.export_metadata, "You do not have permissions to use the API")
    m = Project(url, monitor)
    assert m.export_metadata(), "a monitor reads the design"
    expect_error(lambda: m.import_records([{"record_id": "x", "hr": "70"}]), "privileges")
    expect_error(m.export_records, "privileges")
    expect_error(lambda: Project(url, hf3).export_records(format_type="json", record_type="wide"), "type")
    print("refusals: unknown token, a monitor's import and export")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--hf3", required=True)
    ap.add_argument("--sandbox", required=True)
    ap.add_argument("--monitor", required=True)
    a = ap.parse_args()
    print(f"PyCap {redcap.__version__ if hasattr(redcap, '__version__') else '2.7.0'} against {a.url}")
    check_longitudinal(a.url, a.hf3)
    check_classic(a.url, a.sandbox)
    check_refusals(a.url, a.hf3, a.monitor)
    print("PyCap: every check passed")


if __name__ == "__main__":
    main()
