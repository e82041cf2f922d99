//! Consent: document versions and the rules for recording a consent event, and the eConsent
//! snapshot — the exact page a participant read and signed, rendered once, hashed and kept.
//!
//! A document version is in effect from its effective date until it is retired (a newer version
//! of the same language retires it on the day it takes effect). Recording consent checks the
//! signer (the participant, or a legally authorized representative with the relationship), the
//! witness when the version requires one, every comprehension question answered as expected,
//! and whether a copy was given.

use crate::{Checks, Invalid, required_text};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest consent document accepted, in bytes.
pub const MAX_PDF_BYTES: usize = 20 * 1024 * 1024;

/// Days a participant on an older version has to re-consent once a new version takes effect.
pub const RECONSENT_DAYS: i64 = 30;

/// How long a kiosk link stays usable after it is opened for the participant.
pub const KIOSK_MINUTES: i64 = 120;

/// What the participant certifies on the kiosk before signing; every box must be ticked.
pub const CERTIFICATIONS: [&str; 4] = [
    "I have read this consent form (or it was read to me) and I understand it.",
    "I had the chance to ask questions, and my questions were answered.",
    "I take part voluntarily and know I can withdraw at any time without losing care I am entitled to.",
    "I agree that typing my full name below is my electronic signature, as binding as a handwritten one.",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Paper,
    Electronic,
    Remote,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Paper, Method::Electronic, Method::Remote];
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Paper => "paper",
            Method::Electronic => "electronic",
            Method::Remote => "remote",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Method::Paper => "Paper, signed in person",
            Method::Electronic => "Electronic (kiosk in clinic)",
            Method::Remote => "Remote (telephone or video, signed form returned)",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| Invalid::one("method", "must be paper, electronic or remote"))
    }
}

/// Who signed: the participant, or a legally authorized representative on their behalf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignerKind {
    Participant,
    Representative,
}

impl SignerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignerKind::Participant => "participant",
            SignerKind::Representative => "representative",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.trim() {
            "" | "participant" => Ok(SignerKind::Participant),
            "representative" => Ok(SignerKind::Representative),
            _ => Err(Invalid::one("signer", "must be participant or representative")),
        }
    }
}

/// A comprehension question and the answer that shows the point was understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub text: String,
    pub expected: bool,
}

/// Reads questions typed one per line as `question | yes` or `question | no`.
pub fn parse_questions(raw: &str) -> Result<Vec<Question>, Invalid> {
    let mut out = Vec::new();
    for (i, line) in raw.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
        let n = i + 1;
        let Some((text, answer)) = line.rsplit_once('|') else {
            return Err(Invalid::one("questions", format!("line {n}: write the question, a bar and yes or no")));
        };
        let expected = match answer.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" => true,
            "no" | "false" => false,
            _ => return Err(Invalid::one("questions", format!("line {n}: the expected answer must be yes or no"))),
        };
        let text = required_text("questions", text, 300)
            .map_err(|e| Invalid::one("questions", format!("line {n}: the question {}", e.0[0].message)))?;
        out.push(Question { text, expected });
    }
    check_questions(&out)?;
    Ok(out)
}

fn check_questions(q: &[Question]) -> Result<(), Invalid> {
    if q.len() > 20 {
        return Err(Invalid::one("questions", "at most 20 comprehension questions"));
    }
    for (i, x) in q.iter().enumerate() {
        required_text("questions", &x.text, 300)
            .map_err(|e| Invalid::one("questions", format!("question {}: {}", i + 1, e.0[0].message)))?;
    }
    Ok(())
}

/// Writes questions back in the form [`parse_questions`] reads.
pub fn questions_text(q: &[Question]) -> String {
    q.iter().map(|x| format!("{} | {}", x.text, if x.expected { "yes" } else { "no" })).collect::<Vec<_>>().join("\n")
}

/// A language tag as used on consent forms: `en`, `es`, `pt-BR`, `zh-Hant`.
pub fn language(raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    let mut parts = v.split('-');
    let primary = parts.next().unwrap_or_default();
    let primary_ok = (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase());
    let rest_ok = parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if v.is_empty() || !primary_ok || !rest_ok {
        return Err(Invalid::one("language", "must be a language tag such as en, es or pt-BR"));
    }
    Ok(v.to_string())
}

