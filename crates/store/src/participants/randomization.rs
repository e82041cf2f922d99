//! Randomization: one scheme per study with its concealed allocation lists, assignment of the
//! next free slot of a stratum, the unblinded team, and emergency unblinding.
//!
//! Taking a slot is one guarded UPDATE (`... AND participant_id IS NULL`): of several requests
//! racing for the last slot, one changes the row and the others change nothing and see that
//! no slot is left. A unique index on the participant keeps a participant to one slot.

use super::{Participant, participant, participant_in, site_today};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::participants::Status;
use clinbridge_core::participants::randomization::{ArmWeight, Design, Factor};
use clinbridge_core::trials::Duty;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize)]
pub struct Scheme {
    pub id: Uuid,
    pub study_id: Uuid,
    pub blinded: bool,
    pub design: Design,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SchemeRow {
    id: Uuid,
    study_id: Uuid,
    blinded: bool,
    design: String,
    created_at: DateTime<Utc>,
}

impl SchemeRow {
    fn scheme(self) -> Result<Scheme> {
        Ok(Scheme {
            id: self.id,
            study_id: self.study_id,
            blinded: self.blinded,
            design: serde_json::from_str(&self.design)
                .map_err(|e| StoreError::Internal(format!("scheme design: {e}")))?,
            created_at: self.created_at,
        })
    }
}

pub async fn scheme(store: &Store, study_id: Uuid) -> Result<Option<Scheme>> {
    let row: Option<SchemeRow> = on!(store.db.read(), |c| sqlx::query_as::<_, SchemeRow>(
        "SELECT id, study_id, blinded, design, created_at FROM randomization_schemes WHERE study_id = $1"
    )
    .bind(study_id)
    .fetch_optional(c)
    .await)?;
    row.map(SchemeRow::scheme).transpose()
}

/// A uniform number below `n` from the operating system's generator (rejection sampling, so
/// no value is favoured).
fn below(n: u32) -> u32 {
    if n <= 1 {
        return 0;
    }
    let zone = u32::MAX - (u32::MAX % n);
    loop {
        let mut b = [0u8; 4];
        if getrandom::getrandom(&mut b).is_err() {
            // No entropy source is a broken machine; fall back to the clock rather than panic.
            let t = now().timestamp_subsec_nanos();
            return t % n;
        }
        let v = u32::from_le_bytes(b);
        if v < zone {
            return v % n;
        }
    }
}

/// Allocations generated for one scheme at most (all strata together).
const MAX_ALLOCATIONS: u64 = 20_000;

/// What a scheme is created from; the arms and their ratios come from the study.
#[derive(Debug, Clone)]
pub struct NewScheme {
    pub blinded: bool,
    pub block_sizes: Vec<u32>,
    pub factors: Vec<Factor>,
    pub list_length: u32,
}

/// Creates the study's scheme and generates every stratum's allocation list at once. The
/// audit trail keeps the design and a SHA-256 of the lists, not the lists themselves.
pub async fn create_scheme(store: &Store, acting: &Acting, study_id: Uuid, n: NewScheme) -> Result<Scheme> {
    let arms = crate::trials::arms(store, study_id).await?;
    let design = Design {
        arms: arms.iter().map(|a| ArmWeight { code: a.code.clone(), ratio: a.allocation_ratio as u32 }).collect(),
        block_sizes: n.block_sizes,
        factors: n.factors,
        list_length: n.list_length,
    }
    .check()?;
    let strata = design.strata();
    if strata.len() as u64 * u64::from(design.list_length) > MAX_ALLOCATIONS {
        return Err(clinbridge_core::Invalid::one(
            "list_length",
            format!("strata × allocations per stratum must stay within {MAX_ALLOCATIONS}"),
        )
        .into());
    }
    let lists: Vec<(String, Vec<clinbridge_core::participants::randomization::Slot>)> =
        strata.iter().map(|s| (s.clone(), design.generate(&mut below))).collect();
    let mut h = Sha256::new();
    for (stratum, slots) in &lists {
        for s in slots {
            h.update(format!("{stratum}|{}|{}|{}|{}\n", s.seq, s.block_no, s.block_size, s.arm).as_bytes());
        }
    }
    let list_hash = hex::encode(h.finalize());
    let blinded = n.blinded;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                crate::trials::study_in(tx, study_id).await?;
                let id = new_id();
                let t = now();
                let json = crate::json(&design)?;
                let actor = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO randomization_schemes (id, study_id, blinded, design, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                    id,
                    study_id,
                    blinded,
                    &json,
                    actor,
                    t
                )
                .map_err(|e| StoreError::from(e).unique_as("study", "already has a randomization scheme"))?;
                for (stratum, slots) in &lists {
                    for s in slots {
                        let arm = arms.iter().find(|a| a.code == s.arm).map(|a| a.id).ok_or_else(|| StoreError::Internal("arm".into()))?;
                        exec!(
                            tx,
                            "INSERT INTO randomization_slots (id, scheme_id, stratum, seq, block_no, block_size, arm_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                            new_id(),
                            id,
                            stratum,
                            i64::from(s.seq),
                            i64::from(s.block_no),
                            i64::from(s.block_size),
                            arm
                        )?;
                    }
                }
                tx.audit(AuditEvent::new(AuditAction::Create, "randomization_scheme", id).new_value(serde_json::json!({
                    "study_id": study_id, "blinded": blinded, "design": design, "strata": lists.len(),
                    "allocations": lists.iter().map(|(_, l)| l.len()).sum::<usize>(), "list_sha256": list_hash,
                })));
                Ok(Scheme { id, study_id, blinded, design, created_at: t })
            })
        })
        .await
}

