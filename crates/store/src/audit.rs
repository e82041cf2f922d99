//! The audit writer, reader and verifier. Rows are appended at commit time (see
//! [`flush`]); the database refuses UPDATE and DELETE on them; [`verify`] walks every stream's
//! hash chain and the checkpoint chain and names the first broken entry.

use crate::db::{Backend, Tx};
use crate::{Result, Store, StoreError, exec, on, tx_on};
use chrono::{DateTime, Utc};
use clinbridge_core::audit::{AuditEntry, ChainBreak, ChainVerifier, GENESIS, checkpoint_hash, entry_hash};
use futures::TryStreamExt;
use sqlx::AssertSqlSafe;
use std::collections::HashMap;
use uuid::Uuid;

/// Chains and inserts the transaction's queued audit rows. Streams are locked in ascending
/// order (one `UPDATE … RETURNING` per stream); ids are allocated after the locks, so within a
/// stream id order equals chain order.
pub(crate) async fn flush(tx: &mut Tx) -> Result<()> {
    if tx.audit.is_empty() {
        return Ok(());
    }
    let mut events = std::mem::take(&mut tx.audit);
    events.sort_by_key(|(e, _)| e.stream());
    let at = crate::now();

    // Lock each stream's head (ascending order) and reserve its next seqs. On PostgreSQL the
    // ids for a stream's entries are drawn in the same statement, after its lock: within a
    // stream, id order is then chain order.
    let backend = tx.backend();
    let mut heads: Vec<(u32, i64, Vec<u8>, Vec<i64>)> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let stream = events[i].0.stream();
        let n = events[i..].iter().take_while(|(e, _)| e.stream() == stream).count() as i64;
        let (seq_end, hash, ids): (i64, Vec<u8>, Vec<i64>) = match backend {
            Backend::Postgres => match tx.conn() {
                crate::db::Conn::Postgres(c) => {
                    sqlx::query_as(
                        "UPDATE audit_heads SET seq = seq + $1 WHERE stream = $2
                         RETURNING seq, hash, ARRAY(SELECT nextval('audit_log_id_seq') FROM generate_series(1, $1::bigint))",
                    )
                    .bind(n)
                    .bind(stream as i32)
                    .fetch_one(&mut *c)
                    .await?
                }
                crate::db::Conn::Sqlite(_) => return Err(StoreError::Internal("backend mismatch".into())),
            },
            Backend::Sqlite => {
                let (seq_end, hash): (i64, Vec<u8>) = tx_on!(tx, |c| sqlx::query_as(
                    "UPDATE audit_heads SET seq = seq + $1 WHERE stream = $2 RETURNING seq, hash"
                )
                .bind(n)
                .bind(stream as i32)
                .fetch_one(&mut *c)
                .await)?;
                (seq_end, hash, Vec::new())
            }
        };
        heads.push((stream, seq_end - n, hash, ids));
        i += n as usize;
    }
    if backend == Backend::Sqlite {
        // SQLite has one writer at a time, so the next ids simply follow the last one.
        let mut next: i64 =
            tx_on!(tx, |c| sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log")
                .fetch_one(&mut *c)
                .await)?;
        for h in heads.iter_mut() {
            let n = events.iter().filter(|(e, _)| e.stream() == h.0).count() as i64;
            h.3 = (next..next + n).collect();
            next += n;
        }
    }

    let mut k = 0;
    for (stream, first_seq, mut prev, mut ids) in heads {
        ids.sort_unstable();
        let n = events[k..].iter().take_while(|(e, _)| e.stream() == stream).count();
        if ids.len() != n {
            return Err(StoreError::Internal("could not allocate audit ids".into()));
        }
        for (j, (event, request_id)) in events[k..k + n].iter().enumerate() {
            let id = ids[j];
            let seq = first_seq + 1 + j as i64;
            let old = event.old_value.as_ref().map(|v| v.to_string());
            let new = event.new_value.as_ref().map(|v| v.to_string());
            let hash = entry_hash(
                &prev,
                id,
                stream as i32,
                seq,
                at,
                event.user_id,
                event.action.as_str(),
                &event.entity_type,
                &event.entity_id,
                old.as_deref(),
                new.as_deref(),
                event.reason.as_deref(),
                request_id.as_deref(),
            )
            .to_vec();
            let last = j + 1 == n;
            // The last entry of a stream also moves the head's hash: one statement on
            // PostgreSQL (a data-modifying CTE), two on SQLite.
            let sql = if last && backend == Backend::Postgres {
                "WITH entry AS (
                    INSERT INTO audit_log (id, stream, seq, at, user_id, action, entity_type, entity_id, old_value, new_value, reason, request_id, prev_hash, hash)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14))
                 UPDATE audit_heads SET hash = $14 WHERE stream = $2"
            } else {
                "INSERT INTO audit_log (id, stream, seq, at, user_id, action, entity_type, entity_id, old_value, new_value, reason, request_id, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            };
            exec!(
                tx,
                sql,
                id,
                stream as i32,
                seq,
                at,
                event.user_id,
                event.action.as_str(),
                &event.entity_type,
                &event.entity_id,
                &old,
                &new,
                &event.reason,
                request_id,
                &prev,
                &hash
            )?;
            if last && backend == Backend::Sqlite {
                exec!(tx, "UPDATE audit_heads SET hash = $1 WHERE stream = $2", &hash, stream as i32)?;
            }
            prev = hash;
        }
        k += n;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: i64,
    stream: i32,
    seq: i64,
    at: DateTime<Utc>,
    user_id: Option<Uuid>,
    action: String,
    entity_type: String,
    entity_id: String,
    old_value: Option<String>,
    new_value: Option<String>,
    reason: Option<String>,
    request_id: Option<String>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl From<EntryRow> for AuditEntry {
    fn from(r: EntryRow) -> Self {
        AuditEntry {
            id: r.id,
            stream: r.stream,
            seq: r.seq,
            at: r.at,
            user_id: r.user_id,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            old_value: r.old_value,
            new_value: r.new_value,
            reason: r.reason,
            request_id: r.request_id,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

const ENTRY_COLUMNS: &str = "id, stream, seq, at, user_id, action, entity_type, entity_id, old_value, new_value, reason, request_id, prev_hash, hash";

/// What `audit verify` found.
#[derive(Debug)]
pub struct Verification {
    pub entries: u64,
    pub checkpoints: u64,
    pub result: std::result::Result<(), ChainBreak>,
    pub latest_checkpoint_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    id: i64,
    at: DateTime<Utc>,
    heads: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

type Heads = Vec<(i32, i64, Vec<u8>)>;

fn decode_heads(json: &str) -> Option<Heads> {
    let raw: Vec<(i32, i64, String)> = serde_json::from_str(json).ok()?;
    raw.into_iter().map(|(s, q, h)| hex::decode(h).ok().map(|h| (s, q, h))).collect()
}

/// Walks the whole log in id order, then checks the stream heads and every checkpoint.
pub async fn verify(store: &Store) -> Result<Verification> {
    let db = &store.db;
    // Checkpoints first: they tell which (stream, seq) must exist with which hash.
    let checkpoints: Vec<CheckpointRow> =
        on!(db.read(), |c| sqlx::query_as("SELECT id, at, heads, prev_hash, hash FROM audit_checkpoints ORDER BY id")
            .fetch_all(c)
            .await)?;
    let mut must_match: HashMap<(i32, i64), (Vec<u8>, i64)> = HashMap::new();
    let mut prev = GENESIS.to_vec();
    let mut checkpoint_break = None;
    for cp in &checkpoints {
        let heads = decode_heads(&cp.heads);
        let ok = cp.prev_hash == prev
            && heads
                .as_ref()
                .is_some_and(|h| checkpoint_hash(&cp.prev_hash, cp.id, cp.at, h).as_slice() == cp.hash.as_slice());
        if !ok {
            checkpoint_break = Some(ChainBreak::Checkpoint { id: cp.id });
            break;
        }
        for (s, q, h) in heads.unwrap_or_default() {
            if q > 0 {
                must_match.insert((s, q), (h, cp.id));
            }
        }
        prev = cp.hash.clone();
    }

    // The heads as committed before the walk: the walk must reach each of them, with the
    // same hash (entries committed meanwhile only extend the streams).
    let heads: Vec<(i32, i64, Vec<u8>)> =
        on!(db.read(), |c| sqlx::query_as("SELECT stream, seq, hash FROM audit_heads ORDER BY stream")
            .fetch_all(c)
            .await)?;
    for (stream, seq, hash) in heads {
        if seq > 0 {
            must_match.entry((stream, seq)).or_insert((hash, 0));
        }
    }

    let mut verifier = ChainVerifier::new();
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM audit_log ORDER BY id");
    let mut first_break: Option<ChainBreak> = None;
    let mut fed = |row: EntryRow, verifier: &mut ChainVerifier| -> bool {
        let e: AuditEntry = row.into();
        if let Err(b) = verifier.feed(&e) {
            first_break = Some(b);
            return false;
        }
        if let Some((h, _checkpoint)) = must_match.remove(&(e.stream, e.seq))
            && h != e.hash
        {
            first_break = Some(ChainBreak::Altered { id: e.id, stream: e.stream, seq: e.seq });
            return false;
        }
        true
    };
    on!(db.read(), |c| {
        let mut rows = sqlx::query_as::<_, EntryRow>(AssertSqlSafe(sql.clone())).fetch(c);
        while let Some(row) = rows.try_next().await? {
            if !fed(row, &mut verifier) {
                break;
            }
        }
        Ok::<_, StoreError>(())
    })?;

    let mut result = match first_break {
        Some(b) => Err(b),
        None => Ok(()),
    };
    if result.is_ok() {
        // Anything a checkpoint recorded but the walk never reached was cut off.
        if let Some(((stream, seq), _)) = must_match.iter().min_by_key(|((s, q), _)| (*s, *q)) {
            let found = verifier.head(*stream).map(|h| h.0).unwrap_or(0);
            result = Err(ChainBreak::Truncated { stream: *stream, recorded_seq: *seq, found_seq: found });
        }
    }
    if result.is_ok()
        && let Some(b) = checkpoint_break
    {
        result = Err(b);
    }
    Ok(Verification {
        entries: verifier.checked,
        checkpoints: checkpoints.len() as u64,
        result,
        latest_checkpoint_hash: checkpoints.last().map(|c| hex::encode(&c.hash)),
    })
}

/// Records the head of every stream, chained to the previous checkpoint. Run by the ticker;
/// a checkpoint hash kept outside the database anchors everything before it.
pub async fn checkpoint(store: &Store) -> Result<Option<i64>> {
    store
        .write(&crate::Acting::system(), |tx| {
            Box::pin(async move {
                let heads: Vec<(i32, i64, Vec<u8>)> =
                    tx_on!(tx, |c| sqlx::query_as("SELECT stream, seq, hash FROM audit_heads ORDER BY stream")
                        .fetch_all(&mut *c)
                        .await)?;
                let last: Option<(i64, Vec<u8>, String)> = tx_on!(tx, |c| sqlx::query_as(
                    "SELECT id, hash, heads FROM audit_checkpoints ORDER BY id DESC LIMIT 1"
                )
                .fetch_optional(&mut *c)
                .await)?;
                let encoded: Vec<(i32, i64, String)> = heads.iter().map(|(s, q, h)| (*s, *q, hex::encode(h))).collect();
                let json = crate::json(&encoded)?;
                if last.as_ref().is_some_and(|(_, _, h)| *h == json) || heads.iter().all(|(_, q, _)| *q == 0) {
                    return Ok(None);
                }
                let (id, prev) = match last {
                    Some((id, hash, _)) => (id + 1, hash),
                    None => (1, GENESIS.to_vec()),
                };
                let at = crate::now();
                let hash = checkpoint_hash(&prev, id, at, &heads);
                exec!(
                    tx,
                    "INSERT INTO audit_checkpoints (id, at, heads, prev_hash, hash) VALUES ($1, $2, $3, $4, $5)",
                    id,
                    at,
                    &json,
                    prev,
                    hash.to_vec()
                )?;
                Ok(Some(id))
            })
        })
        .await
}

/// Filters of the audit log page. Every filter is bound, never spliced.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    pub user_id: Option<Uuid>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Entries with id below this (keyset paging, newest first).
    pub before_id: Option<i64>,
}

/// An entry as shown on the audit log page and in exports.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub user_email: Option<String>,
    pub user_name: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
}

/// The WHERE clause of a filter. Placeholders are numbered as conditions are added, in the
/// order `bind_filter!` binds the present values.
fn filter_where(f: &AuditFilter) -> String {
    let conditions = [
        (f.user_id.is_some(), "a.user_id ="),
        (f.entity_type.is_some(), "a.entity_type ="),
        (f.entity_id.is_some(), "a.entity_id ="),
        (f.action.is_some(), "a.action ="),
        (f.from.is_some(), "a.at >="),
        (f.to.is_some(), "a.at <"),
        (f.before_id.is_some(), "a.id <"),
    ];
    let mut sql = String::from(" WHERE 1 = 1");
    let mut n = 0;
    for (present, condition) in conditions {
        if present {
            n += 1;
            sql.push_str(&format!(" AND {condition} ${n}"));
        }
    }
    sql
}

fn filter_sql(f: &AuditFilter, limit: Option<i64>) -> String {
    let mut sql = format!(
        "SELECT a.id, a.at, a.user_id, u.email AS user_email, u.name AS user_name, a.action, a.entity_type, a.entity_id, a.old_value, a.new_value, a.reason, a.request_id
         FROM audit_log a LEFT JOIN users u ON u.id = a.user_id{} ORDER BY a.id DESC",
        filter_where(f)
    );
    if let Some(n) = limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    sql
}

macro_rules! bind_filter {
    ($q:expr, $f:expr) => {{
        let mut q = $q;
        if let Some(v) = $f.user_id {
            q = q.bind(v);
        }
        if let Some(v) = &$f.entity_type {
            q = q.bind(v.clone());
        }
        if let Some(v) = &$f.entity_id {
            q = q.bind(v.clone());
        }
        if let Some(v) = &$f.action {
            q = q.bind(v.clone());
        }
        if let Some(v) = $f.from {
            q = q.bind(v);
        }
        if let Some(v) = $f.to {
            q = q.bind(v);
        }
        if let Some(v) = $f.before_id {
            q = q.bind(v);
        }
        q
    }};
}

/// One page of the audit log, newest first.
pub async fn search(store: &Store, filter: &AuditFilter, limit: i64) -> Result<Vec<AuditView>> {
    let sql = filter_sql(filter, Some(limit.clamp(1, 1000)));
    let rows =
        on!(store.db.read(), |c| bind_filter!(sqlx::query_as::<_, AuditView>(AssertSqlSafe(sql.clone())), filter)
            .fetch_all(c)
            .await)?;
    Ok(rows)
}

/// Streams every matching entry to `sink` (for CSV export) without holding them in memory.
pub async fn for_each<F>(store: &Store, filter: &AuditFilter, mut sink: F) -> Result<u64>
where
    F: FnMut(AuditView) -> Result<()> + Send,
{
    let sql = filter_sql(filter, None);
    let mut n = 0u64;
    on!(store.db.read(), |c| {
        let mut rows = bind_filter!(sqlx::query_as::<_, AuditView>(AssertSqlSafe(sql.clone())), filter).fetch(c);
        while let Some(row) = rows.try_next().await? {
            sink(row)?;
            n += 1;
        }
        Ok::<_, StoreError>(())
    })?;
    Ok(n)
}

/// Records an export of audit entries (the export is itself audited).
pub async fn record_export(store: &Store, acting: &crate::Acting, filter: &AuditFilter, rows: u64) -> Result<()> {
    let description = serde_json::json!({
        "rows": rows,
        "user_id": filter.user_id,
        "entity_type": filter.entity_type,
        "entity_id": filter.entity_id,
        "action": filter.action,
        "from": filter.from,
        "to": filter.to,
    });
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                tx.audit(
                    clinbridge_core::audit::AuditEvent::new(
                        clinbridge_core::audit::AuditAction::Export,
                        "audit_log",
                        "csv",
                    )
                    .new_value(description),
                );
                Ok(())
            })
        })
        .await
}

/// Number of entries (for the verify rate).
pub async fn count(store: &Store) -> Result<i64> {
    Ok(on!(store.db.read(), |c| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_log").fetch_one(c).await)?)
}

/// Number of entries matching a filter.
pub async fn count_matching(store: &Store, filter: &AuditFilter) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM audit_log a{}", filter_where(filter));
    Ok(on!(store.db.read(), |c| bind_filter!(sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.clone())), filter)
        .fetch_one(c)
        .await)?)
}