/// A new consent document version as entered.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DocumentInput {
    pub version_label: String,
    pub language: String,
    pub title: String,
    pub irb_approved_on: Option<NaiveDate>,
    pub effective_on: Option<NaiveDate>,
    pub body: String,
    pub questions: Vec<Question>,
    pub witness_required: bool,
}

/// A checked document version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    pub version_label: String,
    pub language: String,
    pub title: String,
    pub irb_approved_on: NaiveDate,
    pub effective_on: NaiveDate,
    pub body: String,
    pub questions: Vec<Question>,
    pub witness_required: bool,
}

impl DocumentInput {
    pub fn check(&self) -> Result<Document, Invalid> {
        let mut c = Checks::new();
        let version_label = c.take("version_label", required_text("version_label", &self.version_label, 40));
        let language = c.take("language", language(&self.language));
        let title = c.take("title", required_text("title", &self.title, 200));
        let body = self.body.replace("\r\n", "\n").trim().to_string();
        if body.is_empty() {
            c.push("body", "is required: the text the participant reads on the kiosk");
        } else if body.len() > 200_000 {
            c.push("body", "must be at most 200,000 characters");
        }
        c.take("questions", check_questions(&self.questions));
        if self.irb_approved_on.is_none() {
            c.push("irb_approved_on", "is required: a consent form is used only once the IRB approved it");
        }
        if self.effective_on.is_none() {
            c.push("effective_on", "is required");
        }
        if let (Some(a), Some(e)) = (self.irb_approved_on, self.effective_on)
            && e < a
        {
            c.push("effective_on", format!("must not be before the IRB approval ({a})"));
        }
        c.finish()?;
        Ok(Document {
            version_label: version_label.unwrap_or_default(),
            language: language.unwrap_or_default(),
            title: title.unwrap_or_default(),
            irb_approved_on: self.irb_approved_on.unwrap_or_default(),
            effective_on: self.effective_on.unwrap_or_default(),
            body,
            questions: self.questions.clone(),
            witness_required: self.witness_required,
        })
    }
}

