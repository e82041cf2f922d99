//! The schedule of events: visit definitions (anchor, day offset, window, type, procedures) and
//! the plan they give for one participant once the anchor dates are known.

use crate::{Checks, Invalid, required_text};
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a visit's day offset counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorKind {
    Consent,
    Enrollment,
    Randomization,
    /// Another visit of the schedule (its target date).
    Visit,
}

impl AnchorKind {
    pub const ALL: [AnchorKind; 4] =
        [AnchorKind::Consent, AnchorKind::Enrollment, AnchorKind::Randomization, AnchorKind::Visit];
    pub fn as_str(self) -> &'static str {
        match self {
            AnchorKind::Consent => "consent",
            AnchorKind::Enrollment => "enrollment",
            AnchorKind::Randomization => "randomization",
            AnchorKind::Visit => "visit",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            AnchorKind::Consent => "Consent",
            AnchorKind::Enrollment => "Enrollment",
            AnchorKind::Randomization => "Randomization",
            AnchorKind::Visit => "Previous visit",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s.trim())
            .ok_or_else(|| Invalid::one("anchor", "must be consent, enrollment, randomization or visit"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitKind {
    Scheduled,
    /// Held when needed; never generated in advance.
    Unscheduled,
    /// Generated `repeat_count` times, `repeat_every_days` apart.
    Repeating,
}

impl VisitKind {
    pub const ALL: [VisitKind; 3] = [VisitKind::Scheduled, VisitKind::Unscheduled, VisitKind::Repeating];
    pub fn as_str(self) -> &'static str {
        match self {
            VisitKind::Scheduled => "scheduled",
            VisitKind::Unscheduled => "unscheduled",
            VisitKind::Repeating => "repeating",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            VisitKind::Scheduled => "Scheduled",
            VisitKind::Unscheduled => "Unscheduled",
            VisitKind::Repeating => "Repeating",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s.trim())
            .ok_or_else(|| Invalid::one("kind", "must be scheduled, unscheduled or repeating"))
    }
}

/// A visit definition as entered, before it is checked.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VisitDefinitionInput {
    pub code: String,
    pub name: String,
    pub anchor: String,
    /// The code of the visit this one counts from, when the anchor is `visit`.
    #[serde(default)]
    pub anchor_visit: String,
    pub offset_days: i64,
    #[serde(default)]
    pub window_before: i64,
    #[serde(default)]
    pub window_after: i64,
    pub kind: String,
    #[serde(default)]
    pub repeat_every_days: i64,
    #[serde(default)]
    pub repeat_count: i64,
    #[serde(default)]
    pub procedures: Vec<String>,
}

/// A checked visit definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitDefinition {
    pub code: String,
    pub name: String,
    pub anchor: AnchorKind,
    pub anchor_visit: Option<String>,
    pub offset_days: i64,
    pub window_before: i64,
    pub window_after: i64,
    pub kind: VisitKind,
    pub repeat_every_days: i64,
    pub repeat_count: i64,
    pub procedures: Vec<String>,
}

/// Offsets reach ten years either way; windows up to a year.
const MAX_OFFSET: i64 = 3650;
const MAX_WINDOW: i64 = 365;

