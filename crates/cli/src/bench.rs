//! `clinbridge bench`: drives a workload through the real server over loopback and, in the
//! same run, measures the raw database baseline (the same rows written straight through sqlx,
//! one durable commit per write, same pragmas). Prints one JSON line with the ratio.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use clinbridge_core::identity::Role;
use clinbridge_store::{Acting, Settings, Store};
use clinbridge_web::{AppState, Config};
use hdrhistogram::Histogram;
use sqlx::Connection as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod edc;

#[derive(Subcommand)]
pub enum Workload {
    /// Concurrent authenticated API writes of an audited entity (a task), against raw
    /// inserts of the same task and audit rows.
    AuditedWrite {
        /// Concurrent clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds to drive each side.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// sqlite (a temporary file) or a postgres:// server URL; the bench creates and drops
        /// its own databases there.
        #[arg(long, env = "CLINBRIDGE_BENCH_DATABASE_URL", default_value = "sqlite")]
        database_url: String,
    },
    /// Concurrent form saves through the JSON API (one record per client, all 20 values of a
    /// classic instrument changed with a reason, each save audited), against raw per-commit
    /// saves: 20 upserted value rows and one audit row per transaction.
    EdcSave {
        /// Concurrent clients, each saving its own record.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds to drive each side.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// sqlite (a temporary file) or a postgres:// server URL.
        #[arg(long, env = "CLINBRIDGE_BENCH_DATABASE_URL", default_value = "sqlite")]
        database_url: String,
    },
    /// Records of 20 fields imported through the REDCap API (`content=record`, json, flat),
    /// against raw inserts of the same values and one audit row per record, one transaction
    /// per batch.
    EdcImport {
        /// Records to import.
        #[arg(long, default_value_t = 100_000)]
        records: u64,
        /// Records per API request (and per baseline transaction).
        #[arg(long, default_value_t = 2_000)]
        batch: u64,
        /// sqlite (a temporary file) or a postgres:// server URL.
        #[arg(long, env = "CLINBRIDGE_BENCH_DATABASE_URL", default_value = "sqlite")]
        database_url: String,
    },
    /// Seeds values through the store's import (not timed), then streams the flat CSV export
    /// over HTTP, measuring values/s and the growth of the process's peak RSS, against a raw
    /// SELECT streaming the same values.
    EdcExport {
        /// Values to seed (20 per record).
        #[arg(long, default_value_t = 1_000_000)]
        values: u64,
        /// Records per seeding import.
        #[arg(long, default_value_t = 2_000)]
        batch: u64,
        /// sqlite (a temporary file) or a postgres:// server URL.
        #[arg(long, env = "CLINBRIDGE_BENCH_DATABASE_URL", default_value = "sqlite")]
        database_url: String,
    },
    /// Fills a fresh database with audit entries, then times `audit verify` over them.
    AuditVerify {
        /// Entries to write before verifying.
        #[arg(long, default_value_t = 200_000)]
        entries: u64,
        /// sqlite (a temporary file) or a postgres:// server URL.
        #[arg(long, env = "CLINBRIDGE_BENCH_DATABASE_URL", default_value = "sqlite")]
        database_url: String,
    },
}

/// A fresh database for one side of the bench, removed afterwards.
struct Scratch {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Scratch {
    async fn new(base: &str, tag: &str) -> Result<Scratch> {
        if base.starts_with("postgres") {
            let name = format!("cb_bench_{tag}_{}", uuid::Uuid::new_v4().simple());
            let admin = with_database(base, "postgres");
            let mut c = sqlx::PgConnection::connect(&admin).await.context("connecting to PostgreSQL")?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut c).await?;
            c.close().await?;
            Ok(Scratch { url: with_database(base, &name), _dir: None, pg: Some((admin, name)) })
        } else {
            let dir = tempfile::Builder::new().prefix("clinbridge-bench").tempdir_in(".")?;
            let url = format!("sqlite://{}", dir.path().join(format!("{tag}.db")).display());
            Ok(Scratch { url, _dir: Some(dir), pg: None })
        }
    }

    async fn drop_db(self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut c) = sqlx::PgConnection::connect(admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut c)
                .await;
        }
    }
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host = base[start..].split('/').next().unwrap_or_default();
    format!("{}{}/{}{}", &base[..start], host, db, query)
}

