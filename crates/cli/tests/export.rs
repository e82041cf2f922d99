//! `clinbridge export` and `clinbridge import` run as a user runs them, on a demo database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn clinbridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clinbridge")).args(args).env_remove("CLINBRIDGE_DATABASE_URL").output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn export_and_import_have_help() {
    for args in [
        vec!["export", "--help"],
        vec!["import", "--help"],
        vec!["export", "csv", "--help"],
        vec!["import", "odm", "--help"],
    ] {
        let o = clinbridge(&args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn exports_and_imports_a_demo_study() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let o = clinbridge(&["demo", "--seed-only", "--database-url", &url]);
    assert!(o.status.success(), "{}", text(&o));

    // Flat CSV.
    let csv_path = dir.path().join("hf3.csv");
    let csv_out = csv_path.to_str().unwrap();
    let o = clinbridge(&["export", "csv", "--study", "CARDIO-HF3", "--out", csv_out, "--database-url", &url]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Exported"), "{}", text(&o));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("record_id,redcap_event_name,"), "{header}");
    assert!(header.split(',').any(|c| c == "dob"));
    assert!(csv.lines().count() > 2);
    let name = csv.lines().nth(1).unwrap().split(',').next().unwrap().trim_matches('"').to_string();

    // De-identified, with labels, as a named user.
    let deid_path = dir.path().join("hf3-deid.csv");
    let o = clinbridge(&[
        "export",
        "csv",
        "--study",
        "cardio-hf3",
        "--out",
        deid_path.to_str().unwrap(),
        "--deidentified",
        "--labels",
        "--email",
        "data.manager@demo.clinbridge.org",
        "--database-url",
        &url,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let deid = std::fs::read_to_string(&deid_path).unwrap();
    assert!(deid.starts_with("record_id,"));
    assert!(!deid.lines().next().unwrap().split(',').any(|c| c == "dob"));

    // EAV and ODM with the audit trail.
    let eav_path = dir.path().join("hf3.eav.csv");
    let o = clinbridge(&[
        "export",
        "eav",
        "--study",
        "CARDIO-HF3",
        "--out",
        eav_path.to_str().unwrap(),
        "--database-url",
        &url,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(&eav_path).unwrap().starts_with("record,redcap_event_name,"));
    let odm_path = dir.path().join("hf3.odm.xml");
    let o = clinbridge(&[
        "export",
        "odm",
        "--study",
        "CARDIO-HF3",
        "--out",
        odm_path.to_str().unwrap(),
        "--audit",
        "--database-url",
        &url,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let odm = std::fs::read_to_string(&odm_path).unwrap();
    assert!(odm.starts_with("<?xml") && odm.contains("<ODM") && odm.contains("<AuditRecord"));

    // A sponsor viewer may not export; no file is left behind.
    let refused = dir.path().join("refused.csv");
    let o = clinbridge(&[
        "export",
        "csv",
        "--study",
        "CARDIO-HF3",
        "--out",
        refused.to_str().unwrap(),
        "--email",
        "sponsor.viewer@demo.clinbridge.org",
        "--database-url",
        &url,
    ]);
    assert!(!o.status.success());
    assert!(!refused.exists());

    // A refused import: non-zero, every row's problem printed.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("record_id,redcap_event_name,sbp\n{name},scr_arm_1,12\nNEW-1,nowhere_arm_1,120\n"))
        .unwrap();
    let import = |file: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "import",
            "csv",
            "--study",
            "CARDIO-HF3",
            "--file",
            file.to_str().unwrap(),
            "--email",
            "data.manager@demo.clinbridge.org",
            "--database-url",
            &url,
        ];
        args.extend_from_slice(extra);
        clinbridge(&args)
    };
    let o = import(&bad, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("row 2, sbp") && text(&o).contains("row 3, "), "{}", text(&o));

    // A good one.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, format!("record_id,redcap_event_name,sbp,vs_date\n{name},scr_arm_1,128,02-03-2025\n"))
        .unwrap();
    let o = import(&good, &["--date-format", "MDY", "--overwrite"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("Imported 1 record into CARDIO-HF3: {name}")), "{}", text(&o));
    let o = clinbridge(&["export", "csv", "--study", "CARDIO-HF3", "--out", csv_out, "--database-url", &url]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.contains("2025-02-03") && csv.contains(",128,"), "{csv}");

    // The whole export round-trips.
    let o = import(&csv_path, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let o = clinbridge(&[
        "import",
        "odm",
        "--study",
        "CARDIO-HF3",
        "--file",
        odm_path.to_str().unwrap(),
        "--email",
        "data.manager@demo.clinbridge.org",
        "--database-url",
        &url,
    ]);
    assert!(o.status.success(), "{}", text(&o));
}