impl VisitDefinition {
    pub fn parse(i: &VisitDefinitionInput) -> Result<Self, Invalid> {
        let mut c = Checks::new();
        let code = c.take("code", crate::identity::Code::parse("code", &i.code));
        let name = c.take("name", required_text("name", &i.name, 120));
        let anchor = c.take("anchor", AnchorKind::parse(&i.anchor));
        let kind = c.take("kind", VisitKind::parse(&i.kind));
        let anchor_visit = i.anchor_visit.trim().to_uppercase();
        if anchor == Some(AnchorKind::Visit) && anchor_visit.is_empty() {
            c.push("anchor_visit", "name the visit this one counts from");
        }
        if !(-MAX_OFFSET..=MAX_OFFSET).contains(&i.offset_days) {
            c.push("offset_days", format!("must be between -{MAX_OFFSET} and {MAX_OFFSET}"));
        }
        for (field, v) in [("window_before", i.window_before), ("window_after", i.window_after)] {
            if !(0..=MAX_WINDOW).contains(&v) {
                c.push(field, format!("must be between 0 and {MAX_WINDOW} days"));
            }
        }
        if kind == Some(VisitKind::Repeating) {
            if !(1..=MAX_WINDOW).contains(&i.repeat_every_days) {
                c.push("repeat_every_days", "a repeating visit needs an interval of 1 to 365 days");
            }
            if !(1..=200).contains(&i.repeat_count) {
                c.push("repeat_count", "a repeating visit happens 1 to 200 times");
            }
            if i.window_before + i.window_after >= i.repeat_every_days.max(1) {
                c.push("window_after", "the windows of successive repeats must not overlap");
            }
        }
        let mut procedures: Vec<String> = Vec::new();
        for p in &i.procedures {
            if p.trim().is_empty() {
                continue;
            }
            if let Some(p) = c.take("procedures", required_text("procedures", p, 120))
                && !procedures.iter().any(|q| q.eq_ignore_ascii_case(&p))
            {
                procedures.push(p);
            }
        }
        if procedures.len() > 60 {
            c.push("procedures", "at most 60 procedures per visit");
        }
        c.finish()?;
        let (Some(code), Some(name), Some(anchor), Some(kind)) = (code, name, anchor, kind) else {
            return Err(Invalid::one("visit", "is invalid"));
        };
        if anchor == AnchorKind::Visit && anchor_visit == code.as_str() {
            return Err(Invalid::one("anchor_visit", "a visit cannot count from itself"));
        }
        let repeating = kind == VisitKind::Repeating;
        Ok(VisitDefinition {
            code: code.as_str().to_string(),
            name,
            anchor,
            anchor_visit: (anchor == AnchorKind::Visit).then_some(anchor_visit),
            offset_days: i.offset_days,
            window_before: i.window_before,
            window_after: i.window_after,
            kind,
            repeat_every_days: if repeating { i.repeat_every_days } else { 0 },
            repeat_count: if repeating { i.repeat_count } else { 0 },
            procedures,
        })
    }

    /// "Day 28 (−3/+3) from randomization" as a protocol writes it.
    pub fn timing(&self) -> String {
        let from = match (&self.anchor, &self.anchor_visit) {
            (AnchorKind::Visit, Some(v)) => format!("visit {v}"),
            (a, _) => a.label().to_lowercase(),
        };
        let window = if self.window_before == 0 && self.window_after == 0 {
            String::new()
        } else {
            format!(" (−{}/+{})", self.window_before, self.window_after)
        };
        let repeat = if self.kind == VisitKind::Repeating {
            format!(", then every {} days, {} times", self.repeat_every_days, self.repeat_count)
        } else {
            String::new()
        };
        if self.kind == VisitKind::Unscheduled {
            return "As needed".into();
        }
        format!("Day {}{window} from {from}{repeat}", self.offset_days)
    }
}

/// Checks a whole schedule: unique codes, visit anchors that exist and no cycle among them.
pub fn check_schedule(defs: &[VisitDefinition]) -> Result<(), Invalid> {
    let mut seen = std::collections::HashSet::new();
    for d in defs {
        if !seen.insert(d.code.as_str()) {
            return Err(Invalid::one("code", format!("visit code {} is used twice", d.code)));
        }
    }
    for d in defs {
        if let Some(a) = &d.anchor_visit {
            match defs.iter().find(|x| &x.code == a) {
                None => return Err(Invalid::one("anchor_visit", format!("no visit has the code {a}"))),
                Some(x) if x.kind != VisitKind::Scheduled => {
                    return Err(Invalid::one("anchor_visit", format!("visit {a} is not a single scheduled visit")));
                }
                _ => {}
            }
        }
    }
    order(defs).map(|_| ())
}

