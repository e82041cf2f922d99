//! The one deadline engine's vocabulary: task status, who a task is for, and how the work queue
//! groups tasks by due time in the user's time zone.

use crate::Invalid;
use crate::identity::{Role, Scope};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Done,
    Cancelled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(TaskStatus::Open),
            "done" => Some(TaskStatus::Done),
            "cancelled" => Some(TaskStatus::Cancelled),
            _ => None,
        }
    }
    /// Open tasks can be closed either way; closed tasks stay closed (a rule that raises the
    /// same task again reopens it through the engine, not through a transition).
    pub fn can_become(self, to: TaskStatus) -> bool {
        matches!((self, to), (TaskStatus::Open, TaskStatus::Done) | (TaskStatus::Open, TaskStatus::Cancelled))
    }
}

/// Who should act: one user, or anyone holding a role within a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Assignee {
    User { user_id: Uuid },
    Role { role: Role, scope: Scope },
}

/// Where a task sits on the work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Overdue,
    DueToday,
    Upcoming,
}

/// Buckets a due time relative to now, with "today" meaning the calendar day in `tz`.
pub fn bucket(due: DateTime<Utc>, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Bucket {
    if due < now {
        return Bucket::Overdue;
    }
    if due.with_timezone(&tz).date_naive() == now.with_timezone(&tz).date_naive() {
        Bucket::DueToday
    } else {
        Bucket::Upcoming
    }
}

/// A task title as typed by a person.
pub fn title(raw: &str) -> Result<String, Invalid> {
    crate::required_text("title", raw, 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn transitions() {
        use TaskStatus::*;
        for from in [Open, Done, Cancelled] {
            for to in [Open, Done, Cancelled] {
                assert_eq!(from.can_become(to), from == Open && to != Open, "{from:?}->{to:?}");
            }
        }
    }

    #[test]
    fn buckets_follow_the_local_day() {
        let tz: chrono_tz::Tz = "America/Chicago".parse().unwrap();
        // 22:00 in Chicago on 1 March is 04:00 UTC on 2 March.
        let now = Utc.with_ymd_and_hms(2026, 3, 2, 4, 0, 0).unwrap();
        let later_same_local_day = Utc.with_ymd_and_hms(2026, 3, 2, 5, 30, 0).unwrap();
        let next_local_day = Utc.with_ymd_and_hms(2026, 3, 2, 7, 0, 0).unwrap();
        assert_eq!(bucket(later_same_local_day, now, tz), Bucket::DueToday);
        assert_eq!(bucket(next_local_day, now, tz), Bucket::Upcoming);
        assert_eq!(bucket(now - chrono::Duration::minutes(1), now, tz), Bucket::Overdue);
    }
}