/// One allocation, with the arm when the reader may see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Allocation {
    pub stratum: String,
    pub seq: i64,
    pub block_no: i64,
    pub block_size: i64,
    pub arm_code: String,
    pub arm_name: String,
    pub subject_id: Option<String>,
    pub assigned_at: Option<DateTime<Utc>>,
}

/// The whole allocation list (for the unblinded team only; the caller checks).
pub async fn allocation_list(store: &Store, scheme_id: Uuid) -> Result<Vec<Allocation>> {
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as::<_, Allocation>(
        "SELECT r.stratum, r.seq, r.block_no, r.block_size, a.code AS arm_code, a.name AS arm_name, p.subject_id, r.assigned_at
         FROM randomization_slots r JOIN study_arms a ON a.id = r.arm_id LEFT JOIN participants p ON p.id = r.participant_id
         WHERE r.scheme_id = $1 ORDER BY r.stratum, r.seq"
    )
    .bind(scheme_id)
    .fetch_all(c)
    .await
    })?)
}

/// Free and used slots per stratum: (stratum, used, total).
pub async fn stratum_counts(store: &Store, scheme_id: Uuid) -> Result<Vec<(String, i64, i64)>> {
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as(
        "SELECT stratum, COUNT(participant_id), COUNT(*) FROM randomization_slots WHERE scheme_id = $1 GROUP BY stratum ORDER BY stratum"
    )
    .bind(scheme_id)
    .fetch_all(c)
    .await
    })?)
}

/// A participant's assignment.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Assignment {
    pub participant_id: Uuid,
    pub stratum: String,
    pub seq: i64,
    pub arm_code: String,
    pub arm_name: String,
    pub assigned_at: Option<DateTime<Utc>>,
    pub assigned_by_name: Option<String>,
}

const ASSIGNMENT: &str = "SELECT r.participant_id, r.stratum, r.seq, a.code AS arm_code, a.name AS arm_name, r.assigned_at, u.name AS assigned_by_name
     FROM randomization_slots r JOIN study_arms a ON a.id = r.arm_id LEFT JOIN users u ON u.id = r.assigned_by";

pub async fn assignment(store: &Store, participant_id: Uuid) -> Result<Option<Assignment>> {
    let sql = format!("{ASSIGNMENT} WHERE r.participant_id = $1");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Assignment>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(participant_id)
        .fetch_optional(c)
        .await)?)
}

