//! What the REDCap-compatible API needs from the store beyond records: its tokens (one per
//! person and study, 32 hexadecimal characters, kept as SHA-256), the files of file-upload
//! fields, and REDCap's logging read back from the audit trail of the study's forms.

use super::metadata::{self, Metadata};
use super::records::{self, FormKey, Record};
use super::{Blanks, FormInput};
use crate::identity::User;
use crate::secrets::sha256_hex;
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::edc::FieldType;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

// ---------------------------------------------------------------- tokens

/// A person's REDCap API token for one study (the secret itself is never kept).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct RedcapToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub study_id: Uuid,
    pub study_code: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const TOKEN_SELECT: &str =
    "SELECT t.id, t.user_id, t.study_id, s.code AS study_code, t.prefix, t.created_at, t.last_used_at
     FROM api_tokens t JOIN studies s ON s.id = t.study_id";

/// A new token: 16 random bytes as 32 upper-case hexadecimal characters, as REDCap writes them.
fn new_secret() -> Result<String> {
    Ok(hex::encode_upper(crate::secrets::random_bytes::<16>()?))
}

/// Creates the person's token for a study; the secret is returned once. A person holds one
/// live token per study (revoke it to get a new one). Whether they may use the API on the
/// study is the caller's question; every call is checked again against their grants.
pub async fn create_token(
    store: &Store,
    acting: &Acting,
    user_id: Uuid,
    study_id: Uuid,
) -> Result<(RedcapToken, String)> {
    let secret = new_secret()?;
    let hash = sha256_hex(&secret);
    let prefix: String = secret.chars().take(6).collect();
    let id = store
        .write(acting, move |tx| {
            Box::pin(async move {
                let id = new_id();
                let code: Option<String> = tx_on!(tx, |c| sqlx::query_scalar("SELECT code FROM studies WHERE id = $1")
                    .bind(study_id)
                    .fetch_optional(&mut *c)
                    .await)?;
                let code = code.ok_or(StoreError::NotFound("study"))?;
                exec!(
                    tx,
                    "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at, study_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    id,
                    user_id,
                    format!("REDCap API: {code}"),
                    &hash,
                    &prefix,
                    now(),
                    study_id
                )
                .map_err(|e| {
                    StoreError::from(e)
                        .unique_as("study", "you already have a REDCap API token for this study: revoke it to get a new one")
                })?;
                tx.audit(AuditEvent::new(AuditAction::Create, "api_token", id).new_value(serde_json::json!({
                    "user_id": user_id, "study_id": study_id, "redcap": true, "prefix": prefix
                })));
                Ok(id)
            })
        })
        .await?;
    let sql = format!("{TOKEN_SELECT} WHERE t.id = $1");
    let token = on!(store.db.read(), |c| sqlx::query_as::<_, RedcapToken>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("token"))?;
    Ok((token, secret))
}

/// A person's live REDCap tokens, by study code.
pub async fn tokens_of(store: &Store, user_id: Uuid) -> Result<Vec<RedcapToken>> {
    let sql = format!("{TOKEN_SELECT} WHERE t.user_id = $1 AND t.revoked_at IS NULL ORDER BY s.code");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, RedcapToken>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(user_id)
        .fetch_all(c)
        .await)?)
}

/// Revokes one of the person's REDCap tokens (someone else's reads as not found).
pub async fn revoke_token(store: &Store, acting: &Acting, owner: Uuid, id: Uuid) -> Result<()> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let n = exec!(
                    tx,
                    "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND study_id IS NOT NULL AND revoked_at IS NULL",
                    now(),
                    id,
                    owner
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound("token"));
                }
                tx.audit(AuditEvent::new(AuditAction::Update, "api_token", id).new_value(serde_json::json!({"revoked": true})));
                Ok(())
            })
        })
        .await
}