/// Checks an uploaded document: a PDF within the size limit. Gives its SHA-256 in hex.
pub fn check_pdf(bytes: &[u8]) -> Result<String, Invalid> {
    if bytes.is_empty() {
        return Err(Invalid::one("pdf", "is required: the IRB-approved form as a PDF"));
    }
    if bytes.len() > MAX_PDF_BYTES {
        return Err(Invalid::one("pdf", format!("must be at most {} MiB", MAX_PDF_BYTES / (1024 * 1024))));
    }
    if !bytes.starts_with(b"%PDF-") {
        return Err(Invalid::one("pdf", "is not a PDF file"));
    }
    Ok(sha256_hex(bytes))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether a version is in effect on a day.
pub fn in_effect(effective_on: NaiveDate, retired_on: Option<NaiveDate>, day: NaiveDate) -> bool {
    effective_on <= day && retired_on.is_none_or(|r| day < r)
}

/// A consent event as entered by the person obtaining consent (paper, remote) or by the
/// participant on the kiosk (electronic).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventInput {
    pub method: String,
    pub signer: String,
    /// The name the signer printed or typed.
    pub signer_name: String,
    pub representative_relationship: String,
    pub witness_name: String,
    /// One answer per question, in order.
    pub answers: Vec<Option<bool>>,
    pub copy_provided: Option<bool>,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedEvent {
    pub method: Method,
    pub signer: SignerKind,
    pub signer_name: String,
    pub representative_relationship: String,
    pub witness_name: String,
    pub answers: Vec<bool>,
    pub copy_provided: bool,
    pub note: String,
}

/// Checks a consent event against the version signed.
pub fn check_event(questions: &[Question], witness_required: bool, e: &EventInput) -> Result<CheckedEvent, Invalid> {
    let mut c = Checks::new();
    let method = c.take("method", Method::parse(&e.method));
    let signer = c.take("signer", SignerKind::parse(&e.signer));
    let signer_name = c.take("signer_name", required_text("signer_name", &e.signer_name, 200));
    let relationship = c
        .take(
            "representative_relationship",
            crate::trials::optional_text("representative_relationship", &e.representative_relationship, 100),
        )
        .unwrap_or_default();
    if signer == Some(SignerKind::Representative) && relationship.is_empty() {
        c.push("representative_relationship", "say how the representative is related to the participant");
    }
    if signer == Some(SignerKind::Participant) && !relationship.is_empty() {
        c.push("representative_relationship", "only a representative has a relationship to the participant");
    }
    let witness_name =
        c.take("witness_name", crate::trials::optional_text("witness_name", &e.witness_name, 200)).unwrap_or_default();
    if witness_required && witness_name.is_empty() {
        c.push("witness_name", "this version requires an impartial witness: name them");
    }
    let note = c.take("note", crate::trials::optional_text("note", &e.note, 1000)).unwrap_or_default();
    let mut answers = Vec::new();
    if e.answers.len() != questions.len() {
        c.push("answers", format!("answer each of the {} comprehension questions", questions.len()));
    } else {
        for (i, (q, a)) in questions.iter().zip(&e.answers).enumerate() {
            match a {
                None => c.push(&format!("answers.{i}"), format!("question {} is not answered", i + 1)),
                Some(a) if *a != q.expected => c.push(
                    &format!("answers.{i}"),
                    format!(
                        "question {} was not understood (“{}”): explain it again before consent is recorded",
                        i + 1,
                        q.text
                    ),
                ),
                Some(a) => answers.push(*a),
            }
        }
    }
    let copy_provided = match e.copy_provided {
        Some(v) => v,
        None => {
            c.push("copy_provided", "say whether a copy of the signed form was given");
            false
        }
    };
    if !copy_provided && e.copy_provided.is_some() && note.is_empty() {
        c.push("note", "explain why no copy of the signed form was given");
    }
    c.finish()?;
    Ok(CheckedEvent {
        method: method.unwrap_or(Method::Paper),
        signer: signer.unwrap_or(SignerKind::Participant),
        signer_name: signer_name.unwrap_or_default(),
        representative_relationship: relationship,
        witness_name,
        answers,
        copy_provided,
        note,
    })
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the participant reads: the version's title, label, language and text, rendered as
/// escaped HTML. The same document always renders to the same bytes, so the kiosk page and the
/// stored snapshot hold exactly the same text. Blank lines separate paragraphs; a line starting
/// with `# ` is a heading.
pub fn render_document(title: &str, version_label: &str, language: &str, body: &str) -> String {
    let mut out = format!(
        "<section class=\"consent-document\" lang=\"{}\">\n<h2>{}</h2>\n<p class=\"consent-version\">Version {}</p>\n",
        escape_html(language),
        escape_html(title),
        escape_html(version_label)
    );
    for block in body.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        if let Some(h) = block.strip_prefix("# ") {
            out.push_str(&format!("<h3>{}</h3>\n", escape_html(h.trim())));
        } else {
            let lines: Vec<String> = block.lines().map(|l| escape_html(l.trim())).collect();
            out.push_str(&format!("<p>{}</p>\n", lines.join("<br>")));
        }
    }
    out.push_str("</section>\n");
    out
}

/// What the snapshot records beside the document text.
pub struct SnapshotSigning<'a> {
    pub subject_id: &'a str,
    pub study_code: &'a str,
    pub pdf_sha256: &'a str,
    pub questions: &'a [Question],
    pub event: &'a CheckedEvent,
    pub signed_at: DateTime<Utc>,
    /// The signing time in the site's time zone, as shown to the signer.
    pub signed_local: String,
}