async fn assignment_in(tx: &mut Tx, participant_id: Uuid) -> Result<Assignment> {
    let sql = format!("{ASSIGNMENT} WHERE r.participant_id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, Assignment>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(participant_id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("assignment"))
}

/// Randomizes an enrolled participant into the next free slot of their stratum. The person
/// randomizing must hold the delegated duty; the site must be allowed to enroll.
pub async fn randomize(
    store: &Store,
    acting: &Acting,
    participant_id: Uuid,
    strata: Vec<(String, String)>,
    on_date: NaiveDate,
) -> Result<(Participant, Assignment)> {
    let p = participant(store, participant_id).await?;
    let Some(scheme) = scheme(store, p.study_id).await? else {
        return Err(StoreError::Refused("this study has no randomization scheme".into()));
    };
    if p.status() != Status::Enrolled {
        return Err(StoreError::Refused(format!(
            "only an enrolled participant is randomized ({} is {})",
            p.subject_id,
            p.status().label().to_lowercase()
        )));
    }
    let (study, ss) = super::context(store, &p).await?;
    let today = site_today(&ss);
    if let Some(block) = ss.enrollment_block(&study, today) {
        return Err(StoreError::Refused(format!("{} cannot randomize for {}: {block}", ss.site_code, study.code)));
    }
    if on_date > today || p.enrolled_on.is_some_and(|e| on_date < e) {
        return Err(clinbridge_core::Invalid::one("on", "must be between the enrollment date and today").into());
    }
    let Some(user) = acting.user else { return Err(StoreError::Refused("only a person randomizes".into())) };
    crate::trials::holds_duty(store, p.study_id, p.site_id, user, Duty::Randomize, today).await?;
    let stratum = scheme.design.stratum_of(&strata)?;
    let scheme_id = scheme.id;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let t = now();
                let mut taken = false;
                // A loser of a race for one slot tries the next; three rounds are plenty
                // because each round at least one racer wins.
                for _ in 0..16 {
                    let n = exec!(
                        tx,
                        "UPDATE randomization_slots SET participant_id = $1, assigned_at = $2, assigned_by = $3
                         WHERE id = (SELECT id FROM randomization_slots WHERE scheme_id = $4 AND stratum = $5 AND participant_id IS NULL ORDER BY seq LIMIT 1)
                           AND participant_id IS NULL",
                        participant_id,
                        t,
                        user,
                        scheme_id,
                        &stratum
                    )
                    .map_err(|e| StoreError::from(e).unique_as("participant", "is already randomized"))?;
                    if n == 1 {
                        taken = true;
                        break;
                    }
                    let free: i64 = tx_on!(tx, |c| sqlx::query_scalar(
                        "SELECT COUNT(*) FROM randomization_slots WHERE scheme_id = $1 AND stratum = $2 AND participant_id IS NULL"
                    )
                    .bind(scheme_id)
                    .bind(&stratum)
                    .fetch_one(&mut *c)
                    .await)?;
                    if free == 0 {
                        break;
                    }
                }
                if !taken {
                    let label = if stratum.is_empty() { "the allocation list".to_string() } else { format!("stratum {stratum}") };
                    return Err(StoreError::Refused(format!("{label} has no free allocation left")));
                }
                let n = exec!(
                    tx,
                    "UPDATE participants SET status = 'randomized', randomized_on = $1, updated_at = $2 WHERE id = $3 AND status = 'enrolled'",
                    on_date,
                    t,
                    participant_id
                )?;
                if n == 0 {
                    return Err(StoreError::conflict("status", "the participant changed meanwhile; reload and try again"));
                }
                super::record_move(tx, participant_id, Some(Status::Enrolled), Status::Randomized, "", "", on_date).await?;
                crate::scheduling::plan_in(tx, participant_id).await?;
                let a = assignment_in(tx, participant_id).await?;
                let slot_id: Uuid = tx_on!(tx, |c| sqlx::query_scalar("SELECT id FROM randomization_slots WHERE participant_id = $1")
                    .bind(participant_id)
                    .fetch_one(&mut *c)
                    .await)?;
                // The arm stays out of the trail (auditors may be blinded); the slot names it.
                tx.audit(AuditEvent::new(AuditAction::Create, "randomization", participant_id).new_value(serde_json::json!({
                    "slot_id": slot_id, "stratum": a.stratum, "seq": a.seq, "randomized_on": on_date,
                })));
                let p = participant_in(tx, participant_id).await?;
                Ok((p, a))
            })
        })
        .await
}

// ---------------------------------------------------------------- unblinded team and unblinding

