//! Trials vocabulary: a study's status lifecycle, phases, registry identifiers, arms and
//! protocol versions. Transitions are one function, tested exhaustively.

use crate::{Checks, Invalid, required_text};
use serde::{Deserialize, Serialize};

pub mod schedule;

/// Where a study is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudyStatus {
    Draft,
    Approved,
    Enrolling,
    ClosedToAccrual,
    Completed,
    Suspended,
    Terminated,
}

impl StudyStatus {
    pub const ALL: [StudyStatus; 7] = [
        StudyStatus::Draft,
        StudyStatus::Approved,
        StudyStatus::Enrolling,
        StudyStatus::ClosedToAccrual,
        StudyStatus::Completed,
        StudyStatus::Suspended,
        StudyStatus::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StudyStatus::Draft => "draft",
            StudyStatus::Approved => "approved",
            StudyStatus::Enrolling => "enrolling",
            StudyStatus::ClosedToAccrual => "closed_to_accrual",
            StudyStatus::Completed => "completed",
            StudyStatus::Suspended => "suspended",
            StudyStatus::Terminated => "terminated",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StudyStatus::Draft => "Draft",
            StudyStatus::Approved => "Approved",
            StudyStatus::Enrolling => "Enrolling",
            StudyStatus::ClosedToAccrual => "Closed to accrual",
            StudyStatus::Completed => "Completed",
            StudyStatus::Suspended => "Suspended",
            StudyStatus::Terminated => "Terminated",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            .ok_or_else(|| Invalid::one("status", "is not a study status"))
    }

    /// The statuses a study may move to from this one. A suspension can be lifted back to
    /// any active state; completed and terminated are final.
    pub fn next(self) -> &'static [StudyStatus] {
        use StudyStatus::*;
        match self {
            Draft => &[Approved, Terminated],
            Approved => &[Enrolling, Suspended, Terminated],
            Enrolling => &[ClosedToAccrual, Suspended, Terminated],
            ClosedToAccrual => &[Enrolling, Completed, Suspended, Terminated],
            Suspended => &[Approved, Enrolling, ClosedToAccrual, Terminated],
            Completed | Terminated => &[],
        }
    }

    pub fn can_become(self, to: StudyStatus) -> bool {
        self.next().contains(&to)
    }

    /// Suspending or terminating a study must be explained.
    pub fn needs_reason(to: StudyStatus) -> bool {
        matches!(to, StudyStatus::Suspended | StudyStatus::Terminated)
    }

    /// Whether participants may be screened and enrolled.
    pub fn is_enrolling(self) -> bool {
        self == StudyStatus::Enrolling
    }
}

/// Checks a status change and its reason.
pub fn transition(from: StudyStatus, to: StudyStatus, reason: Option<&str>) -> Result<(), Invalid> {
    if !from.can_become(to) {
        let allowed: Vec<&str> = from.next().iter().map(|s| s.label()).collect();
        let hint = if allowed.is_empty() { "none: it is final".to_string() } else { allowed.join(", ") };
        return Err(Invalid::one(
            "status",
            format!(
                "a {} study cannot become {} (allowed: {hint})",
                from.label().to_lowercase(),
                to.label().to_lowercase()
            ),
        ));
    }
    if StudyStatus::needs_reason(to) && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(Invalid::one("reason", format!("is required to mark a study {}", to.label().to_lowercase())));
    }
    Ok(())
}

/// Phases as registries record them; device studies use feasibility and pivotal.
pub const PHASES: [(&str, &str); 10] = [
    ("early_phase_1", "Early phase 1"),
    ("phase_1", "Phase 1"),
    ("phase_1_2", "Phase 1/2"),
    ("phase_2", "Phase 2"),
    ("phase_2_3", "Phase 2/3"),
    ("phase_3", "Phase 3"),
    ("phase_4", "Phase 4"),
    ("feasibility", "Device feasibility"),
    ("pivotal", "Device pivotal"),
    ("not_applicable", "Not applicable"),
];

pub fn phase(raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    PHASES
        .iter()
        .find(|(k, _)| *k == v)
        .map(|(k, _)| k.to_string())
        .ok_or_else(|| Invalid::one("phase", "is not a phase (e.g. phase_2, phase_3, pivotal)"))
}

pub fn phase_label(key: &str) -> &'static str {
    PHASES.iter().find(|(k, _)| *k == key).map(|(_, l)| *l).unwrap_or("")
}

