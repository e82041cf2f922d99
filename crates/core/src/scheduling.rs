//! Scheduling: a participant's visits once planned — their outcomes and the rule that a visit
//! done outside its window is a deviation that must be explained. The calendar (resources,
//! bookings, moves inside the window) is in [`calendar`].

pub mod calendar;

use crate::Invalid;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    Scheduled,
    Completed,
    Missed,
    Cancelled,
}

impl VisitStatus {
    pub const ALL: [VisitStatus; 4] =
        [VisitStatus::Scheduled, VisitStatus::Completed, VisitStatus::Missed, VisitStatus::Cancelled];
    pub fn as_str(self) -> &'static str {
        match self {
            VisitStatus::Scheduled => "scheduled",
            VisitStatus::Completed => "completed",
            VisitStatus::Missed => "missed",
            VisitStatus::Cancelled => "cancelled",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            VisitStatus::Scheduled => "Scheduled",
            VisitStatus::Completed => "Completed",
            VisitStatus::Missed => "Missed",
            VisitStatus::Cancelled => "Cancelled",
        }
    }
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            .ok_or_else(|| Invalid::one("outcome", "must be completed or missed"))
    }
}

/// A recorded outcome, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: VisitStatus,
    pub actual_on: Option<NaiveDate>,
    pub out_of_window: bool,
    pub note: String,
}

/// Checks an outcome for a scheduled visit: a completed visit has its day (not in the future);
/// outside the window it is flagged and needs a deviation note; a missed visit needs a reason.
pub fn record(
    status: VisitStatus,
    actual_on: Option<NaiveDate>,
    note: &str,
    window: (NaiveDate, NaiveDate),
    today: NaiveDate,
) -> Result<Outcome, Invalid> {
    let note = crate::trials::optional_text("note", note, 1000)?;
    match status {
        VisitStatus::Completed => {
            let Some(day) = actual_on else {
                return Err(Invalid::one("actual_on", "give the day the visit took place"));
            };
            if day > today {
                return Err(Invalid::one("actual_on", "must not be in the future"));
            }
            let out = !crate::trials::schedule::in_window(day, window.0, window.1);
            if out && note.is_empty() {
                return Err(Invalid::one(
                    "note",
                    format!("the visit is outside its window ({} to {}): describe the deviation", window.0, window.1),
                ));
            }
            Ok(Outcome { status, actual_on: Some(day), out_of_window: out, note })
        }
        VisitStatus::Missed => {
            if note.is_empty() {
                return Err(Invalid::one("note", "say why the visit was missed"));
            }
            Ok(Outcome { status, actual_on: None, out_of_window: false, note })
        }
        _ => Err(Invalid::one("outcome", "must be completed or missed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_flag_deviations_and_need_their_notes() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let window = (d(3, 10), d(3, 16));
        let today = d(4, 1);
        let ok = record(VisitStatus::Completed, Some(d(3, 12)), "", window, today).unwrap();
        assert!(!ok.out_of_window);
        let e = record(VisitStatus::Completed, Some(d(3, 18)), " ", window, today).unwrap_err();
        assert_eq!(e.0[0].field, "note");
        let late = record(VisitStatus::Completed, Some(d(3, 18)), "Participant hospitalised", window, today).unwrap();
        assert!(late.out_of_window);
        assert!(record(VisitStatus::Completed, None, "", window, today).is_err());
        assert!(record(VisitStatus::Completed, Some(d(4, 2)), "", window, today).is_err());
        assert!(record(VisitStatus::Missed, None, "", window, today).is_err());
        assert!(record(VisitStatus::Missed, None, "No show, two calls", window, today).is_ok());
        assert!(record(VisitStatus::Cancelled, None, "x", window, today).is_err());
        assert!(VisitStatus::parse("done").is_err());
    }
}