pub async fn is_unblinded(store: &Store, study_id: Uuid, user_id: Uuid) -> Result<bool> {
    let n: i64 = on!(store.db.read(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM unblinded_team WHERE study_id = $1 AND user_id = $2"
    )
    .bind(study_id)
    .bind(user_id)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}

/// Whether the user may see allocations of the study: open label, or on the unblinded team.
pub async fn may_see(store: &Store, study_id: Uuid, user_id: Uuid) -> Result<bool> {
    let blinded = scheme(store, study_id).await?.is_none_or(|s| s.blinded);
    Ok(clinbridge_core::participants::randomization::may_see_allocation(
        blinded,
        is_unblinded(store, study_id, user_id).await?,
    ))
}

/// Members of the unblinded team: (user id, name, e-mail).
pub async fn unblinded_team(store: &Store, study_id: Uuid) -> Result<Vec<(Uuid, String, String)>> {
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as(
        "SELECT u.id, u.name, u.email FROM unblinded_team t JOIN users u ON u.id = t.user_id WHERE t.study_id = $1 ORDER BY u.name"
    )
    .bind(study_id)
    .fetch_all(c)
    .await
    })?)
}

pub async fn set_unblinded(store: &Store, acting: &Acting, study_id: Uuid, user_id: Uuid, member: bool) -> Result<()> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let n = if member {
                    exec!(
                        tx,
                        "INSERT INTO unblinded_team (study_id, user_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        study_id,
                        user_id,
                        now()
                    )?
                } else {
                    exec!(tx, "DELETE FROM unblinded_team WHERE study_id = $1 AND user_id = $2", study_id, user_id)?
                };
                if n > 0 {
                    tx.audit(AuditEvent::new(AuditAction::PermissionChange, "unblinded_team", study_id).new_value(
                        serde_json::json!({ "user_id": user_id, "member": member }),
                    ));
                }
                Ok(())
            })
        })
        .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Unblinding {
    pub id: Uuid,
    pub participant_id: Uuid,
    pub user_name: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Whether this person broke the blind for this participant (they may see the arm since).
pub async fn has_unblinded(store: &Store, participant_id: Uuid, user_id: Uuid) -> Result<bool> {
    let n: i64 = on!(store.db.read(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM unblindings WHERE participant_id = $1 AND user_id = $2"
    )
    .bind(participant_id)
    .bind(user_id)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}

pub async fn unblindings(store: &Store, participant_id: Uuid) -> Result<Vec<Unblinding>> {
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as::<_, Unblinding>(
        "SELECT b.id, b.participant_id, u.name AS user_name, b.reason, b.at FROM unblindings b JOIN users u ON u.id = b.user_id
         WHERE b.participant_id = $1 ORDER BY b.at"
    )
    .bind(participant_id)
    .fetch_all(c)
    .await
    })?)
}

/// Breaks the blind for one participant in an emergency: records who, when and why, tells
/// every member of the study's unblinded team, and gives the caller the arm.
pub async fn emergency_unblind(
    store: &Store,
    acting: &Acting,
    participant_id: Uuid,
    reason: &str,
) -> Result<Assignment> {
    let reason = clinbridge_core::required_text("reason", reason, 1000)?;
    if reason.chars().count() < 10 {
        return Err(clinbridge_core::Invalid::one("reason", "describe the emergency (at least 10 characters)").into());
    }
    let p = participant(store, participant_id).await?;
    if assignment(store, participant_id).await?.is_none() {
        return Err(StoreError::Refused(format!("{} has not been randomized", p.subject_id)));
    }
    let Some(user) = acting.user else { return Err(StoreError::Refused("only a person unblinds".into())) };
    let team = unblinded_team(store, p.study_id).await?;
    let who = crate::identity::user(store, user).await?.name;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let id = new_id();
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO unblindings (id, participant_id, user_id, reason, at) VALUES ($1, $2, $3, $4, $5)",
                    id,
                    participant_id,
                    user,
                    &reason,
                    t
                )?;
                for (member, _, _) in &team {
                    exec!(
                        tx,
                        "INSERT INTO notifications (id, user_id, task_id, title, body, created_at) VALUES ($1, $2, NULL, $3, $4, $5)",
                        new_id(),
                        member,
                        format!("Emergency unblinding of {}", p.subject_id),
                        format!("{who} broke the blind for {} at {}. Reason: {reason}", p.subject_id, t.format("%Y-%m-%d %H:%M UTC")),
                        t
                    )?;
                }
                tx.audit(AuditEvent::new(AuditAction::Create, "unblinding", participant_id).new_value(serde_json::json!({
                    "unblinding_id": id, "subject_id": p.subject_id, "reason": reason, "notified": team.len(),
                })));
                assignment_in(tx, participant_id).await
            })
        })
        .await
}