pub async fn run(w: Workload) -> Result<()> {
    match w {
        Workload::AuditedWrite { clients, seconds, database_url } => {
            audited_write(clients, seconds, database_url).await
        }
        Workload::AuditVerify { entries, database_url } => audit_verify(entries, database_url).await,
        Workload::EdcSave { clients, seconds, database_url } => edc::edc_save(clients, seconds, database_url).await,
        Workload::EdcImport { records, batch, database_url } => edc::edc_import(records, batch, database_url).await,
        Workload::EdcExport { values, batch, database_url } => edc::edc_export(values, batch, database_url).await,
    }
}

async fn audit_verify(entries: u64, database_url: String) -> Result<()> {
    use clinbridge_core::audit::{AuditAction, AuditEvent};
    let db = Scratch::new(&database_url, "verify").await?;
    let store = Store::open(&db.url, Settings::default()).await?;
    let fill_started = Instant::now();
    let mut written = 0u64;
    while written < entries {
        let n = (entries - written).min(5_000);
        let base = written;
        store
            .write(&Acting::system(), move |tx| {
                Box::pin(async move {
                    for i in base..base + n {
                        // Realistic entries: an update of one of 10,000 records with old and new values.
                        tx.audit(
                            AuditEvent::new(AuditAction::Update, "bench_record", i % 10_000)
                                .old(serde_json::json!({"status": "open", "value": i}))
                                .new_value(serde_json::json!({"status": "verified", "value": i + 1}))
                                .reason(Some("source data verified".into())),
                        );
                    }
                    Ok(())
                })
            })
            .await?;
        written += n;
    }
    let fill_secs = fill_started.elapsed().as_secs_f64();
    clinbridge_store::audit::checkpoint(&store).await?;
    let started = Instant::now();
    let v = clinbridge_store::audit::verify(&store).await?;
    let secs = started.elapsed().as_secs_f64();
    let backend = store.backend();
    store.close().await;
    db.drop_db().await;
    let out = serde_json::json!({
        "workload": "audit-verify",
        "backend": backend.as_str(),
        "entries": v.entries,
        "intact": v.result.is_ok(),
        "verify_seconds": round(secs),
        "entries_per_s": round(v.entries as f64 / secs.max(1e-9)),
        "fill_entries_per_s": round(written as f64 / fill_secs.max(1e-9)),
    });
    println!("{out}");
    Ok(())
}

