//! Participants: the enrollment pipeline as a state machine with its reasons, subject id
//! patterns, eligibility checklists and the screening funnel. Randomization lives in
//! [`randomization`].

pub mod randomization;

use crate::{Checks, Invalid, required_text};
use serde::{Deserialize, Serialize};

/// Where a participant is in the pipeline of one study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Prescreen,
    Screening,
    ScreenFailed,
    Consented,
    Eligible,
    Enrolled,
    Randomized,
    Active,
    Completed,
    Withdrawn,
    LostToFollowUp,
    Deceased,
}

impl Status {
    pub const ALL: [Status; 12] = [
        Status::Prescreen,
        Status::Screening,
        Status::ScreenFailed,
        Status::Consented,
        Status::Eligible,
        Status::Enrolled,
        Status::Randomized,
        Status::Active,
        Status::Completed,
        Status::Withdrawn,
        Status::LostToFollowUp,
        Status::Deceased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Prescreen => "prescreen",
            Status::Screening => "screening",
            Status::ScreenFailed => "screen_failed",
            Status::Consented => "consented",
            Status::Eligible => "eligible",
            Status::Enrolled => "enrolled",
            Status::Randomized => "randomized",
            Status::Active => "active",
            Status::Completed => "completed",
            Status::Withdrawn => "withdrawn",
            Status::LostToFollowUp => "lost_to_follow_up",
            Status::Deceased => "deceased",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Prescreen => "Prescreen",
            Status::Screening => "Screening",
            Status::ScreenFailed => "Screen failed",
            Status::Consented => "Consented",
            Status::Eligible => "Eligible",
            Status::Enrolled => "Enrolled",
            Status::Randomized => "Randomized",
            Status::Active => "Active",
            Status::Completed => "Completed",
            Status::Withdrawn => "Withdrawn",
            Status::LostToFollowUp => "Lost to follow-up",
            Status::Deceased => "Deceased",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            .ok_or_else(|| Invalid::one("status", "is not a participant status"))
    }

    /// The statuses a participant may move to from this one. Randomized is reached only by
    /// randomizing; a participant lost to follow-up who comes back returns to active.
    pub fn next(self) -> &'static [Status] {
        use Status::*;
        match self {
            Prescreen => &[Screening, ScreenFailed, Withdrawn],
            Screening => &[Consented, ScreenFailed, Withdrawn],
            Consented => &[Eligible, ScreenFailed, Withdrawn, LostToFollowUp, Deceased],
            Eligible => &[Enrolled, ScreenFailed, Withdrawn, LostToFollowUp, Deceased],
            Enrolled => &[Randomized, Active, Withdrawn, LostToFollowUp, Deceased],
            Randomized => &[Active, Withdrawn, LostToFollowUp, Deceased],
            Active => &[Completed, Withdrawn, LostToFollowUp, Deceased],
            LostToFollowUp => &[Active, Withdrawn, Deceased],
            ScreenFailed | Completed | Withdrawn | Deceased => &[],
        }
    }

    pub fn can_become(self, to: Status) -> bool {
        self.next().contains(&to)
    }

    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }

    /// Moves before enrollment, which a site may make only while it may screen and enroll.
    pub fn is_screening_step(self) -> bool {
        matches!(self, Status::Screening | Status::Consented | Status::Eligible | Status::Enrolled | Status::Randomized)
    }
}

/// Why a candidate did not pass screening.
pub const SCREEN_FAIL_REASONS: [(&str, &str); 8] = [
    ("inclusion_not_met", "An inclusion criterion is not met"),
    ("exclusion_met", "An exclusion criterion is met"),
    ("declined", "Declined to take part"),
    ("lab_values", "Laboratory values out of range"),
    ("unable_to_comply", "Unable to comply with visits or procedures"),
    ("investigator_decision", "Investigator decision"),
    ("enrollment_closed", "Enrollment closed before randomization"),
    ("other", "Other (explain)"),
];

