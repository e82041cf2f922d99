//! EDC records and form instances: finding or creating the record of a participant (named by
//! the subject id) or of a data-capture project, the forms saved under it and their values.

use crate::{Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Utc};
use clinbridge_core::policy::Target;
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A record: REDCap's unit of data, one per participant in a trial.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Record {
    pub id: Uuid,
    pub study_id: Uuid,
    pub record: String,
    pub participant_id: Option<Uuid>,
    /// The participant's site, or the record's own in a data-capture project.
    pub site_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// The site's time zone, which a form's `today` and `now` read (none without a site).
    #[serde(skip)]
    pub time_zone: Option<String>,
}

impl Record {
    /// Where access to the record is decided: its study, and its site when it has one.
    pub fn target(&self) -> Target {
        Target { study: Some(self.study_id), site: self.site_id }
    }
}

const RECORD_SELECT: &str =
    "SELECT r.id, r.study_id, r.record, r.participant_id, COALESCE(p.site_id, r.site_id) AS site_id, r.created_at,
        s.time_zone
     FROM edc_records r LEFT JOIN participants p ON p.id = r.participant_id
     LEFT JOIN sites s ON s.id = COALESCE(p.site_id, r.site_id)";

pub async fn record(store: &Store, id: Uuid) -> Result<Record> {
    let sql = format!("{RECORD_SELECT} WHERE r.id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("record"))
}

pub(crate) async fn record_in(tx: &mut Tx, id: Uuid) -> Result<Record> {
    let sql = format!("{RECORD_SELECT} WHERE r.id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("record"))
}

/// A record by its name in a study.
pub async fn record_named(store: &Store, study_id: Uuid, name: &str) -> Result<Option<Record>> {
    let sql = format!("{RECORD_SELECT} WHERE r.study_id = $1 AND r.record = $2");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .bind(name)
        .fetch_optional(c)
        .await)?)
}

pub(crate) async fn record_named_in(tx: &mut Tx, study_id: Uuid, name: &str) -> Result<Option<Record>> {
    let sql = format!("{RECORD_SELECT} WHERE r.study_id = $1 AND r.record = $2");
    Ok(tx_on!(tx, |c| sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .bind(name)
        .fetch_optional(&mut *c)
        .await)?)
}

/// Most names one lookup or insert carries.
const NAMES_PER_STATEMENT: usize = 100;

/// The records of a study among `names`, by name: one read per hundred names.
///
/// PostgreSQL looks each name up through the (study, record) key with a lateral join: with an
/// `IN` list its planner may settle for the study half of the key while an import is still
/// growing the table past what its statistics say, and then filter every record of the study.
pub(crate) async fn records_named_in(
    tx: &mut Tx,
    study_id: Uuid,
    names: &[&str],
) -> Result<std::collections::HashMap<String, Record>> {
    let mut out = std::collections::HashMap::with_capacity(names.len());
    for chunk in names.chunks(NAMES_PER_STATEMENT) {
        let rows: Vec<Record> = match tx.conn() {
            crate::db::Conn::Postgres(c) => {
                // Only the key lookup is lateral: the sites come in one join for the hundred.
                let sql = RECORD_SELECT.replace(
                    "FROM edc_records r",
                    "FROM unnest($2::text[]) AS n(name)
                     CROSS JOIN LATERAL (SELECT * FROM edc_records e WHERE e.study_id = $1 AND e.record = n.name) r",
                );
                sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql))
                    .bind(study_id)
                    .bind(chunk)
                    .fetch_all(&mut *c)
                    .await?
            }
            crate::db::Conn::Sqlite(c) => {
                let params: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!("{RECORD_SELECT} WHERE r.study_id = $1 AND r.record IN ({})", params.join(", "));
                let mut q = sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql)).bind(study_id);
                for n in chunk {
                    q = q.bind(*n);
                }
                q.fetch_all(&mut *c).await?
            }
        };
        out.extend(rows.into_iter().map(|r| (r.record.clone(), r)));
    }
    Ok(out)
}