/// A trial registry identifier: ClinicalTrials.gov (NCT + 8 digits), EU CT number
/// (YYYY-5NNNNN-NN-NN), EudraCT (YYYY-NNNNNN-NN) or ISRCTN (ISRCTN + 8 digits). Empty is allowed.
pub fn registry_id(raw: &str) -> Result<String, Invalid> {
    let v = raw.trim().to_uppercase();
    if v.is_empty() {
        return Ok(v);
    }
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    let ok = if let Some(rest) = v.strip_prefix("NCT") {
        digits(rest, 8)
    } else if let Some(rest) = v.strip_prefix("ISRCTN") {
        digits(rest, 8)
    } else {
        let parts: Vec<&str> = v.split('-').collect();
        match parts.as_slice() {
            [y, n, c, s] => digits(y, 4) && digits(n, 6) && n.starts_with('5') && digits(c, 2) && digits(s, 2),
            [y, n, c] => digits(y, 4) && digits(n, 6) && digits(c, 2),
            _ => false,
        }
    };
    if ok {
        Ok(v)
    } else {
        Err(Invalid::one("registry_id", "must be an NCT, EU CT, EudraCT or ISRCTN number (e.g. NCT01234567)"))
    }
}

/// Free text that may be empty, bounded and single-line.
pub fn optional_text(field: &str, raw: &str, max: usize) -> Result<String, Invalid> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    required_text(field, v, max)
}

/// The descriptive fields of a study, validated together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyDetails {
    pub title: String,
    pub short_title: String,
    pub protocol_number: String,
    pub phase: String,
    pub sponsor: String,
    pub registry_id: String,
    pub ind_ide: String,
    pub therapeutic_area: String,
    pub target_enrollment: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StudyDetailsInput {
    pub title: String,
    #[serde(default)]
    pub short_title: String,
    #[serde(default)]
    pub protocol_number: String,
    pub phase: String,
    #[serde(default)]
    pub sponsor: String,
    #[serde(default)]
    pub registry_id: String,
    #[serde(default)]
    pub ind_ide: String,
    #[serde(default)]
    pub therapeutic_area: String,
    #[serde(default)]
    pub target_enrollment: i64,
}

impl StudyDetails {
    pub fn parse(i: &StudyDetailsInput) -> Result<Self, Invalid> {
        let mut c = Checks::new();
        let title = c.take("title", required_text("title", &i.title, 300));
        let short_title = c.take("short_title", optional_text("short_title", &i.short_title, 80));
        let protocol_number = c.take("protocol_number", optional_text("protocol_number", &i.protocol_number, 60));
        let phase = c.take("phase", phase(&i.phase));
        let sponsor = c.take("sponsor", optional_text("sponsor", &i.sponsor, 200));
        let registry_id = c.take("registry_id", registry_id(&i.registry_id));
        let ind_ide = c.take("ind_ide", optional_text("ind_ide", &i.ind_ide, 40));
        let therapeutic_area = c.take("therapeutic_area", optional_text("therapeutic_area", &i.therapeutic_area, 120));
        if !(0..=1_000_000).contains(&i.target_enrollment) {
            c.push("target_enrollment", "must be between 0 and 1,000,000");
        }
        c.finish()?;
        match (title, short_title, protocol_number, phase, sponsor, registry_id, ind_ide, therapeutic_area) {
            (
                Some(title),
                Some(short_title),
                Some(protocol_number),
                Some(phase),
                Some(sponsor),
                Some(registry_id),
                Some(ind_ide),
                Some(therapeutic_area),
            ) => Ok(StudyDetails {
                title,
                short_title,
                protocol_number,
                phase,
                sponsor,
                registry_id,
                ind_ide,
                therapeutic_area,
                target_enrollment: i.target_enrollment,
            }),
            _ => Err(Invalid::one("study", "is invalid")),
        }
    }
}

/// An arm's allocation weight: 1 to 10 (a 2:1 design gives the arms 2 and 1).
pub fn allocation_ratio(n: i64) -> Result<i64, Invalid> {
    if (1..=10).contains(&n) {
        Ok(n)
    } else {
        Err(Invalid::one("allocation_ratio", "must be a whole number from 1 to 10"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition_is_decided_by_the_table() {
        use StudyStatus::*;
        let allowed = [
            (Draft, Approved),
            (Draft, Terminated),
            (Approved, Enrolling),
            (Approved, Suspended),
            (Approved, Terminated),
            (Enrolling, ClosedToAccrual),
            (Enrolling, Suspended),
            (Enrolling, Terminated),
            (ClosedToAccrual, Enrolling),
            (ClosedToAccrual, Completed),
            (ClosedToAccrual, Suspended),
            (ClosedToAccrual, Terminated),
            (Suspended, Approved),
            (Suspended, Enrolling),
            (Suspended, ClosedToAccrual),
            (Suspended, Terminated),
        ];
        for from in StudyStatus::ALL {
            for to in StudyStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from:?} -> {to:?}");
                let r = transition(from, to, Some("protocol safety review"));
                assert_eq!(r.is_ok(), expected, "{from:?} -> {to:?}");
            }
        }
        assert!(transition(Enrolling, Suspended, None).is_err(), "suspension needs a reason");
        assert!(transition(Enrolling, Suspended, Some("  ")).is_err());
        assert!(transition(Approved, Enrolling, None).is_ok());
    }

    #[test]
    fn registry_ids() {
        assert_eq!(registry_id("nct01234567").unwrap(), "NCT01234567");
        assert!(registry_id("NCT0123456").is_err());
        assert!(registry_id("2023-501234-12-00").is_ok());
        assert!(registry_id("2023-401234-12-00").is_err(), "EU CT numbers have 5 after the year");
        assert!(registry_id("2011-001234-22").is_ok());
        assert!(registry_id("ISRCTN12345678").is_ok());
        assert_eq!(registry_id(" ").unwrap(), "");
        assert!(registry_id("trial 7").is_err());
    }

    #[test]
    fn details_report_every_bad_field() {
        let i = StudyDetailsInput {
            title: String::new(),
            phase: "phase_9".into(),
            registry_id: "X".into(),
            target_enrollment: -1,
            ..Default::default()
        };
        let e = StudyDetails::parse(&i).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["title", "phase", "registry_id", "target_enrollment"]);
    }
}