/// Why a participant left the study early.
pub const WITHDRAWAL_REASONS: [(&str, &str); 7] = [
    ("participant_decision", "Participant's decision"),
    ("adverse_event", "Adverse event"),
    ("investigator_decision", "Investigator decision"),
    ("protocol_deviation", "Protocol deviation"),
    ("pregnancy", "Pregnancy"),
    ("sponsor_decision", "Sponsor decision or study stopped"),
    ("other", "Other (explain)"),
];

/// What a participant's withdrawal of consent still allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentWithdrawal {
    /// Consent stands: follow-up contact and data collection may continue.
    None,
    /// No further contact; data already collected may still be used and completed from records.
    NoFurtherContact,
    /// No further contact and no further data collection.
    NoFurtherData,
}

impl ConsentWithdrawal {
    pub const ALL: [ConsentWithdrawal; 3] =
        [ConsentWithdrawal::None, ConsentWithdrawal::NoFurtherContact, ConsentWithdrawal::NoFurtherData];
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentWithdrawal::None => "none",
            ConsentWithdrawal::NoFurtherContact => "no_further_contact",
            ConsentWithdrawal::NoFurtherData => "no_further_data",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ConsentWithdrawal::None => "Consent stands (follow-up continues)",
            ConsentWithdrawal::NoFurtherContact => "No further contact",
            ConsentWithdrawal::NoFurtherData => "No further contact or data collection",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(ConsentWithdrawal::None);
        }
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| Invalid::one("consent_withdrawal", "must be none, no_further_contact or no_further_data"))
    }
    pub fn allows_contact(self) -> bool {
        self == ConsentWithdrawal::None
    }
    pub fn allows_data(self) -> bool {
        self != ConsentWithdrawal::NoFurtherData
    }
}

/// A requested move with what it must carry.
#[derive(Debug, Clone, Default)]
pub struct Move {
    pub reason_code: String,
    pub detail: String,
    pub consent_withdrawal: String,
}

/// The reason a move records, once checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedMove {
    pub reason_code: String,
    pub detail: String,
    pub consent_withdrawal: ConsentWithdrawal,
}

fn reason_label(list: &[(&'static str, &'static str)], code: &str) -> Option<&'static str> {
    list.iter().find(|(k, _)| *k == code).map(|(_, l)| *l)
}

/// The label of a screen-failure or withdrawal reason code.
pub fn reason_text(code: &str) -> &'static str {
    reason_label(&SCREEN_FAIL_REASONS, code).or_else(|| reason_label(&WITHDRAWAL_REASONS, code)).unwrap_or("")
}

/// Checks a pipeline move: the transition must be allowed and carry its reasons — a reason
/// code for a screen failure or a withdrawal (with "other" explained), an explanation for lost
/// to follow-up, and the scope of any consent withdrawal.
pub fn transition(from: Status, to: Status, m: &Move) -> Result<CheckedMove, Invalid> {
    if !from.can_become(to) {
        let allowed: Vec<&str> = from.next().iter().map(|s| s.label()).collect();
        let hint = if allowed.is_empty() { "none: it is final".to_string() } else { allowed.join(", ") };
        return Err(Invalid::one(
            "status",
            format!(
                "a participant who is {} cannot become {} (allowed: {hint})",
                from.label().to_lowercase(),
                to.label().to_lowercase()
            ),
        ));
    }
    let mut c = Checks::new();
    let detail = c.take("detail", crate::trials::optional_text("detail", &m.detail, 1000)).unwrap_or_default();
    let code = m.reason_code.trim().to_string();
    let list: Option<&[(&str, &str)]> = match to {
        Status::ScreenFailed => Some(&SCREEN_FAIL_REASONS),
        Status::Withdrawn => Some(&WITHDRAWAL_REASONS),
        _ => None,
    };
    if let Some(list) = list {
        if code.is_empty() {
            c.push(
                "reason_code",
                format!("a reason is required to record a participant as {}", to.label().to_lowercase()),
            );
        } else if reason_label(list, &code).is_none() {
            let codes: Vec<&str> = list.iter().map(|(k, _)| *k).collect();
            c.push("reason_code", format!("must be one of {}", codes.join(", ")));
        } else if code == "other" && detail.is_empty() {
            c.push("detail", "explain the reason when it is \"other\"");
        }
    } else if !code.is_empty() {
        c.push("reason_code", "a reason code is recorded only for a screen failure or a withdrawal");
    }
    if to == Status::LostToFollowUp && detail.is_empty() {
        c.push("detail", "say how contact was attempted (for example three calls and a letter)");
    }
    let consent_withdrawal = c.take("consent_withdrawal", ConsentWithdrawal::parse(&m.consent_withdrawal));
    if to != Status::Withdrawn && consent_withdrawal.is_some_and(|w| w != ConsentWithdrawal::None) {
        c.push("consent_withdrawal", "consent is withdrawn only with a withdrawal");
    }
    c.finish()?;
    Ok(CheckedMove {
        reason_code: code,
        detail,
        consent_withdrawal: consent_withdrawal.unwrap_or(ConsentWithdrawal::None),
    })
}