/// The participants of a study among `subject_ids`: (participant, site) by subject id, looked
/// up as [`records_named_in`] does.
pub(crate) async fn participants_named_in(
    tx: &mut Tx,
    study_id: Uuid,
    subject_ids: &[&str],
) -> Result<std::collections::HashMap<String, (Uuid, Uuid)>> {
    let mut out = std::collections::HashMap::new();
    for chunk in subject_ids.chunks(NAMES_PER_STATEMENT) {
        let rows: Vec<(String, Uuid, Uuid)> = match tx.conn() {
            crate::db::Conn::Postgres(c) => {
                sqlx::query_as(
                    "SELECT x.subject_id, x.id, x.site_id FROM unnest($2::text[]) AS n(name)
                     CROSS JOIN LATERAL (SELECT subject_id, id, site_id FROM participants
                        WHERE study_id = $1 AND subject_id = n.name) x",
                )
                .bind(study_id)
                .bind(chunk)
                .fetch_all(&mut *c)
                .await?
            }
            crate::db::Conn::Sqlite(c) => {
                let params: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                let sql = format!(
                    "SELECT subject_id, id, site_id FROM participants WHERE study_id = $1 AND subject_id IN ({})",
                    params.join(", ")
                );
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(study_id);
                for n in chunk {
                    q = q.bind(*n);
                }
                q.fetch_all(&mut *c).await?
            }
        };
        out.extend(rows.into_iter().map(|(name, id, site)| (name, (id, site))));
    }
    Ok(out)
}

/// Creates free-standing records (no site) the caller knows are not there yet, a hundred per
/// statement.
pub(crate) async fn create_many_named_in(tx: &mut Tx, study_id: Uuid, names: &[&str]) -> Result<Vec<Record>> {
    let at = now();
    let made: Vec<Record> = names
        .iter()
        .map(|n| Record {
            id: new_id(),
            study_id,
            record: n.to_string(),
            participant_id: None,
            site_id: None,
            created_at: at,
            time_zone: None,
        })
        .collect();
    for chunk in made.chunks(NAMES_PER_STATEMENT) {
        let rows: Vec<String> =
            (0..chunk.len()).map(|i| format!("(${}, $1, ${}, NULL, NULL, $2, $2)", 2 * i + 3, 2 * i + 4)).collect();
        let sql = format!(
            "INSERT INTO edc_records (id, study_id, record, participant_id, site_id, created_at, updated_at) VALUES {}",
            rows.join(", ")
        );
        crate::tx_on!(tx, |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(study_id).bind(at);
            for r in chunk {
                q = q.bind(r.id).bind(r.record.as_str());
            }
            q.execute(&mut *c).await.map(|r| r.rows_affected())
        })
        .map_err(|e| StoreError::from(e).unique_as("record", "a record with this name already exists in the study"))?;
    }
    Ok(made)
}

/// Every record of a study (at one site, or all), in name order.
pub async fn records(store: &Store, study_id: Uuid) -> Result<Vec<Record>> {
    let sql = format!("{RECORD_SELECT} WHERE r.study_id = $1 ORDER BY r.record");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(study_id)
        .fetch_all(c)
        .await)?)
}

/// The record of a participant, if data was ever saved for them.
pub async fn participant_record(store: &Store, participant_id: Uuid) -> Result<Option<Record>> {
    let sql = format!("{RECORD_SELECT} WHERE r.participant_id = $1");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(participant_id)
        .fetch_optional(c)
        .await)?)
}

/// The record of a participant, created on first use (named by the subject id).
pub(crate) async fn participant_record_in(tx: &mut Tx, participant_id: Uuid) -> Result<Record> {
    let sql = format!("{RECORD_SELECT} WHERE r.participant_id = $1");
    let existing = tx_on!(tx, |c| sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(participant_id)
        .fetch_optional(&mut *c)
        .await)?;
    if let Some(r) = existing {
        return Ok(r);
    }
    let p = crate::participants::participant_in(tx, participant_id).await?;
    let id = new_id();
    let at = now();
    exec!(
        tx,
        "INSERT INTO edc_records (id, study_id, record, participant_id, site_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        id,
        p.study_id,
        &p.subject_id,
        p.id,
        p.site_id,
        at
    )
    .map_err(|e| StoreError::from(e).unique_as("record", "a record with this subject id already exists in the study"))?;
    record_in(tx, id).await
}

/// A free-standing record (data-capture projects and imports), created when missing.
pub(crate) async fn named_record_in(
    tx: &mut Tx,
    study_id: Uuid,
    name: &str,
    site_id: Option<Uuid>,
) -> Result<(Record, bool)> {
    if let Some(r) = record_named_in(tx, study_id, name).await? {
        return Ok((r, false));
    }
    // A trial's participant keeps the record named by its subject id.
    let participant: Option<Uuid> =
        tx_on!(tx, |c| sqlx::query_scalar("SELECT id FROM participants WHERE study_id = $1 AND subject_id = $2")
            .bind(study_id)
            .bind(name)
            .fetch_optional(&mut *c)
            .await)?;
    if let Some(p) = participant {
        return Ok((participant_record_in(tx, p).await?, true));
    }
    Ok((create_named_in(tx, study_id, name, site_id).await?, true))
}