/// Definitions in an order where every visit comes after the visit it counts from.
fn order(defs: &[VisitDefinition]) -> Result<Vec<&VisitDefinition>, Invalid> {
    let mut out: Vec<&VisitDefinition> = Vec::with_capacity(defs.len());
    let mut placed = std::collections::HashSet::new();
    while out.len() < defs.len() {
        let before = out.len();
        for d in defs {
            if placed.contains(d.code.as_str()) {
                continue;
            }
            let ready = d.anchor_visit.as_ref().is_none_or(|a| placed.contains(a.as_str()));
            if ready {
                placed.insert(d.code.as_str());
                out.push(d);
            }
        }
        if out.len() == before {
            let stuck: Vec<&str> =
                defs.iter().filter(|d| !placed.contains(d.code.as_str())).map(|d| d.code.as_str()).collect();
            return Err(Invalid::one(
                "anchor_visit",
                format!("visits {} count from each other in a circle", stuck.join(", ")),
            ));
        }
    }
    Ok(out)
}

/// The dates a participant's anchors happened on (local dates at the site).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnchorDates {
    pub consent: Option<NaiveDate>,
    pub enrollment: Option<NaiveDate>,
    pub randomization: Option<NaiveDate>,
}

impl AnchorDates {
    fn of(&self, a: AnchorKind) -> Option<NaiveDate> {
        match a {
            AnchorKind::Consent => self.consent,
            AnchorKind::Enrollment => self.enrollment,
            AnchorKind::Randomization => self.randomization,
            AnchorKind::Visit => None,
        }
    }
}

/// One visit of a participant's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedVisit {
    pub code: String,
    /// 1 for single visits; 1..=n for the occurrences of a repeating visit.
    pub occurrence: i64,
    pub target: NaiveDate,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
}

/// The visits that can be planned from the anchor dates known so far. A visit whose anchor
/// has not happened yet (or counts from such a visit) is left out until it has; unscheduled
/// visits are never planned.
pub fn plan(defs: &[VisitDefinition], anchors: AnchorDates) -> Result<Vec<PlannedVisit>, Invalid> {
    let mut targets: HashMap<&str, NaiveDate> = HashMap::new();
    let mut out = Vec::new();
    for d in order(defs)? {
        if d.kind == VisitKind::Unscheduled {
            continue;
        }
        let base = match (&d.anchor, &d.anchor_visit) {
            (AnchorKind::Visit, Some(v)) => targets.get(v.as_str()).copied(),
            (a, _) => anchors.of(*a),
        };
        let Some(base) = base else { continue };
        let first = base + Duration::days(d.offset_days);
        targets.insert(d.code.as_str(), first);
        let n = if d.kind == VisitKind::Repeating { d.repeat_count } else { 1 };
        for k in 0..n {
            let target = first + Duration::days(k * d.repeat_every_days);
            out.push(PlannedVisit {
                code: d.code.clone(),
                occurrence: k + 1,
                target,
                window_start: target - Duration::days(d.window_before),
                window_end: target + Duration::days(d.window_after),
            });
        }
    }
    out.sort_by(|a, b| a.target.cmp(&b.target).then(a.code.cmp(&b.code)).then(a.occurrence.cmp(&b.occurrence)));
    Ok(out)
}

/// Where a day falls against a visit window.
pub fn in_window(day: NaiveDate, start: NaiveDate, end: NaiveDate) -> bool {
    start <= day && day <= end
}