/// A per-study subject id pattern such as `{site}-{seq:04}`: literal text with the
/// placeholders `{site}` (site code), `{study}` (study code) and exactly one `{seq}` or
/// `{seq:0N}` (a counter zero-padded to N digits). With `{site}` the counter runs per site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectIdPattern {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Site,
    Study,
    Seq(usize),
}

impl SubjectIdPattern {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let err = |m: &str| Invalid::one("subject_id_pattern", m);
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 60 {
            return Err(err("must be 1 to 60 characters, for example {site}-{seq:04}"));
        }
        let mut parts = Vec::new();
        let mut rest = raw;
        let mut seqs = 0;
        while !rest.is_empty() {
            if let Some(open) = rest.find('{') {
                if open > 0 {
                    parts.push(Part::Text(rest[..open].to_string()));
                }
                let Some(close) = rest[open..].find('}') else { return Err(err("has a { without its }")) };
                let token = &rest[open + 1..open + close];
                parts.push(match token {
                    "site" => Part::Site,
                    "study" => Part::Study,
                    "seq" => {
                        seqs += 1;
                        Part::Seq(1)
                    }
                    t if t.starts_with("seq:") => {
                        seqs += 1;
                        let w = &t[4..];
                        let width = w.trim_start_matches('0').parse::<usize>().ok().filter(|n| (1..=9).contains(n));
                        match width {
                            Some(n) if w.starts_with('0') || w.len() == 1 => Part::Seq(n),
                            _ => return Err(err("{seq:0N} needs a width from 1 to 9, for example {seq:04}")),
                        }
                    }
                    other => {
                        return Err(err(&format!(
                            "{{{other}}} is not a placeholder (use {{site}}, {{study}}, {{seq:04}})"
                        )));
                    }
                });
                rest = &rest[open + close + 1..];
            } else {
                parts.push(Part::Text(rest.to_string()));
                rest = "";
            }
        }
        if seqs != 1 {
            return Err(err("must contain {seq} (or {seq:0N}) exactly once"));
        }
        for p in &parts {
            if let Part::Text(t) = p
                && !t.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                return Err(err("literal text may contain only letters, digits and - _ . /"));
            }
        }
        Ok(Self { parts })
    }

    /// Whether the counter runs per site (the pattern names the site).
    pub fn per_site(&self) -> bool {
        self.parts.contains(&Part::Site)
    }

    pub fn render(&self, study: &str, site: &str, seq: i64) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => s.push_str(t),
                Part::Site => s.push_str(site),
                Part::Study => s.push_str(study),
                Part::Seq(w) => s.push_str(&format!("{seq:0w$}", w = *w)),
            }
        }
        s
    }
}

/// The default pattern for a new study.
pub const DEFAULT_SUBJECT_ID_PATTERN: &str = "{site}-{seq:03}";

/// Inclusion or exclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionKind {
    Inclusion,
    Exclusion,
}