/// Creates a free-standing record the caller knows is not there yet.
pub(crate) async fn create_named_in(tx: &mut Tx, study_id: Uuid, name: &str, site_id: Option<Uuid>) -> Result<Record> {
    let id = new_id();
    let at = now();
    exec!(
        tx,
        "INSERT INTO edc_records (id, study_id, record, participant_id, site_id, created_at, updated_at) VALUES ($1, $2, $3, NULL, $4, $5, $5)",
        id,
        study_id,
        name,
        site_id,
        at
    )
    .map_err(|e| StoreError::from(e).unique_as("record", "a record with this name already exists in the study"))?;
    let time_zone: Option<String> = match site_id {
        Some(site) => tx_on!(tx, |c| sqlx::query_scalar(super::SITE_ZONE).bind(site).fetch_optional(&mut *c).await)?,
        None => None,
    };
    Ok(Record { id, study_id, record: name.to_string(), participant_id: None, site_id, created_at: at, time_zone })
}

/// Which form of a record: event (visit code, `""` in a classic project), instrument, instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct FormKey {
    pub event: String,
    pub instrument: String,
    pub instance: i64,
}

impl FormKey {
    pub fn new(event: &str, instrument: &str, instance: i64) -> Self {
        Self { event: event.to_string(), instrument: instrument.to_string(), instance }
    }
}

/// A saved form instance.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Form {
    pub id: Uuid,
    pub record_id: Uuid,
    pub event: String,
    pub instrument: String,
    pub instance: i64,
    /// 0 incomplete, 1 unverified, 2 complete (REDCap's `{form}_complete`).
    pub status: i64,
    pub version_number: i64,
    pub revision: i64,
    pub locked_by: Option<Uuid>,
    pub locked_at: Option<DateTime<Utc>>,
    /// The visit it belongs to is locked.
    pub event_locked: bool,
    /// Some of its fields are verified (a save then drops the marks of the fields it changes).
    #[serde(skip)]
    pub verified: bool,
    pub updated_at: DateTime<Utc>,
}

impl Form {
    pub fn key(&self) -> FormKey {
        FormKey::new(&self.event, &self.instrument, self.instance)
    }
    pub fn locked(&self) -> bool {
        self.locked_at.is_some() || self.event_locked
    }
}

const FORM_SELECT: &str = "SELECT f.id, f.record_id, f.event, f.instrument, f.instance, f.status, f.version_number, f.revision,
        f.locked_by, f.locked_at,
        EXISTS (SELECT 1 FROM edc_event_locks l WHERE l.record_id = f.record_id AND l.event = f.event AND l.instance = f.instance) AS event_locked,
        EXISTS (SELECT 1 FROM edc_verifications v WHERE v.form_id = f.id) AS verified,
        f.updated_at
     FROM edc_forms f";

pub(crate) async fn form_by_key_in(tx: &mut Tx, record_id: Uuid, key: &FormKey) -> Result<Option<Form>> {
    let sql =
        format!("{FORM_SELECT} WHERE f.record_id = $1 AND f.event = $2 AND f.instrument = $3 AND f.instance = $4");
    Ok(tx_on!(tx, |c| sqlx::query_as::<_, Form>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(record_id)
        .bind(&key.event)
        .bind(&key.instrument)
        .bind(key.instance)
        .fetch_optional(&mut *c)
        .await)?)
}

/// A record's form by its key, if it was ever saved.
pub async fn form_by_key(store: &Store, record_id: Uuid, key: &FormKey) -> Result<Option<Form>> {
    let sql =
        format!("{FORM_SELECT} WHERE f.record_id = $1 AND f.event = $2 AND f.instrument = $3 AND f.instance = $4");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Form>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(record_id)
        .bind(&key.event)
        .bind(&key.instrument)
        .bind(key.instance)
        .fetch_optional(c)
        .await)?)
}

pub(crate) async fn form_in(tx: &mut Tx, id: Uuid) -> Result<Form> {
    let sql = format!("{FORM_SELECT} WHERE f.id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, Form>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&mut *c).await)?
        .ok_or(StoreError::NotFound("form"))
}

pub async fn form(store: &Store, id: Uuid) -> Result<Form> {
    let sql = format!("{FORM_SELECT} WHERE f.id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Form>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("form"))
}

/// Every form of a record.
pub async fn forms(store: &Store, record_id: Uuid) -> Result<Vec<Form>> {
    let sql = format!("{FORM_SELECT} WHERE f.record_id = $1 ORDER BY f.event, f.instrument, f.instance");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Form>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(record_id)
        .fetch_all(c)
        .await)?)
}