/// The active person and the study a REDCap token was made for.
pub async fn authenticate(store: &Store, secret: &str) -> Result<Option<(User, Uuid)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        token_id: Uuid,
        token_study: Uuid,
        last_used_at: Option<DateTime<Utc>>,
        #[sqlx(flatten)]
        user: User,
    }
    let secret = secret.trim().to_ascii_uppercase();
    if secret.len() != 32 || !secret.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hash = sha256_hex(&secret);
    let row: Option<Row> = on!(store.db.read(), |c| {
        sqlx::query_as(
        "SELECT t.id AS token_id, t.study_id AS token_study, t.last_used_at, u.id, u.email, u.name, u.active, u.totp_enabled,
            u.time_zone, u.locked_until, u.created_at
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND t.study_id IS NOT NULL AND t.revoked_at IS NULL AND u.active = $2"
    )
    .bind(&hash)
    .bind(true)
    .fetch_optional(c)
    .await
    })?;
    let Some(row) = row else { return Ok(None) };
    let t = now();
    // Last use is informational; recording it at most hourly keeps reads from becoming writes.
    if row.last_used_at.is_none_or(|l| t - l > chrono::Duration::hours(1)) {
        let token_id = row.token_id;
        store
            .write(&Acting::user(row.user.id, None), move |tx| {
                Box::pin(async move {
                    exec!(tx, "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", t, token_id)?;
                    Ok(())
                })
            })
            .await?;
    }
    Ok(Some((row.user, row.token_study)))
}

// ---------------------------------------------------------------- files

/// Where a file sits: a record, an event (visit code, `""` in a classic study), the instance
/// and a file-upload field.
#[derive(Debug, Clone)]
pub struct FileSlot {
    pub record: String,
    pub event: String,
    pub instance: i64,
    pub field: String,
}

/// A stored file.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredFile {
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// The record, the metadata and the form key of a slot, or why there is none.
async fn slot_in(tx: &mut Tx, study_id: Uuid, slot: &FileSlot) -> Result<(std::sync::Arc<Metadata>, Record, FormKey)> {
    let meta = metadata::current_in(tx, study_id)
        .await?
        .ok_or_else(|| StoreError::Refused("the study has no instruments yet".into()))?;
    let field = meta
        .field(&slot.field)
        .filter(|f| f.field_type() == FieldType::File)
        .ok_or_else(|| Invalid::one("field", format!("'{}' is not a file upload field", slot.field)))?;
    let key = FormKey::new(&slot.event, field.form(), slot.instance);
    let record = records::record_named_in(tx, study_id, &slot.record)
        .await?
        .ok_or_else(|| Invalid::one("record", format!("the record '{}' does not exist", slot.record)))?;
    Ok((meta, record, key))
}

/// A file to store: its name as uploaded, its media type and its bytes.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Stores a file in a file-upload field, replacing the one there; the field's value becomes
/// the file name. The form is created when it has not been saved yet.
pub async fn put_file(
    store: &Store,
    acting: &Acting,
    study_id: Uuid,
    slot: FileSlot,
    file: NewFile,
    reason: &str,
) -> Result<()> {
    let NewFile { name: file_name, content_type, bytes } = file;
    let file_name: String =
        file_name.rsplit(['/', '\\']).next().unwrap_or_default().trim().chars().filter(|c| !c.is_control()).collect();
    if file_name.is_empty() || file_name.chars().count() > 255 {
        return Err(Invalid::one("file", "the file needs a name of 1 to 255 characters").into());
    }
    let content_type = content_type.trim().to_string();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let reason = reason.to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let (meta, record, key) = slot_in(tx, study_id, &slot).await?;
                let form = match records::form_by_key_in(tx, record.id, &key).await? {
                    Some(f) => f,
                    None => {
                        let input = FormInput {
                            key: key.clone(),
                            values: Vec::new(),
                            status: None,
                            reason: None,
                            revision: None,
                            dates: None,
                            blanks: Blanks::Keep,
                            from_page: false,
                        };
                        super::save_in(tx, &meta, &record, &input).await?.form
                    }
                };
                if form.locked() {
                    return Err(StoreError::Refused(format!("{} is locked: unlock it before changing it", meta.label(&key.instrument))));
                }
                let old = records::form_values_in(tx, form.id).await?.remove(&slot.field).unwrap_or_default();
                let at = now();
                let by = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO edc_files (form_id, field, file_name, content_type, bytes, sha256, uploaded_by, uploaded_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (form_id, field) DO UPDATE SET file_name = excluded.file_name, content_type = excluded.content_type,
                        bytes = excluded.bytes, sha256 = excluded.sha256, uploaded_by = excluded.uploaded_by, uploaded_at = excluded.uploaded_at",
                    form.id,
                    &slot.field,
                    &file_name,
                    &content_type,
                    &bytes,
                    &sha,
                    by,
                    at
                )?;
                exec!(
                    tx,
                    "INSERT INTO edc_values (form_id, field, value) VALUES ($1, $2, $3)
                     ON CONFLICT (form_id, field) DO UPDATE SET value = excluded.value",
                    form.id,
                    &slot.field,
                    &file_name
                )?;
                exec!(tx, "DELETE FROM edc_verifications WHERE form_id = $1 AND field = $2", form.id, &slot.field)?;
                touch_in(tx, form.id, record.id, at).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "edc_form", form.id)
                        .old(serde_json::json!({ "status": form.status, "values": { &slot.field: old } }))
                        .new_value(serde_json::json!({
                            "record": record.record, "event": key.event, "instrument": key.instrument, "instance": key.instance,
                            "version": meta.number, "status": form.status, "values": { &slot.field: file_name },
                            "file": { "field": slot.field, "size": bytes.len(), "sha256": sha, "content_type": content_type },
                        }))
                        .reason(Some(reason)),
                );
                Ok(())
            })
        })
        .await
}