impl CriterionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CriterionKind::Inclusion => "inclusion",
            CriterionKind::Exclusion => "exclusion",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.trim() {
            "inclusion" => Ok(CriterionKind::Inclusion),
            "exclusion" => Ok(CriterionKind::Exclusion),
            _ => Err(Invalid::one("kind", "must be inclusion or exclusion")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Yes,
    No,
    NotApplicable,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Yes => "yes",
            Answer::No => "no",
            Answer::NotApplicable => "not_applicable",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Answer::Yes => "Yes",
            Answer::No => "No",
            Answer::NotApplicable => "N/A",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.trim() {
            "yes" => Ok(Answer::Yes),
            "no" => Ok(Answer::No),
            "not_applicable" | "na" | "n/a" => Ok(Answer::NotApplicable),
            _ => Err(Invalid::one("answer", "must be yes, no or not_applicable")),
        }
    }
}

/// A criterion of a study's checklist, as the assessment sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Criterion {
    pub code: String,
    pub kind: CriterionKind,
    pub text: String,
}

/// One answered criterion with where the answer was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub code: String,
    pub answer: Answer,
    pub source: String,
}

/// The outcome of a checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub eligible: bool,
    /// Codes of the criteria that make the participant ineligible.
    pub failed: Vec<String>,
}

/// Evaluates a checklist: every criterion needs an answer and a source; an inclusion answered
/// "no" or an exclusion answered "yes" makes the participant ineligible. "Not applicable"
/// neither includes nor excludes (for example a pregnancy test for a man).
pub fn assess(criteria: &[Criterion], responses: &[Response]) -> Result<Assessment, Invalid> {
    let mut c = Checks::new();
    for r in responses {
        if !criteria.iter().any(|k| k.code == r.code) {
            c.push(&format!("answers.{}", r.code), "is not a criterion of this study");
        }
    }
    let mut failed = Vec::new();
    for k in criteria {
        let field = format!("answers.{}", k.code);
        match responses.iter().find(|r| r.code == k.code) {
            None => c.push(&field, "needs an answer"),
            Some(r) => {
                if let Err(e) = required_text("source", &r.source, 200) {
                    c.push(&field, format!("source {}", e.0[0].message));
                }
                let fails = matches!(
                    (k.kind, r.answer),
                    (CriterionKind::Inclusion, Answer::No) | (CriterionKind::Exclusion, Answer::Yes)
                );
                if fails {
                    failed.push(k.code.clone());
                }
            }
        }
    }
    if criteria.is_empty() {
        c.push("criteria", "the study has no eligibility criteria yet");
    }
    c.finish()?;
    Ok(Assessment { eligible: failed.is_empty(), failed })
}

/// One stage of the CONSORT-style funnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunnelStage {
    pub stage: &'static str,
    pub count: i64,
}

/// The screening funnel from prescreen failures (anonymous counts) and, per participant, every
/// status they have held. Each participant counts in every stage up to the furthest reached, so
/// a screen failure after consent still counts as consented.
pub fn funnel(prescreen_failures: i64, histories: &[Vec<Status>]) -> Vec<FunnelStage> {
    let depth = |s: &Status| -> u8 {
        match s {
            Status::Prescreen
            | Status::ScreenFailed
            | Status::Withdrawn
            | Status::LostToFollowUp
            | Status::Deceased => 0,
            Status::Screening => 1,
            Status::Consented => 2,
            Status::Eligible => 3,
            Status::Enrolled | Status::Randomized | Status::Active => 4,
            Status::Completed => 6,
        }
    };
    let furthest: Vec<u8> = histories.iter().map(|h| h.iter().map(depth).max().unwrap_or(0)).collect();
    let count = |min: u8| furthest.iter().filter(|d| **d >= min).count() as i64;
    vec![
        FunnelStage { stage: "Assessed for eligibility", count: prescreen_failures + histories.len() as i64 },
        FunnelStage { stage: "Screened", count: count(1) },
        FunnelStage { stage: "Consented", count: count(2) },
        FunnelStage { stage: "Eligible", count: count(3) },
        FunnelStage { stage: "Enrolled", count: count(4) },
        FunnelStage { stage: "Completed", count: count(6) },
    ]
}

/// One month of an enrollment curve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnrollmentMonth {
    /// The first day of the month.
    pub month: chrono::NaiveDate,
    pub enrolled: i64,
    pub cumulative: i64,
}