/// The values of one form, by field name.
pub(crate) async fn form_values_in(tx: &mut Tx, form_id: Uuid) -> Result<BTreeMap<String, String>> {
    let rows: Vec<(String, String)> =
        tx_on!(tx, |c| sqlx::query_as("SELECT field, value FROM edc_values WHERE form_id = $1")
            .bind(form_id)
            .fetch_all(&mut *c)
            .await)?;
    Ok(rows.into_iter().collect())
}

pub async fn form_values(store: &Store, form_id: Uuid) -> Result<BTreeMap<String, String>> {
    let rows: Vec<(String, String)> =
        on!(store.db.read(), |c| sqlx::query_as("SELECT field, value FROM edc_values WHERE form_id = $1")
            .bind(form_id)
            .fetch_all(c)
            .await)?;
    Ok(rows.into_iter().collect())
}

/// One stored value with where it sits in the record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RecordValue {
    pub event: String,
    pub instrument: String,
    pub instance: i64,
    pub field: String,
    pub value: String,
}

const RECORD_VALUES: &str = "SELECT f.event, f.instrument, f.instance, v.field, v.value
     FROM edc_values v JOIN edc_forms f ON f.id = v.form_id WHERE f.record_id = $1";

/// A record's forms and values as one read inside a write (`None` when the record is gone): what
/// a save compares against and what its logic reads.
pub(crate) async fn record_state_in(tx: &mut Tx, record_id: Uuid) -> Result<Option<(Vec<Form>, Vec<RecordValue>)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Option<Uuid>,
        event: Option<String>,
        instrument: Option<String>,
        instance: Option<i64>,
        status: Option<i64>,
        version_number: Option<i64>,
        revision: Option<i64>,
        locked_by: Option<Uuid>,
        locked_at: Option<DateTime<Utc>>,
        event_locked: Option<bool>,
        verified: Option<bool>,
        updated_at: Option<DateTime<Utc>>,
        field: Option<String>,
        value: Option<String>,
    }
    // One row per value, one per form without values, one for a record without forms.
    let rows: Vec<Row> = tx_on!(tx, |c| {
        sqlx::query_as::<_, Row>(
        "SELECT f.id, f.event, f.instrument, f.instance, f.status, f.version_number, f.revision, f.locked_by, f.locked_at,
            CASE WHEN f.id IS NULL THEN NULL ELSE EXISTS (SELECT 1 FROM edc_event_locks l
                WHERE l.record_id = f.record_id AND l.event = f.event AND l.instance = f.instance) END AS event_locked,
            CASE WHEN f.id IS NULL THEN NULL ELSE EXISTS (SELECT 1 FROM edc_verifications x WHERE x.form_id = f.id) END AS verified,
            f.updated_at, v.field, v.value
         FROM edc_records r LEFT JOIN edc_forms f ON f.record_id = r.id LEFT JOIN edc_values v ON v.form_id = f.id
         WHERE r.id = $1
         ORDER BY f.id"
    )
    .bind(record_id)
    .fetch_all(&mut *c)
    .await
    })?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mut forms: Vec<Form> = Vec::new();
    let mut values = Vec::new();
    for r in rows {
        let (Some(id), Some(event), Some(instrument), Some(instance)) = (r.id, r.event, r.instrument, r.instance)
        else {
            continue;
        };
        if forms.last().is_none_or(|f| f.id != id) {
            forms.push(Form {
                id,
                record_id,
                event: event.clone(),
                instrument: instrument.clone(),
                instance,
                status: r.status.unwrap_or(0),
                version_number: r.version_number.unwrap_or(0),
                revision: r.revision.unwrap_or(0),
                locked_by: r.locked_by,
                locked_at: r.locked_at,
                event_locked: r.event_locked.unwrap_or(false),
                verified: r.verified.unwrap_or(false),
                updated_at: r.updated_at.unwrap_or_else(now),
            });
        }
        if let (Some(field), Some(value)) = (r.field, r.value) {
            values.push(RecordValue { event, instrument, instance, field, value });
        }
    }
    Ok(Some((forms, values)))
}

pub async fn record_values(store: &Store, record_id: Uuid) -> Result<Vec<RecordValue>> {
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, RecordValue>(RECORD_VALUES).bind(record_id).fetch_all(c).await)?)
}
