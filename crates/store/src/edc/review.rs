//! Review of captured data: source data verification per field (or every answered field of a
//! form or a visit at once), locking of forms and visits, and the investigator's signature on
//! a form, a visit or a whole record. A verification is removed when its value changes (see
//! `edc::save_in`); a signature signs the canonical values under it and is void as soon as one
//! of them changes, without anything touching the signature itself.

use super::records::{Form, form_in, form_values_in, record_in};
use crate::signatures::{self, Signature, SignatureView};
use crate::{Acting, Result, Store, StoreError, Tx, exec, now, on, tx_on};
use chrono::{DateTime, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::signature::Meaning;
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Who verified a field, and when.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Verification {
    pub field: String,
    pub verified_by: Uuid,
    pub verified_by_name: String,
    pub verified_at: DateTime<Utc>,
}

/// The verified fields of a form, by field name.
pub async fn verifications(store: &Store, form_id: Uuid) -> Result<BTreeMap<String, Verification>> {
    let rows: Vec<Verification> = on!(store.db.read(), |c| sqlx::query_as::<_, Verification>(
        "SELECT v.field, v.verified_by, u.name AS verified_by_name, v.verified_at
         FROM edc_verifications v JOIN users u ON u.id = v.verified_by WHERE v.form_id = $1"
    )
    .bind(form_id)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(|v| (v.field.clone(), v)).collect())
}

/// Marks fields of a form verified against source. `None` verifies every answered field.
/// Fields without a value cannot be verified; a field already verified keeps its first check.
async fn verify_in(tx: &mut Tx, form: &Form, fields: Option<&[String]>) -> Result<Vec<String>> {
    let values = form_values_in(tx, form.id).await?;
    let chosen: Vec<String> = match fields {
        None => values.keys().cloned().collect(),
        Some(list) => {
            let mut errors = clinbridge_core::Checks::new();
            for f in list {
                if !values.contains_key(f) {
                    errors.push(f, "has no value to verify");
                }
            }
            errors.finish()?;
            list.to_vec()
        }
    };
    let user = tx.acting().user.ok_or_else(|| StoreError::Refused("verification needs a person".into()))?;
    let at = now();
    let mut added = Vec::new();
    for field in chosen {
        let inserted: Option<String> = tx_on!(tx, |c| sqlx::query_scalar(
            "INSERT INTO edc_verifications (form_id, field, verified_by, verified_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (form_id, field) DO NOTHING RETURNING field"
        )
        .bind(form.id)
        .bind(&field)
        .bind(user)
        .bind(at)
        .fetch_optional(&mut *c)
        .await)?;
        if let Some(f) = inserted {
            added.push(f);
        }
    }
    if !added.is_empty() {
        tx.audit(AuditEvent::new(AuditAction::Update, "edc_form", form.id).new_value(serde_json::json!({
            "verified": added, "event": form.event, "instrument": form.instrument, "instance": form.instance,
        })));
    }
    Ok(added)
}

/// Verifies the named fields of a form (every answered field when `fields` is empty).
pub async fn verify_form(store: &Store, acting: &Acting, form_id: Uuid, fields: Vec<String>) -> Result<Vec<String>> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let form = form_in(tx, form_id).await?;
                if form.locked() {
                    return Err(StoreError::Refused("the form is locked".into()));
                }
                verify_in(tx, &form, if fields.is_empty() { None } else { Some(&fields) }).await
            })
        })
        .await
}

async fn visit_forms_in(tx: &mut Tx, record_id: Uuid, event: &str, instance: i64) -> Result<Vec<Form>> {
    let ids: Vec<Uuid> = tx_on!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM edc_forms WHERE record_id = $1 AND event = $2 AND instance = $3 ORDER BY instrument"
    )
    .bind(record_id)
    .bind(event)
    .bind(instance)
    .fetch_all(&mut *c)
    .await)?;
    let mut forms = Vec::new();
    for id in ids {
        forms.push(form_in(tx, id).await?);
    }
    Ok(forms)
}

/// Verifies every answered field of every form of a visit.
pub async fn verify_visit(
    store: &Store,
    acting: &Acting,
    record_id: Uuid,
    event: &str,
    instance: i64,
) -> Result<usize> {
    let event = event.to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let forms = visit_forms_in(tx, record_id, &event, instance).await?;
                if forms.is_empty() {
                    return Err(Invalid::one("event", "the visit has no saved forms").into());
                }
                let mut n = 0;
                for form in forms.iter().filter(|f| !f.locked()) {
                    n += verify_in(tx, form, None).await?.len();
                }
                Ok(n)
            })
        })
        .await
}

/// Locks or unlocks a form.
pub async fn lock_form(store: &Store, acting: &Acting, form_id: Uuid, lock: bool) -> Result<Form> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let form = form_in(tx, form_id).await?;
                if form.locked_at.is_some() == lock {
                    return Ok(form);
                }
                let (by, at) = if lock { (tx.acting().user, Some(now())) } else { (None, None) };
                exec!(tx, "UPDATE edc_forms SET locked_by = $1, locked_at = $2 WHERE id = $3", by, at, form_id)?;
                tx.audit(AuditEvent::new(AuditAction::Update, "edc_form", form_id).new_value(serde_json::json!({
                    "locked": lock, "event": form.event, "instrument": form.instrument, "instance": form.instance,
                })));
                form_in(tx, form_id).await
            })
        })
        .await
}