async fn touch_in(tx: &mut Tx, form_id: Uuid, record_id: Uuid, at: DateTime<Utc>) -> Result<()> {
    exec!(tx, "UPDATE edc_forms SET revision = revision + 1, updated_at = $1 WHERE id = $2", at, form_id)?;
    exec!(tx, "UPDATE edc_records SET updated_at = $1 WHERE id = $2", at, record_id)?;
    Ok(())
}

/// The file in a slot, if there is one.
pub async fn file(store: &Store, study_id: Uuid, slot: &FileSlot) -> Result<Option<StoredFile>> {
    let Some(record) = records::record_named(store, study_id, &slot.record).await? else {
        return Err(Invalid::one("record", format!("the record '{}' does not exist", slot.record)).into());
    };
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, StoredFile>(
        "SELECT x.file_name, x.content_type, x.bytes, x.sha256 FROM edc_files x JOIN edc_forms f ON f.id = x.form_id
         WHERE f.record_id = $1 AND f.event = $2 AND f.instance = $3 AND x.field = $4"
    )
    .bind(record.id)
    .bind(&slot.event)
    .bind(slot.instance)
    .bind(&slot.field)
    .fetch_optional(c)
    .await)?)
}

/// Removes the file in a slot and blanks the field. Refused when there is no file.
pub async fn delete_file(store: &Store, acting: &Acting, study_id: Uuid, slot: FileSlot, reason: &str) -> Result<()> {
    let reason = reason.to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let (meta, record, key) = slot_in(tx, study_id, &slot).await?;
                let form = records::form_by_key_in(tx, record.id, &key)
                    .await?
                    .ok_or_else(|| Invalid::one("field", format!("there is no file in {} to delete", slot.field)))?;
                if form.locked() {
                    return Err(StoreError::Refused(format!("{} is locked: unlock it before changing it", meta.label(&key.instrument))));
                }
                let n = exec!(tx, "DELETE FROM edc_files WHERE form_id = $1 AND field = $2", form.id, &slot.field)?;
                if n == 0 {
                    return Err(Invalid::one("field", format!("there is no file in {} to delete", slot.field)).into());
                }
                let old = records::form_values_in(tx, form.id).await?.remove(&slot.field).unwrap_or_default();
                exec!(tx, "DELETE FROM edc_values WHERE form_id = $1 AND field = $2", form.id, &slot.field)?;
                exec!(tx, "DELETE FROM edc_verifications WHERE form_id = $1 AND field = $2", form.id, &slot.field)?;
                touch_in(tx, form.id, record.id, now()).await?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "edc_form", form.id)
                        .old(serde_json::json!({ "status": form.status, "values": { &slot.field: old } }))
                        .new_value(serde_json::json!({
                            "record": record.record, "event": key.event, "instrument": key.instrument, "instance": key.instance,
                            "version": meta.number, "status": form.status, "values": { &slot.field: "" },
                            "file": { "field": slot.field, "deleted": true },
                        }))
                        .reason(Some(reason)),
                );
                Ok(())
            })
        })
        .await
}

// ---------------------------------------------------------------- logging