/// Why a participating site may not screen or enroll today, if it may not. Checked by every
/// screening and enrollment action.
pub fn enrollment_block(
    today: chrono::NaiveDate,
    study_status: StudyStatus,
    activated_on: Option<chrono::NaiveDate>,
    irb_expires_on: Option<chrono::NaiveDate>,
) -> Option<String> {
    if !study_status.is_enrolling() {
        return Some(format!("the study is {}, not enrolling", study_status.label().to_lowercase()));
    }
    match activated_on {
        None => return Some("the site has not been activated for this study".into()),
        Some(a) if a > today => return Some(format!("the site is activated only from {a}")),
        _ => {}
    }
    match irb_expires_on {
        None => Some("the site has no IRB approval on record".into()),
        Some(e) if e < today => Some(format!("the site's IRB approval expired on {e}")),
        _ => None,
    }
}

/// How many days before an IRB approval expires a renewal task is raised.
pub const IRB_RENEWAL_NOTICE_DAYS: i64 = 60;

#[cfg(test)]
mod site_tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn sites_enroll_only_when_active_approved_and_enrolling() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let today = d(6, 15);
        assert_eq!(enrollment_block(today, StudyStatus::Enrolling, Some(d(1, 1)), Some(d(12, 31))), None);
        assert!(
            enrollment_block(today, StudyStatus::Approved, Some(d(1, 1)), Some(d(12, 31)))
                .unwrap()
                .contains("not enrolling")
        );
        assert!(
            enrollment_block(today, StudyStatus::Enrolling, None, Some(d(12, 31)))
                .unwrap()
                .contains("not been activated")
        );
        assert!(
            enrollment_block(today, StudyStatus::Enrolling, Some(d(7, 1)), Some(d(12, 31)))
                .unwrap()
                .contains("only from 2026-07-01")
        );
        assert!(
            enrollment_block(today, StudyStatus::Enrolling, Some(d(1, 1)), Some(d(6, 14)))
                .unwrap()
                .contains("expired on 2026-06-14")
        );
        assert_eq!(
            enrollment_block(today, StudyStatus::Enrolling, Some(d(1, 1)), Some(today)),
            None,
            "valid through its last day"
        );
        assert!(
            enrollment_block(today, StudyStatus::Enrolling, Some(d(1, 1)), None).unwrap().contains("no IRB approval")
        );
    }
}

/// Duties a principal investigator delegates to members of the study team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Duty {
    ObtainConsent,
    AssessEligibility,
    Randomize,
    DispenseProduct,
    EnterData,
    AssessAdverseEvents,
    PerformProcedures,
}

impl Duty {
    pub const ALL: [Duty; 7] = [
        Duty::ObtainConsent,
        Duty::AssessEligibility,
        Duty::Randomize,
        Duty::DispenseProduct,
        Duty::EnterData,
        Duty::AssessAdverseEvents,
        Duty::PerformProcedures,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Duty::ObtainConsent => "obtain_consent",
            Duty::AssessEligibility => "assess_eligibility",
            Duty::Randomize => "randomize",
            Duty::DispenseProduct => "dispense_product",
            Duty::EnterData => "enter_data",
            Duty::AssessAdverseEvents => "assess_adverse_events",
            Duty::PerformProcedures => "perform_procedures",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Duty::ObtainConsent => "Obtain informed consent",
            Duty::AssessEligibility => "Assess eligibility",
            Duty::Randomize => "Randomize",
            Duty::DispenseProduct => "Dispense investigational product",
            Duty::EnterData => "Enter data",
            Duty::AssessAdverseEvents => "Assess adverse events",
            Duty::PerformProcedures => "Perform study procedures",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s.trim())
            .ok_or_else(|| Invalid::one("duties", format!("{s:?} is not a delegable duty")))
    }
    /// A stored duty list (comma-separated) back into duties, in a fixed order.
    pub fn list(stored: &str) -> Vec<Duty> {
        let mut v: Vec<Duty> = stored.split(',').filter_map(|s| Duty::parse(s).ok()).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Whether a delegation entry covers a day: started, and not yet ended (the end day counts).
pub fn delegation_current(start: chrono::NaiveDate, end: Option<chrono::NaiveDate>, day: chrono::NaiveDate) -> bool {
    start <= day && end.is_none_or(|e| day <= e)
}