async fn audited_write(clients: usize, seconds: u64, database_url: String) -> Result<()> {
    let clients = clients.max(1);
    let duration = Duration::from_secs(seconds.max(1));

    // The server side.
    let server_db = Scratch::new(&database_url, "server").await?;
    let store = Store::open(&server_db.url, Settings::default()).await?;
    let backend = store.backend();
    let world = clinbridge_store::demo::seed(&store).await?;
    let coordinator = *world.users.get(&Role::Coordinator).context("demo coordinator")?;
    let (_, token) = clinbridge_store::identity::create_token(&store, &Acting::system(), coordinator, "bench").await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = AppState {
        store: store.clone(),
        config: Arc::new(Config { tick_interval: Duration::from_secs(3600), ..Config::default() }),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(clinbridge_web::serve(listener, state, async move {
        let _ = stop_rx.await;
    }));

    let url = format!("http://{addr}/api/v1/tasks");
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    // Warm up connections and caches.
    for _ in 0..clients.min(8) {
        let _ = post_task(&client, &url, &token, 0).await;
    }
    let hist = Arc::new(tokio::sync::Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for c in 0..clients {
        let (client, url, token, hist, errors, done) =
            (client.clone(), url.clone(), token.clone(), hist.clone(), errors.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).ok();
            let mut i = 0u64;
            while started.elapsed() < duration {
                let t = Instant::now();
                match post_task(&client, &url, &token, (c as u64) << 32 | i).await {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        if let Some(h) = local.as_mut() {
                            let _ = h.record(t.elapsed().as_micros().max(1) as u64);
                        }
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
            if let Some(h) = local {
                let _ = hist.lock().await.add(h);
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let _ = server.await;
    let verify = {
        let store = Store::open(&server_db.url, Settings::default()).await?;
        let v = clinbridge_store::audit::verify(&store).await?;
        store.close().await;
        v
    };
    server_db.drop_db().await;
    let served = done.load(Ordering::Relaxed);
    let rps = served as f64 / elapsed;
    let h = hist.lock().await;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;

    // The raw baseline, same backend and pragmas, fresh database.
    let base_db = Scratch::new(&database_url, "baseline").await?;
    let baseline = baseline(&base_db.url, clients, duration).await?;
    base_db.drop_db().await;

    let out = serde_json::json!({
        "workload": "audited-write",
        "backend": backend.as_str(),
        "clients": clients,
        "seconds": seconds,
        "requests": served,
        "errors": errors.load(Ordering::Relaxed),
        "requests_per_s": round(rps),
        "p50_ms": round(ms(0.50)),
        "p95_ms": round(ms(0.95)),
        "p99_ms": round(ms(0.99)),
        "baseline_rows_per_s": round(baseline),
        "ratio": round(rps / baseline.max(1e-9)),
        "audit_chain_intact": verify.result.is_ok(),
    });
    println!("{out}");
    Ok(())
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

async fn post_task(client: &reqwest::Client, url: &str, token: &str, n: u64) -> Result<()> {
    let body = serde_json::json!({
        "title": format!("Bench follow-up {n}"),
        "detail": "Call the participant to confirm the next visit.",
        "due_at": chrono::Utc::now() + chrono::Duration::days(2),
    });
    let r = client.post(url).bearer_auth(token).json(&body).send().await?;
    if r.status() != reqwest::StatusCode::CREATED {
        anyhow::bail!("status {}", r.status());
    }
    Ok(())
}

/// The same rows (a task and its audit row) written straight through sqlx by `clients`
/// concurrent writers, each write its own durable transaction.
async fn baseline(url: &str, clients: usize, duration: Duration) -> Result<f64> {
    // Create the schema with the same migrations and pragmas.
    let store = Store::open(url, Settings::default()).await?;
    let pg = matches!(store.backend(), clinbridge_store::Backend::Postgres);
    store.close().await;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for c in 0..clients {
        let url = url.to_string();
        let done = done.clone();
        workers.push(tokio::spawn(async move {
            let r: Result<()> = async {
                let db = clinbridge_store::Db::connect(&url).await?;
                let mut seq = 0i64;
                while started.elapsed() < duration {
                    seq += 1;
                    write_raw(&db, pg, c as i32 + 1000, seq).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                db.close().await;
                Ok(())
            }
            .await;
            if let Err(e) = r {
                eprintln!("baseline writer failed: {e:#}");
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

async fn write_raw(db: &clinbridge_store::Db, pg: bool, stream: i32, seq: i64) -> Result<()> {
    let id = uuid::Uuid::now_v7();
    let now = clinbridge_store::now();
    let audit_sql = if pg {
        "INSERT INTO audit_log (id, stream, seq, at, user_id, action, entity_type, entity_id, old_value, new_value, reason, request_id, prev_hash, hash)
         VALUES (nextval('audit_log_id_seq'), $1, $2, $3, NULL, 'create', 'task', $4, NULL, $5, NULL, NULL, $6, $7)"
    } else {
        "INSERT INTO audit_log (stream, seq, at, user_id, action, entity_type, entity_id, old_value, new_value, reason, request_id, prev_hash, hash)
         VALUES ($1, $2, $3, NULL, 'create', 'task', $4, NULL, $5, NULL, NULL, $6, $7)"
    };
    let task_sql = "INSERT INTO tasks (id, kind, title, detail, subject_type, subject_id, assignee_user_id, assignee_role, assignee_scope_kind, assignee_scope_id, due_at, status, rule, rule_key, created_at)
         VALUES ($1, 'manual', $2, 'Call the participant to confirm the next visit.', 'task', $3, NULL, 'coordinator', 'organization', $4, $5, 'open', 'manual', $6, $5)";
    let title = format!("Bench follow-up {seq}");
    let value = format!("{{\"title\":\"{title}\"}}");
    let hash = vec![0u8; 32];
    macro_rules! write {
        ($tx:expr) => {{
            sqlx::query(task_sql)
                .bind(id)
                .bind(&title)
                .bind(id.to_string())
                .bind(uuid::Uuid::nil())
                .bind(now)
                .bind(format!("manual:{id}"))
                .execute(&mut *$tx)
                .await?;
            sqlx::query(audit_sql)
                .bind(stream)
                .bind(seq)
                .bind(now)
                .bind(id.to_string())
                .bind(&value)
                .bind(&hash)
                .bind(&hash)
                .execute(&mut *$tx)
                .await?;
        }};
    }
    match db {
        clinbridge_store::Db::Sqlite { writer, .. } => {
            let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
            write!(tx);
            tx.commit().await?;
        }
        clinbridge_store::Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            write!(tx);
            tx.commit().await?;
        }
    }
    Ok(())
}