/// What REDCap's `export_logging` filters on.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// `record` (every record change), `record_add`, `record_edit`, `record_delete`; other
    /// REDCap log types (exports, page views, user changes) are not kept as such and give nothing.
    pub log_type: Option<String>,
    /// The person's user name (their e-mail address).
    pub user: Option<String>,
    pub record: Option<String>,
    pub begin: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// One line of REDCap's logging.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogEntry {
    /// `YYYY-MM-DD HH:MM`, UTC.
    pub timestamp: String,
    pub username: String,
    pub action: String,
    pub details: String,
    pub record: String,
}

#[derive(sqlx::FromRow)]
struct LogRow {
    at: DateTime<Utc>,
    email: Option<String>,
    action: String,
    entity_id: String,
    old_value: Option<String>,
    new_value: Option<String>,
}

/// The study's record changes, oldest first, read from the audit entries of its forms.
pub async fn logging(store: &Store, study_id: Uuid, filter: &LogFilter) -> Result<Vec<LogEntry>> {
    let kinds: &[&str] = match filter.log_type.as_deref().unwrap_or("") {
        "" | "record" => &["create", "update", "delete"],
        "record_add" => &["create"],
        "record_edit" => &["update"],
        "record_delete" => &["delete"],
        _ => return Ok(Vec::new()),
    };
    let forms: Vec<Uuid> = on!(store.db.read(), |c| sqlx::query_scalar(
        "SELECT f.id FROM edc_forms f JOIN edc_records r ON r.id = f.record_id WHERE r.study_id = $1"
    )
    .bind(study_id)
    .fetch_all(c)
    .await)?;
    let forms: HashSet<String> = forms.into_iter().map(|f| f.to_string()).collect();
    // Bounds both engines store and compare as they do every other time.
    let far = |y: i32| {
        chrono::NaiveDate::from_ymd_opt(y, 1, 1).unwrap_or_default().and_time(chrono::NaiveTime::MIN).and_utc()
    };
    let begin = filter.begin.unwrap_or_else(|| far(1970));
    let end = filter.end.unwrap_or_else(|| far(9999));
    let rows: Vec<LogRow> = on!(store.db.read(), |c| sqlx::query_as::<_, LogRow>(
        "SELECT a.at, u.email, a.action, a.entity_id, a.old_value, a.new_value
         FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
         WHERE a.entity_type IN ('edc_form', 'edc_record') AND a.at >= $1 AND a.at <= $2 ORDER BY a.id"
    )
    .bind(begin)
    .bind(end)
    .fetch_all(c)
    .await)?;
    let study = study_id.to_string();
    let parse = |s: &Option<String>| -> serde_json::Value {
        s.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(serde_json::Value::Null)
    };
    let mut out = Vec::new();
    for row in rows {
        let new = parse(&row.new_value);
        let old = parse(&row.old_value);
        let names_study =
            [&new, &old].iter().any(|v| v.get("study_id").and_then(|s| s.as_str()) == Some(study.as_str()));
        if !forms.contains(&row.entity_id) && !names_study {
            continue;
        }
        if !kinds.contains(&row.action.as_str()) {
            continue;
        }
        let record =
            [&new, &old].iter().find_map(|v| v.get("record").and_then(|r| r.as_str())).unwrap_or_default().to_string();
        if filter.record.as_deref().is_some_and(|r| r != record) {
            continue;
        }
        let username = row.email.unwrap_or_else(|| "system".into());
        if filter.user.as_deref().is_some_and(|u| !u.eq_ignore_ascii_case(&username)) {
            continue;
        }
        let verb = match row.action.as_str() {
            "create" => "Create",
            "delete" => "Delete",
            _ => "Update",
        };
        let event = new.get("event").and_then(|e| e.as_str()).filter(|e| !e.is_empty());
        let action = match event {
            Some(e) => format!("{verb} record {record} ({})", metadata::unique_event_name(e)),
            None => format!("{verb} record {record}"),
        };
        let values: BTreeMap<String, String> = new
            .get("values")
            .and_then(|v| v.as_object())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        let details = values.iter().map(|(k, v)| format!("{k} = '{v}'")).collect::<Vec<_>>().join(", ");
        out.push(LogEntry {
            timestamp: row.at.format("%Y-%m-%d %H:%M").to_string(),
            username,
            action,
            details,
            record,
        });
    }
    Ok(out)
}