/// The immutable record of an eConsent: a standalone HTML page with the rendered document (as
/// shown), the certifications ticked, the answers given, the typed name and the time. Its
/// SHA-256 is stored beside it.
pub fn snapshot_html(document_html: &str, s: &SnapshotSigning<'_>) -> String {
    let e = s.event;
    let mut out = String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Consent record ");
    out.push_str(&escape_html(s.subject_id));
    out.push_str("</title></head><body>\n");
    out.push_str(&format!(
        "<header><p>Study {} · participant {}</p><p>Document of record: PDF SHA-256 {}</p></header>\n",
        escape_html(s.study_code),
        escape_html(s.subject_id),
        escape_html(s.pdf_sha256)
    ));
    out.push_str(document_html);
    if !s.questions.is_empty() {
        out.push_str("<section class=\"consent-questions\"><h3>Questions</h3><ol>\n");
        for (q, a) in s.questions.iter().zip(&e.answers) {
            out.push_str(&format!(
                "<li>{} — <strong>{}</strong></li>\n",
                escape_html(&q.text),
                if *a { "Yes" } else { "No" }
            ));
        }
        out.push_str("</ol></section>\n");
    }
    out.push_str("<section class=\"consent-signature\"><h3>Signature</h3><ul>\n");
    for c in CERTIFICATIONS {
        out.push_str(&format!("<li>☑ {}</li>\n", escape_html(c)));
    }
    out.push_str("</ul>\n");
    let who = match e.signer {
        SignerKind::Participant => "the participant".to_string(),
        SignerKind::Representative => {
            format!("a legally authorized representative ({})", escape_html(&e.representative_relationship))
        }
    };
    out.push_str(&format!(
        "<p>Signed by {who}, typed name: <strong>{}</strong></p>\n<p>Signed at {} ({})</p>\n",
        escape_html(&e.signer_name),
        escape_html(&s.signed_local),
        s.signed_at.format("%Y-%m-%dT%H:%M:%S%.6fZ")
    ));
    if !e.witness_name.is_empty() {
        out.push_str(&format!("<p>Witness: {}</p>\n", escape_html(&e.witness_name)));
    }
    out.push_str("</section>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qs() -> Vec<Question> {
        vec![
            Question { text: "Can you leave the study at any time?".into(), expected: true },
            Question { text: "Is the study drug already approved for heart failure?".into(), expected: false },
        ]
    }

    fn ev() -> EventInput {
        EventInput {
            method: "paper".into(),
            signer: "participant".into(),
            signer_name: "Ada Quinn".into(),
            answers: vec![Some(true), Some(false)],
            copy_provided: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn questions_round_trip_and_report_the_line() {
        let q = parse_questions("Can you leave the study at any time? | yes\n\nIs the study drug already approved for heart failure? | NO\n")
            .unwrap();
        assert_eq!(q, qs());
        assert_eq!(parse_questions(&questions_text(&q)).unwrap(), q);
        let e = parse_questions("fine | yes\nno bar here").unwrap_err();
        assert!(e.0[0].message.starts_with("line 2"), "{e}");
        let e = parse_questions("fine | maybe").unwrap_err();
        assert!(e.0[0].message.contains("yes or no"), "{e}");
    }

    #[test]
    fn language_tags() {
        for ok in ["en", "es", "pt-BR", "zh-Hant", "haw"] {
            assert_eq!(language(ok).unwrap(), ok);
        }
        for bad in ["", "English", "EN", "e", "en_US", "en-", "en-a"] {
            assert!(language(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_document_is_effective_only_after_irb_approval() {
        let d = |a: u32, e: u32| DocumentInput {
            version_label: "v2.0".into(),
            language: "en".into(),
            title: "Main consent".into(),
            irb_approved_on: NaiveDate::from_ymd_opt(2026, 3, a),
            effective_on: NaiveDate::from_ymd_opt(2026, 3, e),
            body: "Text".into(),
            ..Default::default()
        };
        assert!(d(1, 5).check().is_ok());
        let e = d(5, 1).check().unwrap_err();
        assert_eq!(e.0[0].field, "effective_on");
        let e = DocumentInput::default().check().unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        for f in ["version_label", "language", "title", "body", "irb_approved_on", "effective_on"] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn pdf_checks() {
        assert!(check_pdf(b"%PDF-1.7\n...").is_ok());
        assert_eq!(check_pdf(b"%PDF-1.7\n").unwrap().len(), 64);
        assert!(check_pdf(b"").is_err());
        assert!(check_pdf(b"<html>").unwrap_err().0[0].message.contains("not a PDF"));
    }

    #[test]
    fn effect_runs_from_effective_day_until_retirement() {
        let d = |n| NaiveDate::from_ymd_opt(2026, 1, n).unwrap();
        assert!(!in_effect(d(10), None, d(9)));
        assert!(in_effect(d(10), None, d(10)));
        assert!(in_effect(d(10), Some(d(20)), d(19)));
        assert!(!in_effect(d(10), Some(d(20)), d(20)));
    }

    #[test]
    fn an_event_needs_every_answer_right() {
        assert!(check_event(&qs(), false, &ev()).is_ok());
        let mut wrong = ev();
        wrong.answers = vec![Some(true), Some(true)];
        let e = check_event(&qs(), false, &wrong).unwrap_err();
        assert_eq!(e.0[0].field, "answers.1");
        assert!(e.0[0].message.contains("explain it again"));
        let mut missing = ev();
        missing.answers = vec![Some(true), None];
        assert!(check_event(&qs(), false, &missing).unwrap_err().0[0].message.contains("not answered"));
        let mut short = ev();
        short.answers = vec![];
        assert_eq!(check_event(&qs(), false, &short).unwrap_err().0[0].field, "answers");
    }

    #[test]
    fn representatives_witnesses_and_copies() {
        let mut lar = ev();
        lar.signer = "representative".into();
        assert_eq!(check_event(&qs(), false, &lar).unwrap_err().0[0].field, "representative_relationship");
        lar.representative_relationship = "daughter".into();
        assert_eq!(check_event(&qs(), false, &lar).unwrap().signer, SignerKind::Representative);
        assert_eq!(check_event(&qs(), true, &ev()).unwrap_err().0[0].field, "witness_name");
        let mut w = ev();
        w.witness_name = "Jo Reyes".into();
        assert!(check_event(&qs(), true, &w).is_ok());
        let mut no_copy = ev();
        no_copy.copy_provided = Some(false);
        assert_eq!(check_event(&qs(), false, &no_copy).unwrap_err().0[0].field, "note");
        no_copy.note = "Participant declined a copy".into();
        assert!(!check_event(&qs(), false, &no_copy).unwrap().copy_provided);
        let mut unsaid = ev();
        unsaid.copy_provided = None;
        assert_eq!(check_event(&qs(), false, &unsaid).unwrap_err().0[0].field, "copy_provided");
    }

    #[test]
    fn rendering_escapes_and_is_stable() {
        let html = render_document("Consent <b>", "v1", "en", "# Purpose\n\nWe test <script>.\nLine two\n\n\nEnd");
        assert!(html.contains("<h2>Consent &lt;b&gt;</h2>"));
        assert!(html.contains("<h3>Purpose</h3>"));
        assert!(html.contains("<p>We test &lt;script&gt;.<br>Line two</p>"));
        assert!(!html.contains("<script>"));
        assert_eq!(
            html,
            render_document("Consent <b>", "v1", "en", "# Purpose\n\nWe test <script>.\nLine two\n\n\nEnd")
        );
    }

    #[test]
    fn the_snapshot_holds_what_was_signed() {
        let e = check_event(&qs(), false, &ev()).unwrap();
        let doc = render_document("Main", "v1", "en", "Body");
        let s = snapshot_html(
            &doc,
            &SnapshotSigning {
                subject_id: "HF3-CHI-0001",
                study_code: "HF3",
                pdf_sha256: "ab12",
                questions: &qs(),
                event: &e,
                signed_at: chrono::DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
                signed_local: "2026-05-28 14:26 CDT".into(),
            },
        );
        assert!(s.contains(&doc));
        assert!(s.contains("Ada Quinn"));
        assert!(s.contains("ab12"));
        for c in CERTIFICATIONS {
            assert!(s.contains(&escape_html(c)));
        }
        assert!(s.contains("Is the study drug already approved for heart failure? — <strong>No</strong>"));
    }
}