/// The procedures of a schedule as the columns of the classic grid: in order of first use.
pub fn procedure_columns(defs: &[VisitDefinition]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for d in defs {
        for p in &d.procedures {
            if !cols.iter().any(|c| c.eq_ignore_ascii_case(p)) {
                cols.push(p.clone());
            }
        }
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(code: &str, anchor: &str, from: &str, offset: i64, kind: &str) -> VisitDefinition {
        VisitDefinition::parse(&VisitDefinitionInput {
            code: code.into(),
            name: format!("Visit {code}"),
            anchor: anchor.into(),
            anchor_visit: from.into(),
            offset_days: offset,
            window_before: 2,
            window_after: 3,
            kind: kind.into(),
            repeat_every_days: if kind == "repeating" { 30 } else { 0 },
            repeat_count: if kind == "repeating" { 3 } else { 0 },
            procedures: vec!["Vital signs".into(), "ECG".into(), "vital signs".into(), " ".into()],
        })
        .unwrap()
    }

    fn d(m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, day).unwrap()
    }

    #[test]
    fn a_definition_reports_every_bad_field() {
        let e = VisitDefinition::parse(&VisitDefinitionInput {
            code: "bad code!".into(),
            name: String::new(),
            anchor: "visit".into(),
            offset_days: 5000,
            window_before: -1,
            kind: "repeating".into(),
            ..Default::default()
        })
        .unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
        for f in ["code", "name", "anchor_visit", "offset_days", "window_before", "repeat_every_days", "repeat_count"] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn procedures_are_deduplicated_and_timing_reads_like_a_protocol() {
        let v = def("W4", "randomization", "", 28, "scheduled");
        assert_eq!(v.procedures, vec!["Vital signs", "ECG"]);
        assert_eq!(v.timing(), "Day 28 (−2/+3) from randomization");
        assert_eq!(
            def("FU", "visit", "W4", 90, "repeating").timing(),
            "Day 90 (−2/+3) from visit W4, then every 30 days, 3 times"
        );
    }

    #[test]
    fn plan_follows_anchors_and_waits_for_the_missing_ones() {
        let defs = vec![
            def("SCR", "consent", "", 0, "scheduled"),
            def("BL", "randomization", "", 0, "scheduled"),
            def("W4", "visit", "BL", 28, "scheduled"),
            def("FU", "visit", "W4", 30, "repeating"),
            def("UNS", "consent", "", 0, "unscheduled"),
        ];
        check_schedule(&defs).unwrap();
        let only_consent = plan(&defs, AnchorDates { consent: Some(d(3, 1)), ..Default::default() }).unwrap();
        assert_eq!(only_consent.len(), 1);
        assert_eq!(only_consent[0].code, "SCR");
        assert_eq!((only_consent[0].window_start, only_consent[0].window_end), (d(2, 27), d(3, 4)));
        let all = plan(
            &defs,
            AnchorDates { consent: Some(d(3, 1)), enrollment: Some(d(3, 10)), randomization: Some(d(3, 11)) },
        )
        .unwrap();
        let codes: Vec<(String, i64, NaiveDate)> =
            all.iter().map(|p| (p.code.clone(), p.occurrence, p.target)).collect();
        assert_eq!(
            codes,
            vec![
                ("SCR".into(), 1, d(3, 1)),
                ("BL".into(), 1, d(3, 11)),
                ("W4".into(), 1, d(4, 8)),
                ("FU".into(), 1, d(5, 8)),
                ("FU".into(), 2, d(6, 7)),
                ("FU".into(), 3, d(7, 7)),
            ]
        );
    }

    #[test]
    fn schedules_with_unknown_anchors_duplicates_or_cycles_are_refused() {
        let dup = vec![def("A", "consent", "", 0, "scheduled"), def("A", "consent", "", 1, "scheduled")];
        assert!(check_schedule(&dup).unwrap_err().0[0].message.contains("twice"));
        let unknown = vec![def("A", "visit", "Z", 1, "scheduled")];
        assert!(check_schedule(&unknown).unwrap_err().0[0].message.contains("no visit"));
        let cycle = vec![def("A", "visit", "B", 1, "scheduled"), def("B", "visit", "A", 1, "scheduled")];
        assert!(check_schedule(&cycle).unwrap_err().0[0].message.contains("circle"));
        assert!(
            VisitDefinition::parse(&VisitDefinitionInput {
                code: "A".into(),
                name: "A".into(),
                anchor: "visit".into(),
                anchor_visit: "a".into(),
                kind: "scheduled".into(),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn grid_columns_keep_first_use_order() {
        let mut a = def("A", "consent", "", 0, "scheduled");
        a.procedures = vec!["Consent".into(), "ECG".into()];
        let mut b = def("B", "consent", "", 7, "scheduled");
        b.procedures = vec!["Labs".into(), "ecg".into()];
        assert_eq!(procedure_columns(&[a, b]), vec!["Consent", "ECG", "Labs"]);
    }
}