/// Locks or unlocks a visit: while locked none of its forms changes.
pub async fn lock_visit(
    store: &Store,
    acting: &Acting,
    record_id: Uuid,
    event: &str,
    instance: i64,
    lock: bool,
) -> Result<()> {
    let event = event.to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let record = record_in(tx, record_id).await?;
                if lock {
                    let by = tx.acting().user.ok_or_else(|| StoreError::Refused("locking needs a person".into()))?;
                    exec!(
                        tx,
                        "INSERT INTO edc_event_locks (record_id, event, instance, locked_by, locked_at) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (record_id, event, instance) DO NOTHING",
                        record_id,
                        &event,
                        instance,
                        by,
                        now()
                    )?;
                } else {
                    exec!(
                        tx,
                        "DELETE FROM edc_event_locks WHERE record_id = $1 AND event = $2 AND instance = $3",
                        record_id,
                        &event,
                        instance
                    )?;
                }
                tx.audit(AuditEvent::new(AuditAction::Update, "edc_record", record_id).new_value(serde_json::json!({
                    "record": record.record, "visit": event, "instance": instance, "locked": lock,
                })));
                Ok(())
            })
        })
        .await
}

/// Whether a visit is locked.
pub async fn visit_locked(store: &Store, record_id: Uuid, event: &str, instance: i64) -> Result<bool> {
    let n: i64 = on!(store.db.read(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM edc_event_locks WHERE record_id = $1 AND event = $2 AND instance = $3"
    )
    .bind(record_id)
    .bind(event)
    .bind(instance)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}

// ---------------------------------------------------------------- signatures

/// What an investigator signs: one form, one visit, or the whole record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedScope {
    Form(Uuid),
    Visit { record_id: Uuid, event: String, instance: i64 },
    Record(Uuid),
}

impl SignedScope {
    fn record_type(&self) -> &'static str {
        match self {
            Self::Form(_) => "edc_form",
            Self::Visit { .. } => "edc_visit",
            Self::Record(_) => "edc_record",
        }
    }
    fn record_key(&self) -> String {
        match self {
            Self::Form(id) => id.to_string(),
            Self::Visit { record_id, event, instance } => format!("{record_id}/{event}/{instance}"),
            Self::Record(id) => id.to_string(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct ValueRow {
    event: String,
    instrument: String,
    instance: i64,
    field: String,
    value: String,
}

/// The canonical JSON of the values under a signature: forms in a fixed order, each with its
/// values by field name. Any change of a value changes it, and so voids the signature.
pub async fn canonical(store: &Store, scope: &SignedScope) -> Result<(serde_json::Value, Uuid)> {
    let (record_id, sql_filter): (Uuid, String) = match scope {
        SignedScope::Form(id) => {
            let f = super::records::form(store, *id).await?;
            (f.record_id, "AND f.id = $2".into())
        }
        SignedScope::Visit { record_id, .. } => (*record_id, "AND f.event = $2 AND f.instance = $3".into()),
        SignedScope::Record(id) => (*id, String::new()),
    };
    let sql = format!(
        "SELECT f.event, f.instrument, f.instance, v.field, v.value FROM edc_forms f JOIN edc_values v ON v.form_id = f.id
         WHERE f.record_id = $1 {sql_filter} ORDER BY f.event, f.instrument, f.instance, v.field"
    );
    let rows: Vec<ValueRow> = on!(store.db.read(), |c| {
        let q = sqlx::query_as::<_, ValueRow>(sqlx::AssertSqlSafe(sql.clone())).bind(record_id);
        match scope {
            SignedScope::Form(id) => q.bind(*id),
            SignedScope::Visit { event, instance, .. } => q.bind(event.clone()).bind(*instance),
            SignedScope::Record(_) => q,
        }
        .fetch_all(c)
        .await
    })?;
    let mut forms: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for r in rows {
        forms.entry(format!("{}/{}/{}", r.event, r.instrument, r.instance)).or_default().insert(r.field, r.value);
    }
    let record = super::records::record(store, record_id).await?;
    Ok((
        serde_json::json!({ "type": scope.record_type(), "record": record.record, "scope": scope.record_key(), "forms": forms }),
        record_id,
    ))
}

/// Signs a form, a visit or a record with the platform e-signature (password checked again).
pub async fn sign(store: &Store, acting: &Acting, password: &str, scope: SignedScope) -> Result<Signature> {
    let (doc, _) = canonical(store, &scope).await?;
    if doc["forms"].as_object().is_none_or(|m| m.is_empty()) {
        return Err(Invalid::one("scope", "there is no saved data to sign").into());
    }
    signatures::sign(store, acting, password, Meaning::Responsibility, scope.record_type(), &scope.record_key(), &doc)
        .await
}

/// The signatures of a form, a visit or a record, each marked valid or void against the
/// values as they are now.
pub async fn signatures_of(store: &Store, scope: &SignedScope) -> Result<Vec<SignatureView>> {
    let (doc, _) = canonical(store, scope).await?;
    signatures::for_record(store, scope.record_type(), &scope.record_key(), &doc).await
}

/// Every signature that covers a form: its own, its visit's and its record's.
pub async fn signatures_over_form(store: &Store, form_id: Uuid) -> Result<Vec<SignatureView>> {
    let f = super::records::form(store, form_id).await?;
    let mut out = signatures_of(store, &SignedScope::Form(form_id)).await?;
    out.extend(
        signatures_of(
            store,
            &SignedScope::Visit { record_id: f.record_id, event: f.event.clone(), instance: f.instance },
        )
        .await?,
    );
    out.extend(signatures_of(store, &SignedScope::Record(f.record_id)).await?);
    Ok(out)
}
