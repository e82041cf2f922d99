//! The authorization matrix: every route × every role (plus no one signed in), acting on
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! objects of another site or study. The test fails when a route exists that the matrix does
//! not list, or when a route lets in someone it should not (or keeps out someone it should
//! let in).

mod common;

use clinbridge_core::identity::{Grant, NewPassword, Role, Scope, TimeZone};
use clinbridge_store::{Acting, identity, tasks};
use clinbridge_testkit::{TestDb, both_backends};
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user.
    Signed,
    /// Only these roles (with the demo scopes).
    Only(&'static [&'static str]),
    /// Only these roles; to anyone else the object does not exist (404), or, when they may
    /// see it but not change it, 403.
    Hidden(&'static [&'static str]),
    /// Nobody: the object belongs to someone else.
    Nobody,
    /// Authorized by a token in the request body, never by the session: everyone, signed in
    /// or not, is refused (401 or 403) with a token that does not exist. Which people a real
    /// token lets in is tested per call in tests/redcap.rs.
    Token,
}

#[derive(Clone, Copy)]
enum Body {
    None,
    Json(&'static str),
    Form(&'static str),
    Csv(&'static str),
}

const TASK_WRITERS: &[&str] = &[
    "admin",
    "coordinator",
    "investigator",
    "monitor",
    "data_manager",
    "msl",
    "medical_manager",
    "commercial",
    "clinical_specialist",
    "liaison",
];
const SITE_READERS: &[&str] = &[
    "admin",
    "coordinator",
    "investigator",
    "monitor",
    "data_manager",
    "sponsor_viewer",
    "auditor",
    "msl",
    "medical_manager",
    "liaison",
];
/// Who may read the Chicago site: organization-wide site readers and the Chicago liaison.
const CHICAGO_READERS: &[&str] = &["admin", "auditor", "msl", "medical_manager", "liaison"];
const ADMIN: &[&str] = &["admin"];
/// Who may list studies: every role with read access to trials somewhere.
const STUDY_LISTERS: &[&str] = &[
    "admin",
    "coordinator",
    "investigator",
    "monitor",
    "data_manager",
    "sponsor_viewer",
    "auditor",
    "msl",
    "medical_manager",
];
/// Who may read a study none of the demo people is assigned to: organization-wide readers.
const OTHER_STUDY_READERS: &[&str] = &["admin", "auditor", "msl", "medical_manager"];
const AUDIT: &[&str] = &["admin", "auditor"];
/// Who reads participants of a study and site none of the demo people works at: auditors.
const OTHER_PARTICIPANT_READERS: &[&str] = &["auditor"];
const NOBODY: &[&str] = &[];
/// Who reads the Chicago calendar (a site-wide scheduling grant there): auditors.
const SITE_CALENDAR_READERS: &[&str] = &["auditor"];
/// Who reads data capture of a study and site none of the demo people works at: auditors.
const EDC_OTHER_READERS: &[&str] = &["auditor"];
/// Field medical: organization-wide, walled off from commercial roles.
const MEDICAL_READERS: &[&str] = &["msl", "medical_manager", "auditor"];
const MEDICAL_WRITERS: &[&str] = &["msl", "medical_manager"];
const MEDICAL_ADMINS: &[&str] = &["medical_manager"];
/// Who reads device field records: clinical specialists, commercial users and auditors.
const DEVICE_READERS: &[&str] = &["clinical_specialist", "commercial", "auditor"];
/// Who changes device field records.
const DEVICE_WRITERS: &[&str] = &["clinical_specialist"];

/// Every route with who may use it. Sign-out routes come last so the others run signed in.
const MATRIX: &[(&str, &str, Expect, Body)] = &[
    ("GET", "/healthz", Expect::Public, Body::None),
    ("GET", "/assets/app.css", Expect::Public, Body::None),
    ("GET", "/assets/htmx.min.js", Expect::Public, Body::None),
    ("GET", "/assets/icon.svg", Expect::Public, Body::None),
    ("GET", "/assets/edc-form.js", Expect::Public, Body::None),
    ("GET", "/favicon.ico", Expect::Public, Body::None),
    ("GET", "/api/openapi.json", Expect::Public, Body::None),
    (
        "POST",
        "/api/v1/session",
        Expect::Public,
        Body::Json(r#"{"email":"nobody@example.org","password":"not a password"}"#),
    ),
    ("GET", "/api/v1/me", Expect::Signed, Body::None),
    ("GET", "/api/v1/users", Expect::Only(ADMIN), Body::None),
    (
        "POST",
        "/api/v1/users",
        Expect::Only(ADMIN),
        Body::Json(r#"{"email":"matrix.api@example.org","name":"Matrix Api","grants":[]}"#),
    ),
    ("GET", "/api/v1/users/{id}", Expect::Only(ADMIN), Body::None),
    (
        "POST",
        "/api/v1/users/{id}/grants",
        Expect::Only(ADMIN),
        Body::Json(r#"{"role":"monitor","scope":"site","code":"CHI"}"#),
    ),
    ("POST", "/api/v1/users/{id}/deactivate", Expect::Only(ADMIN), Body::Json(r#"{"reason":"matrix"}"#)),
    ("POST", "/api/v1/users/{id}/activate", Expect::Only(ADMIN), Body::None),
    ("DELETE", "/api/v1/grants/{id}", Expect::Only(ADMIN), Body::None),
    ("GET", "/api/v1/sites", Expect::Signed, Body::None),
    (
        "POST",
        "/api/v1/sites",
        Expect::Only(ADMIN),
        Body::Json(r#"{"code":"MTX","name":"Matrix Clinic","time_zone":"UTC"}"#),
    ),
    ("GET", "/api/v1/sites/{id}", Expect::Only(CHICAGO_READERS), Body::None),
    (
        "PUT",
        "/api/v1/sites/{id}",
        Expect::Only(ADMIN),
        Body::Json(
            r#"{"code":"CHI","name":"Lakeshore University Hospital — Chicago","time_zone":"America/Chicago","address":"251 East Huron Street, Chicago, IL 60611"}"#,
        ),
    ),
    ("GET", "/api/v1/tokens", Expect::Signed, Body::None),
    ("POST", "/api/v1/tokens", Expect::Signed, Body::Json(r#"{"name":"matrix"}"#)),
    ("DELETE", "/api/v1/tokens/{id}", Expect::Only(ADMIN), Body::None),
    ("GET", "/api/v1/audit", Expect::Only(AUDIT), Body::None),
    ("GET", "/api/v1/audit/export.csv", Expect::Only(AUDIT), Body::None),
    ("GET", "/api/v1/tasks", Expect::Signed, Body::None),
    (
        "POST",
        "/api/v1/tasks",
        Expect::Only(TASK_WRITERS),
        Body::Json(r#"{"title":"Matrix follow-up","due_at":"2030-01-01T09:00:00Z"}"#),
    ),
    ("GET", "/api/v1/tasks/{id}", Expect::Nobody, Body::None),
    ("POST", "/api/v1/tasks/{id}/status", Expect::Nobody, Body::Json(r#"{"status":"done"}"#)),
    ("GET", "/api/v1/notifications", Expect::Signed, Body::None),
    ("POST", "/api/v1/notifications/read", Expect::Signed, Body::None),
    ("GET", "/login", Expect::Public, Body::None),
    ("POST", "/login", Expect::Public, Body::Form("email=nobody%40example.org&password=not+a+password")),
    ("GET", "/login/totp", Expect::Public, Body::None),
    ("POST", "/login/totp", Expect::Public, Body::Form("code=000000")),
    ("GET", "/", Expect::Signed, Body::None),
    (
        "POST",
        "/tasks",
        Expect::Only(TASK_WRITERS),
        Body::Form("title=Matrix&due_date=2030-01-02&due_time=09%3A00&detail="),
    ),
    ("POST", "/tasks/{id}/done", Expect::Nobody, Body::None),
    ("POST", "/tasks/{id}/cancel", Expect::Nobody, Body::None),
    ("GET", "/notifications", Expect::Signed, Body::None),
    ("POST", "/notifications/read", Expect::Signed, Body::None),
    ("GET", "/profile", Expect::Signed, Body::None),
    (
        "POST",
        "/profile/password",
        Expect::Signed,
        Body::Form("current=wrong&new_password=another+long+passphrase&confirm=another+long+passphrase"),
    ),
    ("GET", "/profile/totp", Expect::Signed, Body::None),
    ("POST", "/profile/totp/start", Expect::Signed, Body::None),
    ("POST", "/profile/totp/confirm", Expect::Signed, Body::Form("code=000000")),
    ("POST", "/profile/totp/disable", Expect::Signed, Body::Form("password=wrong")),
    ("GET", "/profile/tokens", Expect::Signed, Body::None),
    ("POST", "/profile/tokens", Expect::Signed, Body::Form("name=matrix")),
    ("POST", "/profile/tokens/{id}/revoke", Expect::Nobody, Body::None),
    ("POST", "/profile/redcap-tokens", Expect::Hidden(EDC_OTHER_READERS), Body::Form("study=OTHER-01")),
    ("POST", "/profile/redcap-tokens/{id}/revoke", Expect::Hidden(NOBODY), Body::None),
    (
        "POST",
        "/redcap/api/",
        Expect::Token,
        Body::Form("token=0123456789ABCDEF0123456789ABCDEF&content=record&format=json"),
    ),
    ("POST", "/redcap/api", Expect::Token, Body::Form("token=0123456789ABCDEF0123456789ABCDEF&content=metadata")),
    ("GET", "/admin/users", Expect::Only(ADMIN), Body::None),
    (
        "POST",
        "/admin/users",
        Expect::Only(ADMIN),
        Body::Form("name=Matrix+Page&email=matrix.page%40example.org&time_zone=UTC&role=monitor&scope=site%3ACHI"),
    ),
    ("GET", "/admin/users/{id}", Expect::Only(ADMIN), Body::None),
    ("POST", "/admin/users/{id}/grants", Expect::Only(ADMIN), Body::Form("role=auditor&scope=organization")),
    ("POST", "/admin/users/{id}/active", Expect::Only(ADMIN), Body::Form("active=false&reason=matrix")),
    ("POST", "/admin/users/{id}/password", Expect::Only(ADMIN), Body::None),
    ("POST", "/admin/users/{id}/totp/disable", Expect::Only(ADMIN), Body::Form("reason=matrix")),
    ("POST", "/admin/grants/{id}/delete", Expect::Only(ADMIN), Body::None),
    ("POST", "/admin/tokens/{id}/revoke", Expect::Only(ADMIN), Body::None),
    ("GET", "/admin/sites", Expect::Only(SITE_READERS), Body::None),
    ("POST", "/admin/sites", Expect::Only(ADMIN), Body::Form("code=MTX2&name=Matrix+Two&time_zone=UTC&address=")),
    ("GET", "/admin/sites/{id}", Expect::Only(CHICAGO_READERS), Body::None),
    (
        "POST",
        "/admin/sites/{id}",
        Expect::Only(ADMIN),
        Body::Form("code=CHI&name=Lakeshore+University+Hospital&time_zone=America%2FChicago&address=&active=true"),
    ),
    ("GET", "/admin/security", Expect::Only(ADMIN), Body::None),
    ("POST", "/admin/security", Expect::Only(ADMIN), Body::Form("")),
    ("GET", "/api/v1/studies", Expect::Only(STUDY_LISTERS), Body::None),
    (
        "POST",
        "/api/v1/studies",
        Expect::Only(ADMIN),
        Body::Json(r#"{"code":"MTX-API","title":"Matrix study","phase":"phase_2"}"#),
    ),
    ("GET", "/api/v1/studies/{code}", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    (
        "PUT",
        "/api/v1/studies/{code}",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"title":"Another sponsor's study","phase":"phase_2"}"#),
    ),
    ("POST", "/api/v1/studies/{code}/status", Expect::Hidden(ADMIN), Body::Json(r#"{"status":"approved"}"#)),
    (
        "POST",
        "/api/v1/studies/{code}/arms",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"code":"A","name":"Arm A","allocation_ratio":1}"#),
    ),
    (
        "POST",
        "/api/v1/studies/{code}/protocol-versions",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"version":"1.0","effective_on":"2026-01-01"}"#),
    ),
    ("GET", "/api/v1/studies/{code}/sites", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    (
        "POST",
        "/api/v1/studies/{code}/sites",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"site_code":"SEA","irb_name":"Cascade Regional IRB"}"#),
    ),
    (
        "PUT",
        "/api/v1/studies/{code}/sites/{site}",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"irb_name":"Lakeshore University IRB","target_enrollment":20}"#),
    ),
    ("GET", "/api/v1/studies/{code}/sites/{site}/delegation", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    (
        "POST",
        "/api/v1/studies/{code}/sites/{site}/delegation",
        Expect::Hidden(ADMIN),
        Body::Json(
            r#"{"user_email":"admin@demo.clinbridge.org","study_role":"Study administrator","duties":["enter_data"],"start_on":"2026-01-01"}"#,
        ),
    ),
    ("POST", "/api/v1/delegation/{id}/sign", Expect::Hidden(&[]), Body::Json(r#"{"password":"clinbridge-demo-2026"}"#)),
    ("POST", "/api/v1/delegation/{id}/end", Expect::Hidden(ADMIN), Body::Json(r#"{"end_on":"2026-12-31"}"#)),
    ("GET", "/api/v1/studies/{code}/visits", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    (
        "POST",
        "/api/v1/studies/{code}/visits",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"code":"W8","name":"Week 8","anchor":"randomization","offset_days":56,"kind":"scheduled"}"#),
    ),
    (
        "PUT",
        "/api/v1/visits/{id}",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"code":"BL","name":"Baseline","anchor":"randomization","offset_days":0,"kind":"scheduled"}"#),
    ),
    ("DELETE", "/api/v1/visits/{id}", Expect::Hidden(ADMIN), Body::None),
    ("GET", "/api/v1/studies/{code}/participants", Expect::Hidden(OTHER_PARTICIPANT_READERS), Body::None),
    (
        "POST",
        "/api/v1/studies/{code}/sites/{site}/participants",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"status":"screening"}"#),
    ),
    ("GET", "/api/v1/participants/{id}", Expect::Hidden(OTHER_PARTICIPANT_READERS), Body::None),
    ("GET", "/api/v1/participants/{id}/contact", Expect::Hidden(NOBODY), Body::None),
    (
        "PUT",
        "/api/v1/participants/{id}/contact",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"given_name":"Ann","family_name":"Other"}"#),
    ),
    (
        "POST",
        "/api/v1/participants/{id}/status",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"status":"screen_failed","reason_code":"declined"}"#),
    ),
    (
        "POST",
        "/api/v1/participants/{id}/eligibility",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"answers":[{"code":"I1","answer":"yes","source":"Chart"}]}"#),
    ),
    (
        "POST",
        "/api/v1/participants/{id}/eligibility/sign",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"password":"clinbridge-demo-2026"}"#),
    ),
    ("POST", "/api/v1/participants/{id}/randomize", Expect::Hidden(NOBODY), Body::Json(r#"{}"#)),
    (
        "POST",
        "/api/v1/participants/{id}/unblind",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"reason":"Emergency surgery needs the arm"}"#),
    ),
    ("GET", "/api/v1/participants/{id}/visits", Expect::Hidden(OTHER_PARTICIPANT_READERS), Body::None),
    ("GET", "/api/v1/studies/{code}/consent-documents", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    (
        "POST",
        "/api/v1/studies/{code}/consent-documents",
        Expect::Hidden(ADMIN),
        Body::Json(
            r#"{"version_label":"9.0","language":"fr","title":"Formulaire","irb_approved_on":"2026-01-01","effective_on":"2026-01-02","body":"Texte","pdf_name":"f.pdf","pdf_base64":"JVBERi0xLjQK"}"#,
        ),
    ),
    ("GET", "/api/v1/consent-documents/{id}/pdf", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    (
        "POST",
        "/api/v1/consent-documents/{id}/retire",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"retired_on":"2099-01-01"}"#),
    ),
    ("GET", "/api/v1/participants/{id}/consents", Expect::Hidden(OTHER_PARTICIPANT_READERS), Body::None),
    (
        "POST",
        "/api/v1/participants/{id}/consents",
        Expect::Hidden(NOBODY),
        Body::Json(
            r#"{"document_id":"00000000-0000-0000-0000-000000000000","method":"paper","signer_name":"A B","copy_provided":true}"#,
        ),
    ),
    (
        "POST",
        "/api/v1/participants/{id}/kiosk-links",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"document_id":"00000000-0000-0000-0000-000000000000"}"#),
    ),
    (
        "POST",
        "/api/v1/consent-events/{id}/countersign",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"password":"clinbridge-demo-2026"}"#),
    ),
    ("GET", "/api/v1/consent-events/{id}/snapshot", Expect::Hidden(NOBODY), Body::None),
    ("GET", "/studies/{code}/consent", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    ("POST", "/studies/{code}/consent", Expect::Hidden(ADMIN), Body::Form("version_label=9.0")),
    ("POST", "/consent-documents/{id}/retire", Expect::Hidden(ADMIN), Body::Form("retired_on=2099-01-01")),
    ("POST", "/participants/{id}/consents", Expect::Hidden(NOBODY), Body::Form("method=paper&signer_name=A+B")),
    ("POST", "/participants/{id}/kiosk-links", Expect::Hidden(NOBODY), Body::Form("document_id=x")),
    ("POST", "/consent-events/{id}/countersign", Expect::Hidden(NOBODY), Body::Form("password=x")),
    ("GET", "/consent-events/{id}/snapshot", Expect::Hidden(NOBODY), Body::None),
    ("GET", "/api/v1/studies/{code}/edc/metadata", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    ("GET", "/api/v1/studies/{code}/edc/dictionary.csv", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    ("PUT", "/api/v1/studies/{code}/edc/dictionary", Expect::Hidden(NOBODY), Body::None),
    ("PUT", "/api/v1/studies/{code}/edc/design", Expect::Hidden(NOBODY), Body::Json(r#"{"missing_codes":""}"#)),
    ("POST", "/api/v1/studies/{code}/edc/publish", Expect::Hidden(NOBODY), Body::Json(r#"{"reason":"matrix"}"#)),
    ("DELETE", "/api/v1/studies/{code}/edc/draft", Expect::Hidden(NOBODY), Body::None),
    ("GET", "/api/v1/studies/{code}/edc/export", Expect::Hidden(NOBODY), Body::None),
    ("POST", "/api/v1/studies/{code}/edc/import", Expect::Hidden(NOBODY), Body::None),
    ("GET", "/studies/{code}/edc", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    ("POST", "/studies/{code}/edc/dictionary", Expect::Hidden(NOBODY), Body::Form("dictionary=x")),
    ("POST", "/studies/{code}/edc/instruments", Expect::Hidden(NOBODY), Body::Form("label.matrix=Matrix")),
    ("POST", "/studies/{code}/edc/event-forms", Expect::Hidden(NOBODY), Body::Form("map=SCR%7Cmatrix")),
    ("POST", "/studies/{code}/edc/missing-codes", Expect::Hidden(NOBODY), Body::Form("missing_codes=")),
    ("POST", "/studies/{code}/edc/publish", Expect::Hidden(NOBODY), Body::Form("reason=matrix")),
    ("POST", "/studies/{code}/edc/discard", Expect::Hidden(NOBODY), Body::None),
    ("POST", "/studies/{code}/edc/import", Expect::Hidden(NOBODY), Body::None),
    (
        "POST",
        "/studies/{code}/edc/fields",
        Expect::Hidden(NOBODY),
        Body::Form("field_name=x&form_name=matrix&field_type=text"),
    ),
    ("GET", "/studies/{code}/edc/fields/{name}", Expect::Hidden(NOBODY), Body::None),
    (
        "POST",
        "/studies/{code}/edc/fields/{name}",
        Expect::Hidden(NOBODY),
        Body::Form("form_name=matrix&field_type=text"),
    ),
    ("POST", "/studies/{code}/edc/fields/{name}/delete", Expect::Hidden(NOBODY), Body::None),
    ("POST", "/studies/{code}/edc/fields/{name}/move", Expect::Hidden(NOBODY), Body::Form("direction=up")),
    ("GET", "/kiosk/{token}", Expect::Public, Body::None),
    ("POST", "/kiosk/{token}", Expect::Public, Body::Form("signer_name=A+B")),
    (
        "POST",
        "/api/v1/participant-visits/{id}",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"outcome":"missed","note":"No show"}"#),
    ),
    ("GET", "/api/v1/studies/{code}/criteria", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    (
        "POST",
        "/api/v1/studies/{code}/criteria",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"kind":"exclusion","code":"E9","text":"Prior enrollment"}"#),
    ),
    (
        "PUT",
        "/api/v1/studies/{code}/subject-id-pattern",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"pattern":"{site}-{seq:04}"}"#),
    ),
    ("GET", "/api/v1/studies/{code}/screening-log", Expect::Hidden(OTHER_PARTICIPANT_READERS), Body::None),
    (
        "POST",
        "/api/v1/studies/{code}/sites/{site}/screening-log",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"logged_on":"2026-01-05","reason_code":"declined","candidates":2}"#),
    ),
    ("GET", "/api/v1/studies/{code}/funnel", Expect::Hidden(OTHER_PARTICIPANT_READERS), Body::None),
    ("GET", "/api/v1/studies/{code}/enrollment", Expect::Hidden(OTHER_PARTICIPANT_READERS), Body::None),
    ("GET", "/api/v1/studies/{code}/randomization", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    (
        "POST",
        "/api/v1/studies/{code}/randomization",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"blinded":true,"block_sizes":[2],"list_length":10}"#),
    ),
    (
        "POST",
        "/api/v1/studies/{code}/unblinded-team",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"user_email":"admin@demo.clinbridge.org","member":true}"#),
    ),
    ("GET", "/studies", Expect::Only(STUDY_LISTERS), Body::None),
    (
        "POST",
        "/studies",
        Expect::Only(ADMIN),
        Body::Form("code=MTX-PAGE&title=Matrix+page+study&phase=phase_2&target_enrollment=10"),
    ),
    ("GET", "/studies/{code}", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    (
        "POST",
        "/studies/{code}",
        Expect::Hidden(ADMIN),
        Body::Form("title=Another+sponsor%27s+study&phase=phase_3&target_enrollment=50"),
    ),
    ("POST", "/studies/{code}/status", Expect::Hidden(ADMIN), Body::Form("status=enrolling&reason=")),
    (
        "POST",
        "/studies/{code}/arms",
        Expect::Hidden(ADMIN),
        Body::Form("code=B&name=Arm+B&allocation_ratio=1&description="),
    ),
    (
        "POST",
        "/studies/{code}/protocol-versions",
        Expect::Hidden(ADMIN),
        Body::Form("version=2.0&amendment=A1&effective_on=2026-02-01&summary="),
    ),
    (
        "POST",
        "/studies/{code}/sites",
        Expect::Hidden(ADMIN),
        Body::Form("site_code=BOS&pi_email=&irb_name=Harborview+IRB&target_enrollment=5"),
    ),
    ("GET", "/studies/{code}/sites/{site}", Expect::Hidden(ADMIN), Body::None),
    (
        "POST",
        "/studies/{code}/sites/{site}",
        Expect::Hidden(ADMIN),
        Body::Form("pi_email=&irb_name=Lakeshore+University+IRB&target_enrollment=25"),
    ),
    (
        "POST",
        "/studies/{code}/sites/{site}/delegation",
        Expect::Hidden(ADMIN),
        Body::Form(
            "user_email=admin%40demo.clinbridge.org&study_role=Administrator&duty=enter_data&start_on=2026-01-01&end_on=",
        ),
    ),
    ("POST", "/delegation/{id}/sign", Expect::Hidden(&[]), Body::Form("password=clinbridge-demo-2026")),
    ("POST", "/delegation/{id}/end", Expect::Hidden(ADMIN), Body::Form("end_on=2026-12-30")),
    ("GET", "/studies/{code}/participants", Expect::Hidden(OTHER_PARTICIPANT_READERS), Body::None),
    ("POST", "/studies/{code}/participants", Expect::Hidden(NOBODY), Body::Form("site_code=CHI&status=screening&on=")),
    (
        "POST",
        "/studies/{code}/screening-log",
        Expect::Hidden(NOBODY),
        Body::Form("site_code=CHI&logged_on=2026-01-05&reason_code=declined&candidates=1&note="),
    ),
    ("GET", "/participants/{id}", Expect::Hidden(OTHER_PARTICIPANT_READERS), Body::None),
    (
        "POST",
        "/participants/{id}/status",
        Expect::Hidden(NOBODY),
        Body::Form("status=screen_failed&reason_code=declined"),
    ),
    ("POST", "/participants/{id}/eligibility", Expect::Hidden(NOBODY), Body::Form("answer_I1=yes&source_I1=Chart")),
    (
        "POST",
        "/participants/{id}/eligibility/sign",
        Expect::Hidden(NOBODY),
        Body::Form("password=clinbridge-demo-2026"),
    ),
    ("POST", "/participants/{id}/randomize", Expect::Hidden(NOBODY), Body::Form("")),
    (
        "POST",
        "/participants/{id}/unblind",
        Expect::Hidden(NOBODY),
        Body::Form("reason=Emergency+surgery+needs+the+arm"),
    ),
    ("GET", "/participants/{id}/contact", Expect::Hidden(NOBODY), Body::None),
    ("POST", "/participant-visits/{id}/record", Expect::Hidden(NOBODY), Body::Form("outcome=missed&note=No+show")),
    ("POST", "/participants/{id}/contact", Expect::Hidden(NOBODY), Body::Form("given_name=Ann&family_name=Other")),
    ("GET", "/studies/{code}/schedule", Expect::Hidden(OTHER_STUDY_READERS), Body::None),
    (
        "POST",
        "/studies/{code}/schedule",
        Expect::Hidden(ADMIN),
        Body::Form(
            "code=W12&name=Week+12&anchor=randomization&offset_days=84&window_before=7&window_after=7&kind=scheduled&procedures=ECG",
        ),
    ),
    ("POST", "/visits/{id}/delete", Expect::Hidden(ADMIN), Body::None),
    ("GET", "/studies/{code}/enrollment", Expect::Hidden(&["admin", "auditor"]), Body::None),
    ("POST", "/studies/{code}/criteria", Expect::Hidden(ADMIN), Body::Form("kind=inclusion&code=I9&text=Adult")),
    (
        "POST",
        "/studies/{code}/subject-id-pattern",
        Expect::Hidden(ADMIN),
        Body::Form("pattern=%7Bsite%7D-%7Bseq%3A03%7D"),
    ),
    (
        "POST",
        "/studies/{code}/randomization",
        Expect::Hidden(ADMIN),
        Body::Form("blinded=true&block_sizes=2&factors=&list_length=10"),
    ),
    (
        "POST",
        "/studies/{code}/unblinded-team",
        Expect::Hidden(ADMIN),
        Body::Form("user_email=admin%40demo.clinbridge.org&member=true"),
    ),
    ("GET", "/api/v1/sites/{id}/resources", Expect::Only(CHICAGO_READERS), Body::None),
    (
        "POST",
        "/api/v1/sites/{id}/resources",
        Expect::Only(ADMIN),
        Body::Json(
            r#"{"kind":"room","name":"Matrix API room","hours":[{"weekday":"mon","from":"08:00","to":"17:00"}]}"#,
        ),
    ),
    (
        "PUT",
        "/api/v1/resources/{id}",
        Expect::Hidden(ADMIN),
        Body::Json(r#"{"kind":"room","name":"Matrix room","hours":[{"weekday":"tue","from":"09:00","to":"12:00"}]}"#),
    ),
    ("GET", "/api/v1/sites/{id}/calendar", Expect::Only(SITE_CALENDAR_READERS), Body::None),
    (
        "POST",
        "/api/v1/participant-visits/{id}/reschedule",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"date":"2026-01-01"}"#),
    ),
    (
        "POST",
        "/api/v1/participant-visits/{id}/booking",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"date":"2026-01-01","time":"10:00","minutes":30,"resources":[]}"#),
    ),
    ("DELETE", "/api/v1/participant-visits/{id}/booking", Expect::Hidden(NOBODY), Body::None),
    ("GET", "/api/v1/me/feeds", Expect::Signed, Body::None),
    ("POST", "/api/v1/me/feeds/{id}/regenerate", Expect::Nobody, Body::None),
    ("DELETE", "/api/v1/me/feeds/{id}", Expect::Nobody, Body::None),
    ("GET", "/feeds/{secret}", Expect::Public, Body::None),
    ("GET", "/sites/{site}/calendar", Expect::Only(SITE_CALENDAR_READERS), Body::None),
    ("GET", "/sites/{site}/resources", Expect::Only(CHICAGO_READERS), Body::None),
    (
        "POST",
        "/sites/{site}/resources",
        Expect::Only(ADMIN),
        Body::Form("kind=room&name=Matrix+page+room&user_email=&hours=Mon-Fri+08%3A00-17%3A00"),
    ),
    ("POST", "/resources/{id}", Expect::Hidden(ADMIN), Body::Form("kind=room&name=Matrix+room&hours=&active=true")),
    ("GET", "/studies/{code}/visits", Expect::Hidden(OTHER_PARTICIPANT_READERS), Body::None),
    ("POST", "/participant-visits/{id}/reschedule", Expect::Hidden(NOBODY), Body::Form("date=2026-01-01&time=")),
    (
        "POST",
        "/participant-visits/{id}/book",
        Expect::Hidden(NOBODY),
        Body::Form("date=2026-01-01&time=10%3A00&minutes=30"),
    ),
    ("POST", "/participant-visits/{id}/unbook", Expect::Hidden(NOBODY), Body::None),
    ("POST", "/profile/feeds/{id}/regenerate", Expect::Nobody, Body::None),
    ("POST", "/profile/feeds/{id}/revoke", Expect::Nobody, Body::None),
    // EDC data entry on a Chicago participant of OTHER-01 and a free-standing record there.
    ("GET", "/api/v1/participants/{id}/forms", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    (
        "GET",
        "/api/v1/participants/{id}/forms/{event}/{instrument}/{instance}",
        Expect::Hidden(EDC_OTHER_READERS),
        Body::None,
    ),
    (
        "PUT",
        "/api/v1/participants/{id}/forms/{event}/{instrument}/{instance}",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"values":{"weight":"81"},"reason":"matrix"}"#),
    ),
    ("GET", "/api/v1/forms/{id}/history/{field}", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    (
        "POST",
        "/api/v1/forms/{id}/queries",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"field":"weight","message":"Please check","role":"coordinator"}"#),
    ),
    (
        "POST",
        "/api/v1/queries/{id}/steps",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"step":"respond","message":"Checked"}"#),
    ),
    ("GET", "/api/v1/studies/{code}/queries", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    ("GET", "/participants/{id}/data", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    ("GET", "/participants/{id}/data/{event}/{instrument}/{instance}", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    (
        "POST",
        "/participants/{id}/data/{event}/{instrument}/{instance}",
        Expect::Hidden(NOBODY),
        Body::Form("weight=81&_reason=matrix"),
    ),
    (
        "POST",
        "/participants/{id}/data/{event}/{instrument}/{instance}/logic",
        Expect::Hidden(EDC_OTHER_READERS),
        Body::Form("weight=81"),
    ),
    ("GET", "/studies/{code}/records", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    ("POST", "/studies/{code}/records", Expect::Hidden(NOBODY), Body::None),
    ("GET", "/studies/{code}/records/{record}", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    (
        "GET",
        "/studies/{code}/records/{record}/{event}/{instrument}/{instance}",
        Expect::Hidden(EDC_OTHER_READERS),
        Body::None,
    ),
    (
        "POST",
        "/studies/{code}/records/{record}/{event}/{instrument}/{instance}",
        Expect::Hidden(NOBODY),
        Body::Form("weight=81&_reason=matrix"),
    ),
    (
        "POST",
        "/studies/{code}/records/{record}/{event}/{instrument}/{instance}/logic",
        Expect::Hidden(EDC_OTHER_READERS),
        Body::Form("weight=81"),
    ),
    ("GET", "/studies/{code}/queries", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    ("GET", "/forms/{id}", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    ("GET", "/forms/{id}/history/{field}", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    (
        "POST",
        "/forms/{id}/queries",
        Expect::Hidden(NOBODY),
        Body::Form("field=weight&message=Please+check&role=coordinator"),
    ),
    ("POST", "/queries/{id}/steps", Expect::Hidden(NOBODY), Body::Form("step=respond&message=Checked")),
    ("GET", "/api/v1/forms/{id}/review", Expect::Hidden(EDC_OTHER_READERS), Body::None),
    ("POST", "/api/v1/forms/{id}/verifications", Expect::Hidden(NOBODY), Body::Json(r#"{"fields":[]}"#)),
    ("POST", "/api/v1/forms/{id}/lock", Expect::Hidden(NOBODY), Body::Json(r#"{"locked":true}"#)),
    (
        "POST",
        "/api/v1/forms/{id}/signatures",
        Expect::Hidden(NOBODY),
        Body::Json(r#"{"scope":"form","password":"clinbridge-demo-2026"}"#),
    ),
    ("POST", "/forms/{id}/verify", Expect::Hidden(NOBODY), Body::Form("field=")),
    ("POST", "/forms/{id}/lock", Expect::Hidden(NOBODY), Body::Form("locked=1")),
    ("POST", "/forms/{id}/sign", Expect::Hidden(NOBODY), Body::Form("scope=form&password=clinbridge-demo-2026")),
    ("GET", "/medical", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/hcps", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/hcps/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/interactions", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/interactions/new", Expect::Only(MEDICAL_WRITERS), Body::None),
    ("GET", "/medical/interactions/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/interactions/{id}/edit", Expect::Only(MEDICAL_WRITERS), Body::None),
    (
        "POST",
        "/medical/interactions/{id}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("date=2026-01-05&time=10%3A00&channel=phone&topics=Matrix+correction"),
    ),
    ("GET", "/medical/insights", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/events", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/events/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/requests", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/requests/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/safety", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "POST",
        "/medical/hcps",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("npi=1234567893&first_name=Matrix&last_name=Page&specialty=Cardiology"),
    ),
    (
        "POST",
        "/medical/hcps/{id}/kol",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("tier=2&therapeutic_areas=Cardiology&topics=&notes="),
    ),
    (
        "POST",
        "/medical/hcps/{id}/publications",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("csv=title%2Cjournal%2Cyear%0AMatrix+study%2CJ+Matrix%2C2024%0A"),
    ),
    (
        "POST",
        "/medical/interactions",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("date=2026-01-05&time=10%3A00&channel=phone&topics=Matrix"),
    ),
    (
        "POST",
        "/medical/interactions/{id}/insights",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("category=unmet_need&text=Matrix+insight"),
    ),
    (
        "POST",
        "/medical/interactions/{id}/follow-ups",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("title=Matrix+follow-up&due=2030-01-01"),
    ),
    (
        "POST",
        "/medical/interactions/{id}/safety",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("kind=adverse_event&product=Cardiozan&description=Matrix+report"),
    ),
    ("POST", "/medical/follow-ups/{id}/done", Expect::Only(MEDICAL_WRITERS), Body::None),
    (
        "POST",
        "/medical/events",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("name=Matrix+congress&starts_on=2030-03-01&ends_on=2030-03-02&place=Matrix+City"),
    ),
    (
        "POST",
        "/medical/events/{id}/sessions",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("title=Matrix+session&date=2030-03-01&start=09%3A00&end=10%3A00"),
    ),
    (
        "POST",
        "/medical/events/{id}/insights",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("category=trial_design&text=Matrix+event+insight"),
    ),
    (
        "POST",
        "/medical/requests/{id}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("questions=Matrix+question&products=&urgency=routine&delivery_method=email"),
    ),
    (
        "POST",
        "/medical/requests/{id}/signature",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("signed_name=Matrix+Requester"),
    ),
    ("POST", "/medical/requests/{id}/response", Expect::Only(MEDICAL_WRITERS), Body::Form("response=Matrix+answer")),
    ("POST", "/medical/requests/{id}/status", Expect::Only(MEDICAL_WRITERS), Body::Form("status=in_progress")),
    (
        "POST",
        "/medical/safety/{id}/forward",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("forwarded_to=Pharmacovigilance&reference=MTX-1"),
    ),
    (
        "POST",
        "/medical/hcps/{id}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("npi=1234567893&first_name=Matrix&last_name=Edited&specialty=Cardiology"),
    ),
    (
        "POST",
        "/medical/hcps/{id}/affiliations",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("institution_id=&department=&role=&primary=0"),
    ),
    (
        "POST",
        "/medical/hcps/{id}/plans",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("period=2026-H2&objective=Matrix+objective&target=2&done=0&status="),
    ),
    ("POST", "/medical/objectives/{id}", Expect::Only(MEDICAL_WRITERS), Body::Form("done_count=1&status=")),
    ("POST", "/medical/hcps/{id}/user", Expect::Only(MEDICAL_WRITERS), Body::Form("user_id=")),
    ("POST", "/medical/hcps/{id}/publications/{publication}/delete", Expect::Only(MEDICAL_WRITERS), Body::None),
    (
        "POST",
        "/medical/events/{id}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("name=Other+Heart+Congress&starts_on=2026-03-01&ends_on=2026-03-03&place=Chicago&notes=Matrix"),
    ),
    ("POST", "/medical/events/{id}/sessions/{session}/delete", Expect::Only(MEDICAL_WRITERS), Body::None),
    ("GET", "/medical/institutions", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/medical/institutions/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "POST",
        "/medical/institutions",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("name=Matrix+Hospital&kind=hospital&city=Matrix"),
    ),
    (
        "POST",
        "/medical/institutions/{id}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Form("name=Matrix+Hospital+Edited&kind=hospital"),
    ),
    ("POST", "/medical/settings/safety-clock", Expect::Only(MEDICAL_ADMINS), Body::Form("hours=24")),
    ("GET", "/device", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/cases", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/cases/{id}", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/credentials", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/plan", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/products", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/tickets", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/tickets/{id}", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/complaints", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/trainings", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/trainings/{id}", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/feedback", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/courses", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/device/courses/{id}", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/device/cases",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("institution_id=&procedure_type=Matrix&date=2030-01-07&time=08%3A00&duration_minutes=60"),
    ),
    ("POST", "/device/cases/{id}/assignment", Expect::Only(DEVICE_WRITERS), Body::Form("specialist_user_id=")),
    (
        "POST",
        "/device/cases/{id}/schedule",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("date=2030-01-07&time=08%3A00&duration_minutes=60"),
    ),
    ("POST", "/device/cases/{id}/status", Expect::Only(DEVICE_WRITERS), Body::Form("status=confirmed&outcome_notes=")),
    (
        "POST",
        "/device/credentials",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("user_id=&institution_id=&name=Matrix&issued_on=2026-01-01&expires_on=2027-01-01"),
    ),
    (
        "POST",
        "/device/credentials/{id}/documents",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("document=Matrix&received=1"),
    ),
    (
        "POST",
        "/device/visits",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("institution_id=&date=2030-01-07&time=09%3A00&duration_minutes=60&purpose=Matrix"),
    ),
    ("POST", "/device/visits/{id}/done", Expect::Only(DEVICE_WRITERS), Body::Form("notes=Matrix")),
    (
        "POST",
        "/device/products",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("name=Matrix&model=M1&udi_di=00614141999996"),
    ),
    ("POST", "/device/installs", Expect::Only(DEVICE_WRITERS), Body::Form("institution_id=&product_id=&serial=MTX-1")),
    (
        "POST",
        "/device/products/{id}",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("name=Matrix+Edited&model=M2&software_version=2.0&udi_di=00614141999989&certificate_months=12"),
    ),
    ("POST", "/device/installs/{id}/status", Expect::Only(DEVICE_WRITERS), Body::Form("status=service")),
    (
        "POST",
        "/device/credentials/{id}",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("name=Matrix+credential&documents=&issued_on=2026-01-01&expires_on=2027-01-01"),
    ),
    ("POST", "/device/settings/travel-buffer", Expect::Only(DEVICE_WRITERS), Body::Form("minutes=45")),
    ("POST", "/device/specialists/{id}/territory", Expect::Only(DEVICE_WRITERS), Body::Form("institution_id=")),
    (
        "POST",
        "/device/tickets",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("institution_id=&product_id=&serial_or_lot=MTX&description=Matrix"),
    ),
    ("POST", "/device/tickets/{id}/log", Expect::Only(DEVICE_WRITERS), Body::Form("text=Matrix+entry")),
    (
        "POST",
        "/device/tickets/{id}/status",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("status=investigating&resolution="),
    ),
    (
        "POST",
        "/device/tickets/{id}/complaint",
        Expect::Only(DEVICE_WRITERS),
        Body::Form(
            "device_name=Matrix&received_on=2026-01-05&aware_on=2026-01-05&complainant_name=A&complainant_contact=B&nature=Matrix",
        ),
    ),
    (
        "POST",
        "/device/complaints/{id}/handling",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("investigation=Matrix&no_investigation_reason=&corrective_action=&reply="),
    ),
    (
        "POST",
        "/device/complaints/{id}/reportability",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("reportability=not_reportable&rationale=Matrix"),
    ),
    ("POST", "/device/complaints/{id}/reported", Expect::Only(DEVICE_WRITERS), Body::Form("reported_on=2026-01-06")),
    ("POST", "/device/complaints/{id}/close", Expect::Only(DEVICE_WRITERS), Body::None),
    (
        "POST",
        "/device/trainings",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("institution_id=&product_id=&competencies=Matrix&held_on=2026-01-05"),
    ),
    ("POST", "/device/trainings/{id}/attendees", Expect::Only(DEVICE_WRITERS), Body::Form("name=Matrix+Nurse&role=RN")),
    (
        "POST",
        "/device/attendees/{id}/signoffs",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("competency=Matrix&side=trainer&signed_name=Matrix+Trainer"),
    ),
    (
        "POST",
        "/device/feedback",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("institution_id=&product_id=&category=usability&text=Matrix"),
    ),
    ("POST", "/device/feedback/{id}/vote", Expect::Only(DEVICE_WRITERS), Body::None),
    ("POST", "/device/feedback/{id}/status", Expect::Only(DEVICE_WRITERS), Body::Form("status=planned")),
    ("POST", "/device/courses", Expect::Only(DEVICE_WRITERS), Body::Form("title=Matrix&credits=1&modules=Intro%2C+10")),
    (
        "POST",
        "/device/courses/{id}/enrollments",
        Expect::Only(DEVICE_WRITERS),
        Body::Form("institution_id=&name=Matrix+Nurse"),
    ),
    ("POST", "/device/enrollments/{id}/modules/{module}", Expect::Only(DEVICE_WRITERS), Body::None),
    ("GET", "/api/v1/device/products", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/products",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"name":"Matrix Device","udi_di":"00884422100019"}"#),
    ),
    ("GET", "/api/v1/device/products/{id}", Expect::Only(DEVICE_READERS), Body::None),
    (
        "PUT",
        "/api/v1/device/products/{id}",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"name":"Matrix Device","udi_di":"not a udi"}"#),
    ),
    ("GET", "/api/v1/device/installs", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/installs",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(
            r#"{"institution_id":"00000000-0000-0000-0000-000000000000","product_id":"00000000-0000-0000-0000-000000000000","serial":"MTX-1","installed_on":"2026-01-05"}"#,
        ),
    ),
    (
        "POST",
        "/api/v1/device/installs/{id}/status",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"status":"service"}"#),
    ),
    ("GET", "/api/v1/device/credentials", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/credentials",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(
            r#"{"user_id":"00000000-0000-0000-0000-000000000000","institution_id":"00000000-0000-0000-0000-000000000000","name":"Matrix credential","documents":[],"issued_on":"2026-01-01","expires_on":"2027-01-01"}"#,
        ),
    ),
    (
        "PUT",
        "/api/v1/device/credentials/{id}",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(
            r#"{"user_id":"00000000-0000-0000-0000-000000000000","institution_id":"00000000-0000-0000-0000-000000000000","name":"","documents":[]}"#,
        ),
    ),
    (
        "POST",
        "/api/v1/device/credentials/{id}/documents",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"name":"Background check","received":true}"#),
    ),
    ("GET", "/api/v1/device/cases", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/cases",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(
            r#"{"institution_id":"00000000-0000-0000-0000-000000000000","procedure_type":"Matrix case","starts_at":"2030-01-07T14:00:00Z","duration_minutes":60}"#,
        ),
    ),
    ("GET", "/api/v1/device/cases/{id}", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/cases/{id}/assignment",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"specialist_user_id":null}"#),
    ),
    (
        "POST",
        "/api/v1/device/cases/{id}/schedule",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"starts_at":"2030-01-08T14:00:00Z","duration_minutes":90}"#),
    ),
    ("POST", "/api/v1/device/cases/{id}/status", Expect::Only(DEVICE_WRITERS), Body::Json(r#"{"status":"covered"}"#)),
    ("GET", "/api/v1/device/specialists", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/api/v1/device/specialists/{id}/territory", Expect::Only(DEVICE_READERS), Body::None),
    (
        "PUT",
        "/api/v1/device/specialists/{id}/territory",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"institution_ids":["00000000-0000-0000-0000-000000000000"]}"#),
    ),
    ("GET", "/api/v1/device/specialists/{id}/week", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/api/v1/device/specialists/{id}/dashboard", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/visits",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(
            r#"{"specialist_user_id":"00000000-0000-0000-0000-000000000000","institution_id":"00000000-0000-0000-0000-000000000000","planned_at":"2030-01-07T14:00:00Z","duration_minutes":60,"purpose":"Matrix"}"#,
        ),
    ),
    (
        "POST",
        "/api/v1/device/visits/{id}/done",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"notes":"Matrix visit done"}"#),
    ),
    ("GET", "/api/v1/device/settings/travel-buffer", Expect::Only(DEVICE_READERS), Body::None),
    ("PUT", "/api/v1/device/settings/travel-buffer", Expect::Only(DEVICE_WRITERS), Body::Json(r#"{"minutes":60}"#)),
    ("GET", "/api/v1/device/tickets", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/tickets",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(
            r#"{"institution_id":"00000000-0000-0000-0000-000000000000","product_id":"00000000-0000-0000-0000-000000000000","description":"Matrix ticket"}"#,
        ),
    ),
    ("GET", "/api/v1/device/tickets/{id}", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/tickets/{id}/log",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"text":"Matrix log entry"}"#),
    ),
    (
        "POST",
        "/api/v1/device/tickets/{id}/status",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"status":"no_such_status"}"#),
    ),
    (
        "POST",
        "/api/v1/device/tickets/{id}/complaint",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"device_name":"","nature":""}"#),
    ),
    ("GET", "/api/v1/device/complaints", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/api/v1/device/complaints/{id}", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/complaints/{id}/handling",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"reply":"Matrix reply"}"#),
    ),
    (
        "POST",
        "/api/v1/device/complaints/{id}/reportability",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"reportability":"no_such_decision"}"#),
    ),
    (
        "POST",
        "/api/v1/device/complaints/{id}/reported",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"reported_on":"2030-01-01"}"#),
    ),
    ("POST", "/api/v1/device/complaints/{id}/close", Expect::Only(DEVICE_WRITERS), Body::None),
    ("GET", "/api/v1/device/trainings", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/trainings",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(
            r#"{"institution_id":"00000000-0000-0000-0000-000000000000","product_id":"00000000-0000-0000-0000-000000000000","competencies":[]}"#,
        ),
    ),
    ("GET", "/api/v1/device/trainings/{id}", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/trainings/{id}/attendees",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"name":"Matrix Attendee"}"#),
    ),
    (
        "POST",
        "/api/v1/device/attendees/{id}/signoffs",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"competency":"Matrix competency","side":"trainer","signed_name":"Matrix Trainer"}"#),
    ),
    ("GET", "/api/v1/device/coverage", Expect::Only(DEVICE_READERS), Body::None),
    ("GET", "/api/v1/device/feedback", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/feedback",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(
            r#"{"institution_id":"00000000-0000-0000-0000-000000000000","product_id":"00000000-0000-0000-0000-000000000000","category":"other","text":"Matrix"}"#,
        ),
    ),
    ("GET", "/api/v1/device/feedback/board", Expect::Only(DEVICE_READERS), Body::None),
    ("POST", "/api/v1/device/feedback/{id}/vote", Expect::Only(DEVICE_WRITERS), Body::None),
    (
        "POST",
        "/api/v1/device/feedback/{id}/status",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"status":"planned"}"#),
    ),
    ("GET", "/api/v1/device/courses", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/courses",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"title":"Matrix course","modules":[]}"#),
    ),
    ("GET", "/api/v1/device/courses/{id}", Expect::Only(DEVICE_READERS), Body::None),
    (
        "POST",
        "/api/v1/device/courses/{id}/enrollments",
        Expect::Only(DEVICE_WRITERS),
        Body::Json(r#"{"institution_id":"00000000-0000-0000-0000-000000000000","name":"Matrix Learner"}"#),
    ),
    ("POST", "/api/v1/device/enrollments/{id}/modules/{module}", Expect::Only(DEVICE_WRITERS), Body::None),
    ("GET", "/audit", Expect::Only(AUDIT), Body::None),
    ("GET", "/audit/export.csv", Expect::Only(AUDIT), Body::None),
    ("GET", "/api/v1/medical/dashboard", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/api/v1/medical/institutions", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "POST",
        "/api/v1/medical/institutions",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"name":"Matrix Institute","kind":"hospital","city":"Boston","state":"MA"}"#),
    ),
    ("GET", "/api/v1/medical/institutions/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "PUT",
        "/api/v1/medical/institutions/{id}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(
            r#"{"name":"Matrix Heart Institute","kind":"hospital","city":"Chicago","departments":["Cardiology"]}"#,
        ),
    ),
    ("GET", "/api/v1/medical/hcps", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "POST",
        "/api/v1/medical/hcps",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"npi":"1245319599","first_name":"Mara","last_name":"Trix","specialty":"Cardiology"}"#),
    ),
    ("GET", "/api/v1/medical/hcps/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "PUT",
        "/api/v1/medical/hcps/{id}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"npi":"1234567893","first_name":"Other","last_name":"Cardiologist","specialty":"Cardiology"}"#),
    ),
    (
        "PUT",
        "/api/v1/medical/hcps/{id}/kol",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"tier":2,"therapeutic_areas":["Heart failure"]}"#),
    ),
    (
        "PUT",
        "/api/v1/medical/hcps/{id}/affiliations",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(
            r#"[{"institution_id":"{institution_id}","department":"Cardiology","role":"Attending","is_primary":true}]"#,
        ),
    ),
    (
        "POST",
        "/api/v1/medical/hcps/{id}/publications",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"[{"title":"Matrix trial results","journal":"J Matrix","year":2024,"pmid":"39999901"}]"#),
    ),
    (
        "POST",
        "/api/v1/medical/hcps/{id}/publications.csv",
        Expect::Only(MEDICAL_WRITERS),
        Body::Csv("title,journal,year,pmid,doi\nMatrix registry,J Matrix,2023,39999902,\n"),
    ),
    ("DELETE", "/api/v1/medical/publications/{id}", Expect::Only(MEDICAL_WRITERS), Body::None),
    (
        "PUT",
        "/api/v1/medical/hcps/{id}/plans/{period}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"objectives":[{"text":"Advisory board participation","target_count":1}]}"#),
    ),
    ("PUT", "/api/v1/medical/objectives/{id}", Expect::Only(MEDICAL_WRITERS), Body::Json(r#"{"done_count":1}"#)),
    ("PUT", "/api/v1/medical/hcps/{id}/user", Expect::Only(MEDICAL_WRITERS), Body::Json(r#"{"user_id":null}"#)),
    ("GET", "/api/v1/medical/specialties", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/api/v1/medical/interactions", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "POST",
        "/api/v1/medical/interactions",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(
            r#"{"occurred_at":"2026-01-10T15:00:00Z","channel":"in_person","hcp_ids":["{hcp_id}"],"topics":["Renal dosing"],"insights":[{"category":"unmet_need","text":"Matrix insight","tags":["matrix"]}]}"#,
        ),
    ),
    ("GET", "/api/v1/medical/interactions/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "PUT",
        "/api/v1/medical/interactions/{id}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(
            r#"{"occurred_at":"2026-01-09T15:00:00Z","channel":"phone","hcp_ids":["{hcp_id}"],"topics":["Renal dosing"],"notes":"Corrected"}"#,
        ),
    ),
    (
        "POST",
        "/api/v1/medical/interactions/{id}/follow-ups",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"title":"Send the reprint","due_at":"2030-01-01T09:00:00Z"}"#),
    ),
    ("POST", "/api/v1/medical/follow-ups/{id}/done", Expect::Only(MEDICAL_WRITERS), Body::None),
    ("GET", "/api/v1/medical/insights", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "POST",
        "/api/v1/medical/insights",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"interaction_id":"{interaction_id}","category":"access","text":"Prior authorization delays"}"#),
    ),
    ("GET", "/api/v1/medical/insights/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/api/v1/medical/insight-board", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/api/v1/medical/insight-board/cell", Expect::Only(MEDICAL_READERS), Body::None),
    ("GET", "/api/v1/medical/requests", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "POST",
        "/api/v1/medical/requests",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(
            r#"{"hcp_id":"{hcp_id}","unsolicited":true,"questions":["Is there data in renal impairment?"],"delivery_method":"email"}"#,
        ),
    ),
    ("GET", "/api/v1/medical/requests/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    ("PUT", "/api/v1/medical/requests/{id}", Expect::Only(MEDICAL_WRITERS), Body::Json(r#"{"urgency":"urgent"}"#)),
    (
        "POST",
        "/api/v1/medical/requests/{id}/signature",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"typed_name":"Other Cardiologist"}"#),
    ),
    (
        "POST",
        "/api/v1/medical/requests/{id}/response",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"text":"The renal subgroup data are attached."}"#),
    ),
    (
        "POST",
        "/api/v1/medical/requests/{id}/status",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"status":"in_progress"}"#),
    ),
    ("GET", "/api/v1/medical/events", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "POST",
        "/api/v1/medical/events",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"name":"Matrix Congress","starts_on":"2026-05-04","ends_on":"2026-05-06","place":"Boston"}"#),
    ),
    ("GET", "/api/v1/medical/events/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "PUT",
        "/api/v1/medical/events/{id}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(
            r#"{"name":"Other Heart Congress","starts_on":"2026-03-01","ends_on":"2026-03-03","place":"Chicago"}"#,
        ),
    ),
    (
        "POST",
        "/api/v1/medical/events/{id}/sessions",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"title":"Late breakers","starts_at":"2026-03-02T14:00:00Z","ends_at":"2026-03-02T15:00:00Z"}"#),
    ),
    ("DELETE", "/api/v1/medical/sessions/{id}", Expect::Only(MEDICAL_WRITERS), Body::None),
    ("GET", "/api/v1/medical/safety", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "POST",
        "/api/v1/medical/safety",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(
            r#"{"kind":"adverse_event","hcp_id":"{hcp_id}","product":"Cardiozen","description":"Rash after the second dose","patient":"Woman in her 60s","aware_at":"2026-11-01T09:00:00Z"}"#,
        ),
    ),
    ("GET", "/api/v1/medical/safety/{id}", Expect::Only(MEDICAL_READERS), Body::None),
    (
        "PUT",
        "/api/v1/medical/safety/{id}",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(
            r#"{"kind":"adverse_event","hcp_id":"{hcp_id}","product":"Cardiozen","description":"Rash and itching after the second dose","patient":"Woman in her 60s","aware_at":"2026-11-01T09:00:00Z"}"#,
        ),
    ),
    (
        "POST",
        "/api/v1/medical/safety/{id}/forward",
        Expect::Only(MEDICAL_WRITERS),
        Body::Json(r#"{"forwarded_to":"Drug safety mailbox","reference":"PV-MTX-1"}"#),
    ),
    ("GET", "/api/v1/medical/settings/safety-clock", Expect::Only(MEDICAL_ADMINS), Body::None),
    ("PUT", "/api/v1/medical/settings/safety-clock", Expect::Only(MEDICAL_ADMINS), Body::Json(r#"{"hours":24}"#)),
    ("DELETE", "/api/v1/session", Expect::Public, Body::None),
    ("POST", "/logout", Expect::Public, Body::None),
];

#[test]
fn the_matrix_lists_every_route() {
    let mut served: Vec<(String, String)> =
        clinbridge_web::routes::table().into_iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    let mut listed: Vec<(String, String)> = MATRIX.iter().map(|(m, p, _, _)| (m.to_string(), p.to_string())).collect();
    served.sort();
    listed.sort();
    let missing: Vec<_> = served.iter().filter(|r| !listed.contains(r)).collect();
    let stale: Vec<_> = listed.iter().filter(|r| !served.contains(r)).collect();
    assert!(missing.is_empty(), "routes not in the authorization matrix: {missing:?}");
    assert!(stale.is_empty(), "matrix rows for routes that do not exist: {stale:?}");
}

/// Objects that belong to someone else: the Chicago site, a task for Chicago coordinators,
/// a Chicago coordinator's account, grant and token.
struct Others {
    study: String,
    participant: Uuid,
    participant_visit: Uuid,
    consent_document: Uuid,
    consent_event: Uuid,
    resource: Uuid,
    feed: Uuid,
    feed_secret: String,
    visit: Uuid,
    page_visit: Uuid,
    delegation: Uuid,
    site: Uuid,
    task: Uuid,
    user: Uuid,
    grant: Uuid,
    token: Uuid,
    edc: EdcOthers,
    device: DeviceOthers,
    medical: MedicalOthers,
}

/// Field medical objects, recorded by the demo MSL.
struct MedicalOthers {
    institution: Uuid,
    hcp: Uuid,
    interaction: Uuid,
    follow_up: Uuid,
    insight: Uuid,
    request: Uuid,
    event: Uuid,
    session: Uuid,
    safety: Uuid,
    publication: Uuid,
    objective: Uuid,
}

async fn medical_others(app: &common::TestApp) -> MedicalOthers {
    use clinbridge_core::medical as cm;
    use clinbridge_store::medical as m;
    let store = &app.store;
    let msl = Acting::user(app.world.users[&Role::Msl], None);
    let institution = m::create_institution(
        store,
        &msl,
        cm::InstitutionInput {
            name: "Other Heart Institute".into(),
            kind: "hospital".into(),
            city: "Chicago".into(),
            state: "IL".into(),
            departments: vec!["Cardiology".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let hcp = m::create_hcp(
        store,
        &msl,
        cm::HcpInput {
            npi: "1234567893".into(),
            first_name: "Other".into(),
            last_name: "Cardiologist".into(),
            specialty: "Cardiology".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    m::set_kol_profile(
        store,
        &msl,
        hcp.id,
        cm::KolInput { tier: "2".into(), therapeutic_areas: vec!["Heart failure".into()], ..Default::default() },
    )
    .await
    .unwrap();
    let publication = m::add_publication(
        store,
        &msl,
        hcp.id,
        cm::PublicationInput {
            title: "Other outcomes".into(),
            journal: "J Other".into(),
            year: Some(2022),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let plan = m::set_engagement_plan(
        store,
        &msl,
        hcp.id,
        "2026-H1",
        None,
        vec![cm::ObjectiveInput {
            text: "Two scientific exchanges".into(),
            target_count: Some(2),
            ..Default::default()
        }],
    )
    .await
    .unwrap();
    let now = clinbridge_store::now();
    let interaction = m::record_interaction(
        store,
        &msl,
        cm::InteractionInput {
            occurred_at: now - chrono::Duration::days(2),
            channel: "in_person".into(),
            hcp_ids: vec![hcp.id],
            colleague_ids: vec![],
            topics: vec!["Outcomes data".into()],
            products: vec![],
            materials: vec![],
            notes: String::new(),
            follow_ups: vec![cm::FollowUpInput {
                title: "Send the poster".into(),
                due_at: now + chrono::Duration::days(5),
                assignee: None,
            }],
            event_id: None,
        },
    )
    .await
    .unwrap();
    let insight = m::record_insight(
        store,
        &msl,
        cm::InsightInput {
            source: cm::InsightSource::Interaction(interaction.id),
            category: "unmet_need".into(),
            product: String::new(),
            therapeutic_area: String::new(),
            tags: vec!["matrix".into()],
            text: "Wants outcomes data in older patients".into(),
        },
    )
    .await
    .unwrap();
    let request = m::create_request(
        store,
        &msl,
        cm::RequestInput {
            hcp_id: Some(hcp.id),
            unsolicited: Some(true),
            questions: vec!["Any data in dialysis patients?".into()],
            delivery_method: "email".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let event = m::create_event(
        store,
        &msl,
        cm::EventInput {
            name: "Other Heart Congress".into(),
            starts_on: chrono::NaiveDate::from_ymd_opt(2026, 3, 1),
            ends_on: chrono::NaiveDate::from_ymd_opt(2026, 3, 3),
            place: "Chicago".into(),
            notes: String::new(),
        },
        vec![],
    )
    .await
    .unwrap();
    let at = |h| chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap().and_hms_opt(h, 0, 0).unwrap().and_utc();
    let session = m::add_session(
        store,
        &msl,
        event.id,
        cm::SessionInput {
            title: "Opening".into(),
            starts_at: at(9),
            ends_at: at(10),
            speakers: vec![],
            room: String::new(),
        },
    )
    .await
    .unwrap();
    let safety = m::report_safety(
        store,
        &msl,
        cm::SafetyInput {
            kind: "adverse_event".into(),
            hcp_id: Some(hcp.id),
            product: "Cardiozen".into(),
            description: "Dizziness after the first dose".into(),
            patient: "Man in his 70s".into(),
            aware_at: Some(now - chrono::Duration::hours(1)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    MedicalOthers {
        institution: institution.id,
        hcp: hcp.id,
        follow_up: interaction.follow_ups[0].id,
        interaction: interaction.id,
        insight: insight.id,
        request: request.id,
        event: event.id,
        session: session.id,
        safety: safety.id,
        publication: publication.id,
        objective: plan.objectives[0].id,
    }
}

async fn others(app: &common::TestApp) -> Others {
    let store = &app.store;
    let chi = app.world.sites.iter().find(|s| s.code == "CHI").unwrap().id;
    let user = identity::create_user(
        store,
        &app.world.admin,
        identity::NewUser {
            email: clinbridge_core::identity::Email::parse("chicago.coordinator@demo.clinbridge.org").unwrap(),
            name: "Chicago Coordinator".into(),
            password: NewPassword::parse("a long chicago passphrase", None).unwrap(),
            time_zone: TimeZone::parse("America/Chicago").unwrap(),
        },
        vec![Grant { role: Role::Coordinator, scope: Scope::Site(chi) }],
    )
    .await
    .unwrap();
    let grant = identity::grants_of(store, user.id).await.unwrap()[0].id;
    let (token, _) =
        identity::create_token(store, &Acting::user(user.id, None), user.id, "chicago script").await.unwrap();
    let task = tasks::raise(
        store,
        &Acting::system(),
        tasks::NewTask {
            kind: "window_closing".into(),
            title: "Chicago visit window closes".into(),
            detail: String::new(),
            subject_type: "visit".into(),
            subject_id: "chi-visit".into(),
            study_id: Some(app.world.study.id),
            site_id: Some(chi),
            assignee: clinbridge_core::tasks::Assignee::Role { role: Role::Coordinator, scope: Scope::Site(chi) },
            due_at: clinbridge_store::now() + chrono::Duration::days(1),
            rule: "matrix".into(),
            rule_key: "matrix:chi".into(),
        },
    )
    .await
    .unwrap();
    let admin = &app.world.admin;
    let study = clinbridge_store::trials::create_study(
        store,
        admin,
        clinbridge_core::identity::Code::parse("code", "OTHER-01").unwrap(),
        clinbridge_store::trials::minimal("A study none of the demo team works on"),
    )
    .await
    .unwrap();
    // Enrolling at Chicago with arms, a checklist, a scheme, two visits and a participant.
    use clinbridge_store::{participants, trials};
    for arm in ["A", "B"] {
        trials::add_arm(store, admin, study.id, arm, arm, 1, "").await.unwrap();
    }
    participants::add_criterion(
        store,
        admin,
        study.id,
        clinbridge_core::participants::CriterionKind::Inclusion,
        "I1",
        "Adult",
    )
    .await
    .unwrap();
    participants::randomization::create_scheme(
        store,
        admin,
        study.id,
        participants::randomization::NewScheme { blinded: true, block_sizes: vec![2], factors: vec![], list_length: 4 },
    )
    .await
    .unwrap();
    let mut visit_ids = Vec::new();
    for (code, offset, anchor) in [("BL", 0, "randomization"), ("W4", 28, "randomization"), ("SCR", 0, "consent")] {
        let def = clinbridge_core::trials::schedule::VisitDefinition::parse(
            &clinbridge_core::trials::schedule::VisitDefinitionInput {
                code: code.into(),
                name: code.into(),
                anchor: anchor.into(),
                offset_days: offset,
                kind: "scheduled".into(),
                ..Default::default()
            },
        )
        .unwrap();
        visit_ids.push(trials::schedule::add_visit(store, admin, study.id, def).await.unwrap().id);
    }
    trials::set_status(store, admin, study.id, clinbridge_core::trials::StudyStatus::Approved, None).await.unwrap();
    trials::set_status(store, admin, study.id, clinbridge_core::trials::StudyStatus::Enrolling, None).await.unwrap();
    let today = clinbridge_testkit::today_in("America/Chicago");
    trials::add_study_site(
        store,
        admin,
        study.id,
        chi,
        trials::StudySiteInput {
            irb_name: "Lakeshore IRB".into(),
            irb_approved_on: Some(today - chrono::Duration::days(10)),
            irb_expires_on: Some(today + chrono::Duration::days(300)),
            activated_on: Some(today - chrono::Duration::days(5)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let participant = participants::register(
        store,
        admin,
        study.id,
        chi,
        participants::NewParticipant {
            status: clinbridge_core::participants::Status::Screening,
            on: today,
            contact: Some(participants::Contact {
                given_name: "Other".into(),
                family_name: "Person".into(),
                ..Default::default()
            }),
        },
    )
    .await
    .unwrap();
    let entry = clinbridge_store::trials::add_delegation(
        store,
        &app.world.admin,
        study.id,
        chi,
        clinbridge_store::trials::NewDelegation {
            user_id: user.id,
            study_role: "Study coordinator".into(),
            duties: vec![clinbridge_core::trials::Duty::ObtainConsent],
            start_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            end_on: None,
        },
    )
    .await
    .unwrap();
    // Chicago's PI for OTHER-01 signs the coordinator's consent duty; consent plans visit SCR.
    let pi = identity::create_user(
        store,
        admin,
        identity::NewUser {
            email: clinbridge_core::identity::Email::parse("chicago.pi@demo.clinbridge.org").unwrap(),
            name: "Chicago PI".into(),
            password: NewPassword::parse("a long chicago pi passphrase", None).unwrap(),
            time_zone: TimeZone::parse("America/Chicago").unwrap(),
        },
        vec![Grant { role: Role::Investigator, scope: Scope::Site(chi) }],
    )
    .await
    .unwrap();
    let ss = trials::study_site(store, study.id, chi).await.unwrap();
    trials::update_study_site(
        store,
        admin,
        ss.id,
        trials::StudySiteInput {
            pi_user_id: Some(pi.id),
            irb_name: ss.irb_name.clone(),
            irb_approved_on: ss.irb_approved_on,
            irb_expires_on: ss.irb_expires_on,
            activated_on: ss.activated_on,
            target_enrollment: ss.target_enrollment,
        },
    )
    .await
    .unwrap();
    trials::sign_delegation(store, &Acting::user(pi.id, None), entry.id, "a long chicago pi passphrase").await.unwrap();
    clinbridge_testkit::consent_on_paper(store, admin, participant.id, user.id).await;
    let consent_document = clinbridge_store::consent::documents(store, study.id).await.unwrap()[0].id;
    // An eConsent on a second participant, signed on the kiosk and waiting for countersignature.
    let second = participants::register(
        store,
        admin,
        study.id,
        chi,
        participants::NewParticipant {
            status: clinbridge_core::participants::Status::Screening,
            on: today,
            contact: None,
        },
    )
    .await
    .unwrap();
    let (kiosk, _) =
        clinbridge_store::consent::open_kiosk(store, &Acting::user(user.id, None), second.id, consent_document)
            .await
            .unwrap();
    let consent_event = clinbridge_store::consent::kiosk_sign(
        store,
        &kiosk,
        clinbridge_core::consent::EventInput {
            signer: "participant".into(),
            signer_name: "Kiosk Signer".into(),
            copy_provided: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .id;
    let participant_visit = clinbridge_store::scheduling::visits_of(store, participant.id).await.unwrap()[0].id;
    // A Chicago room and the Chicago coordinator's own calendar feed.
    use clinbridge_store::scheduling::calendar as cal;
    let resource = cal::create_resource(
        store,
        admin,
        chi,
        cal::ResourceInput {
            kind: clinbridge_core::scheduling::calendar::ResourceKind::Room,
            name: "Matrix room".into(),
            user_id: None,
            active: true,
            hours: clinbridge_core::scheduling::calendar::parse_hours("Mon-Fri 08:00-17:00").unwrap(),
        },
    )
    .await
    .unwrap();
    let feeds = cal::feeds_for(store, &Acting::user(user.id, None), user.id, vec![chi]).await.unwrap();
    let (feed, feed_secret) = (feeds[0].0.id, feeds[0].1.clone().unwrap());
    let edc = edc_others(app, study.id, participant.id).await;
    let device = device_others(app).await;
    let medical = medical_others(app).await;
    Others {
        edc,
        device,
        medical,
        study: study.code,
        participant: participant.id,
        participant_visit,
        consent_document,
        consent_event,
        resource: resource.id,
        feed,
        feed_secret,
        visit: visit_ids[0],
        page_visit: visit_ids[1],
        delegation: entry.id,
        site: chi,
        task,
        user: user.id,
        grant,
        token: token.id,
    }
}

/// EDC objects of OTHER-01: a saved form of the Chicago participant with an open query, and a
/// free-standing record.
struct EdcOthers {
    form: Uuid,
    query: Uuid,
    record: String,
}

async fn edc_others(app: &common::TestApp, study: Uuid, participant: Uuid) -> EdcOthers {
    use clinbridge_store::edc::{self, Blanks, FormInput, metadata, queries, records::FormKey};
    let store = &app.store;
    let admin = &app.world.admin;
    let csv = "field_name,form_name,section_header,field_type,field_label,select_choices_or_calculations,field_note,text_validation_type_or_show_slider_number,text_validation_min,text_validation_max,identifier,branching_logic,required_field,custom_alignment,question_number,matrix_group_name,matrix_ranking,field_annotation\nrecord_id,vitals,,text,Record ID,,,,,,,,,,,,,\nweight,vitals,,text,Weight,,,number,,,,,,,,,,\n";
    metadata::import_dictionary(store, admin, study, csv.as_bytes()).await.unwrap();
    let input = |w: &str| FormInput {
        key: FormKey::new("", "vitals", 1),
        values: vec![("weight".into(), w.into())],
        status: None,
        reason: None,
        revision: None,
        dates: None,
        blanks: Blanks::Erase,
        from_page: false,
    };
    let saved = edc::save_for_participant(store, admin, participant, input("80")).await.unwrap();
    let query = queries::open(store, admin, saved.form.id, "weight", "Please check", None).await.unwrap();
    edc::save_named(store, admin, study, "1", None, input("70")).await.unwrap();
    EdcOthers { form: saved.form.id, query: query.id, record: "1".into() }
}

/// Device records the demo's clinical specialist keeps: a product, an installed unit, a
/// credential, an unassigned case, a ticket, a complaint, a training with an attendee, a
/// feedback item, a course with an enrollment and a module, a planned visit.
struct DeviceOthers {
    specialist: Uuid,
    product: Uuid,
    install: Uuid,
    credential: Uuid,
    case: Uuid,
    ticket: Uuid,
    complaint: Uuid,
    training: Uuid,
    attendee: Uuid,
    feedback: Uuid,
    course: Uuid,
    enrollment: Uuid,
    module: Uuid,
    visit: Uuid,
}

async fn device_others(app: &common::TestApp) -> DeviceOthers {
    use clinbridge_core::device as d;
    use clinbridge_store::device as dev;
    let store = &app.store;
    let specialist = app.world.device.specialists[0];
    let by = Acting::user(specialist, None);
    let actor = identity::actor(store, specialist).await.unwrap();
    let product = app.world.device.products[0];
    let institution = clinbridge_store::medical::institutions(store).await.unwrap()[0].id;
    let today = clinbridge_store::now().date_naive();
    let install = dev::install(
        store,
        &by,
        d::InstallInput {
            institution_id: institution,
            department: String::new(),
            product_id: product,
            serial: "MTX-UNIT-1".into(),
            installed_on: Some(today),
            status: "active".into(),
        },
    )
    .await
    .unwrap()
    .id;
    let case = dev::request_case(
        store,
        &by,
        d::CaseInput {
            institution_id: institution,
            department: String::new(),
            surgeon_hcp_id: None,
            procedure_type: "Matrix procedure".into(),
            starts_at: clinbridge_store::now() + chrono::Duration::days(60),
            duration_minutes: 60,
            product_ids: vec![product],
            specialist_user_id: None,
            notes: String::new(),
        },
    )
    .await
    .unwrap()
    .id;
    let ticket = dev::open_ticket(
        store,
        &by,
        d::TicketInput {
            institution_id: institution,
            product_id: product,
            serial_or_lot: "MTX-LOT-1".into(),
            description: "Matrix ticket".into(),
        },
    )
    .await
    .unwrap()
    .id;
    let training = dev::record_training(
        store,
        &by,
        d::TrainingInput {
            institution_id: institution,
            department: String::new(),
            product_id: product,
            competencies: vec!["Matrix competency".into()],
            held_on: Some(today),
            trainer_user_id: None,
            attendees: vec![d::AttendeeInput {
                name: "Matrix Trainee".into(),
                role: String::new(),
                email: String::new(),
            }],
            validity_months: None,
        },
    )
    .await
    .unwrap()
    .id;
    let attendee = dev::training(store, &actor, training).await.unwrap().attendees[0].id;
    let feedback = dev::submit_feedback(
        store,
        &by,
        d::FeedbackInput {
            institution_id: institution,
            product_id: product,
            category: "other".into(),
            text: "Matrix feedback".into(),
        },
    )
    .await
    .unwrap()
    .id;
    let course = dev::create_course(
        store,
        &by,
        d::CourseInput {
            title: "Matrix course".into(),
            description: String::new(),
            product_id: Some(product),
            credits: 1.0,
            modules: vec![d::ModuleInput { title: "Matrix module".into(), minutes: 10 }],
        },
    )
    .await
    .unwrap()
    .id;
    let module = dev::course(store, &actor, course).await.unwrap().modules[0].id;
    let enrollment = dev::enroll(
        store,
        &by,
        course,
        institution,
        d::AttendeeInput { name: "Matrix Learner".into(), role: String::new(), email: String::new() },
    )
    .await
    .unwrap()
    .id;
    let visit = dev::plan_visit(
        store,
        &by,
        dev::VisitInput {
            specialist_user_id: specialist,
            institution_id: institution,
            planned_at: clinbridge_store::now() + chrono::Duration::days(2),
            duration_minutes: 60,
            purpose: "Matrix visit".into(),
        },
    )
    .await
    .unwrap()
    .id;
    DeviceOthers {
        specialist,
        product,
        install,
        credential: app.world.device.expiring_credential,
        case,
        ticket,
        complaint: app.world.device.urgent_complaint,
        training,
        attendee,
        feedback,
        course,
        enrollment,
        module,
        visit,
    }
}

/// The device record a path names by its segment (`/cases/{id}` under `/api/v1/device` or
/// `/device`), before the other rules.
fn device_id(path: &str, d: &DeviceOthers) -> Option<Uuid> {
    [
        ("/products/{id}", d.product),
        ("/installs/{id}", d.install),
        ("/credentials/{id}", d.credential),
        ("/cases/{id}", d.case),
        ("/tickets/{id}", d.ticket),
        ("/complaints/{id}", d.complaint),
        ("/trainings/{id}", d.training),
        ("/attendees/{id}", d.attendee),
        ("/feedback/{id}", d.feedback),
        ("/courses/{id}", d.course),
        ("/enrollments/{id}", d.enrollment),
        ("/visits/{id}", d.visit),
        ("/specialists/{id}", d.specialist),
    ]
    .into_iter()
    .find(|(segment, _)| path.contains(segment) && path.contains("device"))
    .map(|(_, id)| id)
}

/// The medical object a path names, by its segment (the same under `/api/v1/medical` and the
/// pages' `/medical`).
fn medical_id(path: &str, m: &MedicalOthers) -> Option<Uuid> {
    [
        ("/institutions/{id}", m.institution),
        ("/hcps/{id}", m.hcp),
        ("/interactions/{id}", m.interaction),
        ("/follow-ups/{id}", m.follow_up),
        ("/insights/{id}", m.insight),
        ("/requests/{id}", m.request),
        ("/events/{id}", m.event),
        ("/sessions/{id}", m.session),
        ("/safety/{id}", m.safety),
        ("/publications/{id}", m.publication),
        ("/objectives/{id}", m.objective),
    ]
    .into_iter()
    .find(|(segment, _)| path.contains(segment))
    .map(|(_, id)| id)
}

/// Ids a JSON body refers to.
fn fill_body(body: &str, o: &Others) -> String {
    body.replace("{hcp_id}", &o.medical.hcp.to_string())
        .replace("{institution_id}", &o.medical.institution.to_string())
        .replace("{interaction_id}", &o.medical.interaction.to_string())
}

fn fill(path: &str, o: &Others) -> String {
    let id = if let Some(id) = device_id(path, &o.device) {
        id
    } else if let Some(id) = medical_id(path, &o.medical) {
        id
    } else if path.contains("/forms/{id}") {
        o.edc.form
    } else if path.contains("/queries/{id}") {
        o.edc.query
    } else if path.contains("/participant-visits/") {
        o.participant_visit
    } else if path.contains("/consent-documents/") {
        o.consent_document
    } else if path.contains("/consent-events/") {
        o.consent_event
    } else if path.contains("/participants/{id}") {
        o.participant
    } else if path.starts_with("/api/v1/visits/") {
        o.visit
    } else if path.starts_with("/visits/") {
        o.page_visit
    } else if path.contains("/resources/") {
        o.resource
    } else if path.contains("/feeds/") {
        o.feed
    } else if path.contains("/delegation/") {
        o.delegation
    } else if path.contains("/sites/") {
        o.site
    } else if path.contains("/tasks/") {
        o.task
    } else if path.contains("/grants/") {
        o.grant
    } else if path.contains("/tokens/") {
        o.token
    } else {
        o.user
    };
    path.replace("{id}", &id.to_string())
        .replace("{code}", &o.study)
        .replace("{site}", "CHI")
        .replace("{module}", &o.device.module.to_string())
        .replace("{publication}", &o.medical.publication.to_string())
        .replace("{session}", &o.medical.session.to_string())
        .replace("{secret}", &o.feed_secret)
        .replace("{token}", "no-such-kiosk-token")
        .replace("{event}", "-")
        .replace("{instrument}", "vitals")
        .replace("{instance}", "1")
        .replace("{field}", "weight")
        .replace("{record}", &o.edc.record)
        .replace("{name}", "record_id")
        .replace("{period}", "2026-H2")
}

async fn run_as(db: &TestDb, role: Option<&'static str>) -> Vec<String> {
    let app = common::spawn_app(db).await;
    let o = others(&app).await;
    let client = match role {
        Some(r) => app.signed_in(r).await,
        None => app.client(),
    };
    let mut failures = Vec::new();
    for (method, path, expect, body) in MATRIX {
        let url = app.url(&fill(path, &o));
        let mut req = client.request(method.parse().unwrap(), &url);
        req = match body {
            Body::None => req,
            Body::Json(j) => req.header("content-type", "application/json").body(fill_body(j, &o)),
            Body::Csv(c) => req.header("content-type", "text/csv").body(*c),
            Body::Form(f) => req.header("content-type", "application/x-www-form-urlencoded").body(*f),
        };
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let location = res.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("").to_string();
        let page = !path.starts_with("/api/");
        let hidden = matches!(expect, Expect::Hidden(_));
        let kept_out = match role {
            _ if matches!(expect, Expect::Token) => status == 401 || status == 403,
            None if page => status == 303 && location.starts_with("/login"),
            None => status == 401,
            Some(_) => status == 403 || (hidden && status == 404),
        };
        let should_allow = match (expect, role) {
            (Expect::Public, _) => None,
            (Expect::Token, _) => Some(false),
            (_, None) => Some(false),
            (Expect::Signed, Some(_)) => Some(true),
            (Expect::Only(roles) | Expect::Hidden(roles), Some(r)) => Some(roles.contains(&r)),
            (Expect::Nobody, Some(_)) => Some(false),
        };
        let who = role.unwrap_or("anonymous");
        if status >= 500 {
            failures.push(format!("{who}: {method} {path} -> {status}"));
            continue;
        }
        match should_allow {
            None if status == 403 => failures.push(format!("{who}: {method} {path} is public but answered 403")),
            None => {}
            Some(true) if kept_out || status == 401 || (hidden && status == 404) => {
                failures.push(format!("{who}: {method} {path} should be allowed, got {status}"))
            }
            Some(false) if !kept_out => {
                failures.push(format!("{who}: {method} {path} should be refused, got {status} {location}"))
            }
            _ => {}
        }
    }
    failures
}

async fn every_role_on_every_route(db: &TestDb) {
    let mut failures = Vec::new();
    let roles: Vec<Option<&'static str>> =
        std::iter::once(None).chain(Role::ALL.iter().map(|r| Some(r.as_str()))).collect();
    for role in roles {
        let db = db.another().await;
        failures.extend(run_as(&db, role).await);
    }
    assert!(failures.is_empty(), "authorization matrix failures:\n{}", failures.join("\n"));
}

both_backends!(every_role_on_every_route);
