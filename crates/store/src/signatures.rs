//! Electronic signatures, the shared service every context uses to sign its records. Signing
//! re-checks the password; the signature keeps the printed name, UTC time, meaning and the
//! SHA-256 of the canonical record version, and is void as soon as the record differs.

use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on};
use chrono::{DateTime, Utc};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::signature::{Meaning, record_hash};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Signature {
    pub id: Uuid,
    pub user_id: Uuid,
    pub printed_name: String,
    pub meaning: String,
    pub record_type: String,
    pub record_id: String,
    pub record_hash: String,
    pub signed_at: DateTime<Utc>,
}

/// A signature as shown beside its record.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureView {
    #[serde(flatten)]
    pub signature: Signature,
    pub statement: String,
    /// False once the record has changed since it was signed.
    pub valid: bool,
}

/// Signs the given version of a record. The caller supplies the record exactly as stored and
/// shown; the password is checked again here (21 CFR 11.200(a)).
pub async fn sign(
    store: &Store,
    acting: &Acting,
    password: &str,
    meaning: Meaning,
    record_type: &str,
    record_id: &str,
    record: &serde_json::Value,
) -> Result<Signature> {
    let sig = prepare(store, acting, password, meaning, record_type, record_id, record).await?;
    let s = sig.clone();
    store.write(acting, move |tx| Box::pin(async move { insert_in(tx, &s).await })).await?;
    Ok(sig)
}

/// Checks the signer's password and builds the signature, for a context that stores it in the
/// same transaction as the change it signs ([`insert_in`]). A wrong password is audited.
pub(crate) async fn prepare(
    store: &Store,
    acting: &Acting,
    password: &str,
    meaning: Meaning,
    record_type: &str,
    record_id: &str,
    record: &serde_json::Value,
) -> Result<Signature> {
    let Some(user_id) = acting.user else {
        return Err(StoreError::Refused("only a person can sign".into()));
    };
    let user = crate::identity::user(store, user_id).await?;
    if !crate::identity::check_password(store, user_id, password).await? {
        let rt = record_type.to_string();
        let rid = record_id.to_string();
        store
            .write(acting, move |tx| {
                Box::pin(async move {
                    tx.audit(AuditEvent::new(AuditAction::LoginFailed, "user", user_id).new_value(serde_json::json!({
                        "cause": "wrong password when signing", "record_type": rt, "record_id": rid
                    })));
                    Ok(())
                })
            })
            .await?;
        return Err(clinbridge_core::Invalid::one("password", "is not your current password").into());
    }
    Ok(Signature {
        id: new_id(),
        user_id,
        printed_name: user.name.clone(),
        meaning: meaning.as_str().to_string(),
        record_type: record_type.to_string(),
        record_id: record_id.to_string(),
        record_hash: record_hash(record),
        signed_at: now(),
    })
}

/// Stores a prepared signature and its audit entry.
pub(crate) async fn insert_in(tx: &mut Tx, s: &Signature) -> Result<()> {
    exec!(
        tx,
        "INSERT INTO signatures (id, user_id, printed_name, meaning, record_type, record_id, record_hash, signed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        s.id,
        s.user_id,
        &s.printed_name,
        &s.meaning,
        &s.record_type,
        &s.record_id,
        &s.record_hash,
        s.signed_at
    )?;
    tx.audit(AuditEvent::new(AuditAction::Signature, &s.record_type, &s.record_id).new_value(serde_json::json!({
        "signature_id": s.id, "printed_name": s.printed_name, "meaning": s.meaning, "record_hash": s.record_hash, "signed_at": s.signed_at
    })));
    Ok(())
}

/// Every signature on a record, each marked valid or void against the record's current version.
pub async fn for_record(
    store: &Store,
    record_type: &str,
    record_id: &str,
    current: &serde_json::Value,
) -> Result<Vec<SignatureView>> {
    let rows: Vec<Signature> = on!(store.db.read(), |c| {
        sqlx::query_as(
            "SELECT id, user_id, printed_name, meaning, record_type, record_id, record_hash, signed_at FROM signatures
         WHERE record_type = $1 AND record_id = $2 ORDER BY signed_at",
        )
        .bind(record_type)
        .bind(record_id)
        .fetch_all(c)
        .await
    })?;
    let now_hash = record_hash(current);
    Ok(rows
        .into_iter()
        .map(|s| SignatureView {
            statement: Meaning::parse(&s.meaning).map(|m| m.statement().to_string()).unwrap_or_default(),
            valid: s.record_hash == now_hash,
            signature: s,
        })
        .collect())
}