/// Cumulative enrollment month by month, from the first month anyone enrolled to the month of
/// `today` (months without enrollment included), from counts per month. At most 20 years.
pub fn enrollment_series(by_month: &[(chrono::NaiveDate, i64)], today: chrono::NaiveDate) -> Vec<EnrollmentMonth> {
    use chrono::Datelike;
    let month_of = |d: chrono::NaiveDate| chrono::NaiveDate::from_ymd_opt(d.year(), d.month(), 1);
    let (Some(mut m), Some(end)) = (by_month.iter().map(|(d, _)| *d).min().and_then(month_of), month_of(today)) else {
        return Vec::new();
    };
    let mut out: Vec<EnrollmentMonth> = Vec::new();
    let mut total = 0;
    while m <= end && out.len() < 240 {
        let enrolled: i64 = by_month.iter().filter(|(d, _)| month_of(*d) == Some(m)).map(|(_, n)| n).sum();
        total += enrolled;
        out.push(EnrollmentMonth { month: m, enrolled, cumulative: total });
        let Some(next) = m.checked_add_months(chrono::Months::new(1)) else { break };
        m = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition_is_decided_by_the_table() {
        use Status::*;
        let allowed: &[(Status, Status)] = &[
            (Prescreen, Screening),
            (Prescreen, ScreenFailed),
            (Prescreen, Withdrawn),
            (Screening, Consented),
            (Screening, ScreenFailed),
            (Screening, Withdrawn),
            (Consented, Eligible),
            (Consented, ScreenFailed),
            (Consented, Withdrawn),
            (Consented, LostToFollowUp),
            (Consented, Deceased),
            (Eligible, Enrolled),
            (Eligible, ScreenFailed),
            (Eligible, Withdrawn),
            (Eligible, LostToFollowUp),
            (Eligible, Deceased),
            (Enrolled, Randomized),
            (Enrolled, Active),
            (Enrolled, Withdrawn),
            (Enrolled, LostToFollowUp),
            (Enrolled, Deceased),
            (Randomized, Active),
            (Randomized, Withdrawn),
            (Randomized, LostToFollowUp),
            (Randomized, Deceased),
            (Active, Completed),
            (Active, Withdrawn),
            (Active, LostToFollowUp),
            (Active, Deceased),
            (LostToFollowUp, Active),
            (LostToFollowUp, Withdrawn),
            (LostToFollowUp, Deceased),
        ];
        for from in Status::ALL {
            for to in Status::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from:?} -> {to:?}");
                let m = Move {
                    reason_code: match to {
                        ScreenFailed => "declined".into(),
                        Withdrawn => "participant_decision".into(),
                        _ => String::new(),
                    },
                    detail: "three calls and a letter".into(),
                    consent_withdrawal: String::new(),
                };
                assert_eq!(transition(from, to, &m).is_ok(), expected, "{from:?} -> {to:?}");
            }
        }
        for s in [ScreenFailed, Completed, Withdrawn, Deceased] {
            assert!(s.is_final());
        }
    }

    #[test]
    fn moves_carry_their_reasons() {
        use Status::*;
        let m = |code: &str, detail: &str, cw: &str| Move {
            reason_code: code.into(),
            detail: detail.into(),
            consent_withdrawal: cw.into(),
        };
        assert_eq!(transition(Screening, ScreenFailed, &m("", "", "")).unwrap_err().0[0].field, "reason_code");
        assert!(transition(Screening, ScreenFailed, &m("participant_decision", "", "")).is_err(), "a withdrawal code");
        assert_eq!(transition(Screening, ScreenFailed, &m("other", "", "")).unwrap_err().0[0].field, "detail");
        assert!(transition(Screening, ScreenFailed, &m("other", "moved abroad", "")).is_ok());
        assert!(transition(Active, LostToFollowUp, &m("", "", "")).is_err());
        assert!(transition(Active, Completed, &m("declined", "", "")).is_err(), "no reason code on completion");
        let w = transition(Active, Withdrawn, &m("adverse_event", "", "no_further_data")).unwrap();
        assert_eq!(w.consent_withdrawal, ConsentWithdrawal::NoFurtherData);
        assert!(!w.consent_withdrawal.allows_data());
        assert!(transition(Active, Completed, &m("", "", "no_further_contact")).is_err());
        assert!(transition(Active, Withdrawn, &m("adverse_event", "", "everything")).is_err());
    }

    #[test]
    fn subject_id_patterns() {
        let p = SubjectIdPattern::parse("{site}-{seq:04}").unwrap();
        assert!(p.per_site());
        assert_eq!(p.render("HF3", "BOS", 7), "BOS-0007");
        assert_eq!(p.render("HF3", "BOS", 12345), "BOS-12345");
        let q = SubjectIdPattern::parse("{study}/{seq}").unwrap();
        assert!(!q.per_site());
        assert_eq!(q.render("HF3", "BOS", 42), "HF3/42");
        for bad in ["", "{site}", "{seq}{seq}", "{seq:0}", "{seq:x}", "{name}-{seq}", "{site}-{seq", "a b {seq}"] {
            assert!(SubjectIdPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(SubjectIdPattern::parse(DEFAULT_SUBJECT_ID_PATTERN).is_ok());
    }

    fn crit(code: &str, kind: CriterionKind) -> Criterion {
        Criterion { code: code.into(), kind, text: code.into() }
    }

    fn resp(code: &str, answer: Answer) -> Response {
        Response { code: code.into(), answer, source: "Clinic note 2026-03-01".into() }
    }

    #[test]
    fn eligibility_needs_every_answer_and_fails_on_the_wrong_ones() {
        let criteria = vec![
            crit("I1", CriterionKind::Inclusion),
            crit("I2", CriterionKind::Inclusion),
            crit("E1", CriterionKind::Exclusion),
        ];
        let ok =
            assess(&criteria, &[resp("I1", Answer::Yes), resp("I2", Answer::NotApplicable), resp("E1", Answer::No)])
                .unwrap();
        assert!(ok.eligible);
        let bad =
            assess(&criteria, &[resp("I1", Answer::No), resp("I2", Answer::Yes), resp("E1", Answer::Yes)]).unwrap();
        assert_eq!(bad, Assessment { eligible: false, failed: vec!["I1".into(), "E1".into()] });
        let missing = assess(&criteria, &[resp("I1", Answer::Yes), resp("X9", Answer::Yes)]).unwrap_err();
        let fields: Vec<&str> = missing.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["answers.X9", "answers.I2", "answers.E1"]);
        let mut unsourced = resp("I1", Answer::Yes);
        unsourced.source = " ".into();
        assert!(assess(&criteria[..1], &[unsourced]).is_err());
    }

    #[test]
    fn enrollment_is_cumulated_month_by_month_with_empty_months() {
        let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let s = enrollment_series(&[(d(2026, 3, 1), 2), (d(2026, 1, 1), 1), (d(2026, 3, 1), 1)], d(2026, 4, 17));
        let rows: Vec<(u32, i64, i64)> =
            s.iter().map(|m| (chrono::Datelike::month(&m.month), m.enrolled, m.cumulative)).collect();
        assert_eq!(rows, vec![(1, 1, 1), (2, 0, 1), (3, 3, 4), (4, 0, 4)]);
        assert!(enrollment_series(&[], d(2026, 4, 17)).is_empty());
    }

    #[test]
    fn the_funnel_counts_each_participant_up_to_the_furthest_stage() {
        use Status::*;
        let f = funnel(
            10,
            &[
                vec![Prescreen],
                vec![Prescreen, Screening, ScreenFailed],
                vec![Screening, Consented, ScreenFailed],
                vec![Screening, Consented, Eligible],
                vec![Screening, Consented, Eligible, Enrolled, Randomized],
                vec![Screening, Consented, Eligible, Enrolled, Active, Completed],
                vec![Screening, Consented, Eligible, Enrolled, Active, Withdrawn],
            ],
        );
        let counts: Vec<i64> = f.iter().map(|s| s.count).collect();
        assert_eq!(counts, vec![17, 6, 5, 4, 3, 1]);
    }
}
