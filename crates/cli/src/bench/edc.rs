//! Data-capture workloads of `clinbridge bench`: concurrent form saves through the JSON API,
//! a REDCap API record import, and a streamed flat CSV export, each against its raw baseline
//! measured in the same run.

use super::{Scratch, round};
use anyhow::{Context as _, Result};
use clinbridge_core::identity::{Code, Grant, Role, Scope};
use clinbridge_store::demo::DemoWorld;
use clinbridge_store::edc::transfer::{self, ImportOptions, ImportRow};
use clinbridge_store::trials::Study;
use clinbridge_store::{Acting, Backend, Db, Settings, Store};
use clinbridge_web::{AppState, Config};
use futures::TryStreamExt as _;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

const STUDY: &str = "BENCH";
const INSTRUMENT: &str = "bench_form";
/// Data fields of the instrument (the record id field comes on top).
const FIELDS: usize = 20;

const HEADER: &str = "Variable / Field Name,Form Name,Section Header,Field Type,Field Label,\"Choices, Calculations, OR Slider Labels\",Field Note,Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,Identifier?,Branching Logic (Show field only if...),Required Field?,Custom Alignment,Question Number (surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation";

/// The four kinds of field the instrument cycles through.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Number,
    Radio,
}

fn kind(k: usize) -> Kind {
    [Kind::Text, Kind::Integer, Kind::Number, Kind::Radio][k % 4]
}

fn field_name(k: usize) -> String {
    format!("f{:02}", k + 1)
}

/// A classic instrument: the record id and 20 text, integer, number and radio fields.
fn dictionary() -> String {
    let mut csv = format!("{HEADER}\nrecord_id,{INSTRUMENT},,text,Record ID,,,,,,,,,,,,,\n");
    for k in 0..FIELDS {
        let name = field_name(k);
        let line = match kind(k) {
            Kind::Text => format!("{name},{INSTRUMENT},,text,Text {},,,,,,,,,,,,,", k + 1),
            Kind::Integer => format!("{name},{INSTRUMENT},,text,Integer {},,,integer,,,,,,,,,,", k + 1),
            Kind::Number => format!("{name},{INSTRUMENT},,text,Number {},,,number,,,,,,,,,,", k + 1),
            Kind::Radio => {
                format!("{name},{INSTRUMENT},,radio,Choice {},\"1, One | 2, Two | 3, Three\",,,,,,,,,,,,", k + 1)
            }
        };
        csv.push_str(&line);
        csv.push('\n');
    }
    csv
}

/// Field `k`'s value in version `v` of a record: every field differs from one version to the next.
fn value(k: usize, v: u64) -> String {
    let k64 = k as u64;
    match kind(k) {
        Kind::Text => format!("answer {v} to question {}", k + 1),
        Kind::Integer => (v * 7 + k64).to_string(),
        Kind::Number => format!("{}.{}", v + k64, (v + k64) % 10),
        Kind::Radio => ((v + k64) % 3 + 1).to_string(),
    }
}

fn values(v: u64) -> Vec<(String, String)> {
    (0..FIELDS).map(|k| (field_name(k), value(k, v))).collect()
}

fn record_name(i: u64) -> String {
    format!("R{i:07}")
}

/// The server side: the demo world plus a classic BENCH study with the 20-field instrument in
/// production, its data manager (granted on the study) as the bench user.
struct Server {
    store: Store,
    url: String,
    world: DemoWorld,
    study: Study,
    user: Uuid,
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(url: &str) -> Result<Server> {
        let store = Store::open(url, Settings::default()).await?;
        let world = clinbridge_store::demo::seed(&store).await?;
        let study = clinbridge_store::trials::create_study(
            &store,
            &world.admin,
            Code::parse("code", STUDY)?,
            clinbridge_store::trials::minimal("Bench: a classic 20-field instrument"),
        )
        .await?;
        let user = *world.users.get(&Role::DataManager).context("demo data manager")?;
        clinbridge_store::identity::add_grant(
            &store,
            &world.admin,
            user,
            Grant { role: Role::DataManager, scope: Scope::Study(study.id) },
        )
        .await?;
        let dm = Acting::user(user, None);
        clinbridge_store::edc::metadata::import_dictionary(&store, &dm, study.id, dictionary().as_bytes()).await?;
        clinbridge_store::edc::metadata::publish(&store, &dm, study.id, None).await?;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = AppState {
            store: store.clone(),
            config: Arc::new(Config { tick_interval: Duration::from_secs(3600), ..Config::default() }),
        };
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(clinbridge_web::serve(listener, state, async move {
            let _ = stop_rx.await;
        }));
        Ok(Server { store, url: url.to_string(), world, study, user, addr, stop, handle })
    }

    fn acting(&self) -> Acting {
        Acting::user(self.user, None)
    }

    async fn api_token(&self) -> Result<String> {
        Ok(clinbridge_store::identity::create_token(&self.store, &Acting::system(), self.user, "bench").await?.1)
    }

    /// Stops serving; gives whether the audit chain is intact.
    async fn stop(self) -> Result<bool> {
        let _ = self.stop.send(());
        let _ = self.handle.await;
        // Serving closes the store when it stops.
        let store = Store::open(&self.url, Settings::default()).await?;
        let v = clinbridge_store::audit::verify(&store).await?;
        store.close().await;
        Ok(v.result.is_ok())
    }
}

fn histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?)
}

// ---------------------------------------------------------------- edc-save

pub async fn edc_save(clients: usize, seconds: u64, database_url: String) -> Result<()> {
    let clients = clients.max(1);
    let duration = Duration::from_secs(seconds.max(1));
    let server_db = Scratch::new(&database_url, "server").await?;
    let server = Server::start(&server_db.url).await?;
    let backend = server.store.backend();

    // The study enrols at Boston, with one screening participant (one record) per client.
    let admin = server.world.admin.clone();
    let study_id = server.study.id;
    use clinbridge_core::trials::StudyStatus;
    clinbridge_store::trials::set_status(&server.store, &admin, study_id, StudyStatus::Approved, None).await?;
    clinbridge_store::trials::set_status(&server.store, &admin, study_id, StudyStatus::Enrolling, None).await?;
    let site = server.world.sites.iter().find(|s| s.code == "BOS").or(server.world.sites.first()).context("a site")?;
    let today = chrono::Utc::now().date_naive();
    let days = chrono::Duration::days;
    let input = clinbridge_store::trials::StudySiteInput {
        pi_user_id: None,
        irb_name: "Bench IRB".into(),
        irb_approved_on: Some(today - days(30)),
        irb_expires_on: Some(today + days(300)),
        activated_on: Some(today - days(10)),
        target_enrollment: clients as i64,
    };
    clinbridge_store::trials::add_study_site(&server.store, &admin, study_id, site.id, input).await?;
    let mut participants = Vec::new();
    for _ in 0..clients {
        let p = clinbridge_store::participants::register(
            &server.store,
            &admin,
            study_id,
            site.id,
            clinbridge_store::participants::NewParticipant {
                status: clinbridge_core::participants::Status::Screening,
                on: today - days(1),
                contact: None,
            },
        )
        .await?;
        participants.push(p.id);
    }
    let token = server.api_token().await?;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    // Each record's first save (creating it) happens before the clock starts.
    for p in &participants {
        put_form(&client, &base, &token, *p, 0).await.context("first save")?;
    }

    let hist = Arc::new(tokio::sync::Mutex::new(histogram()?));
    let errors = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let started = Instant::now();
    let mut workers = Vec::new();
    for p in participants {
        let (client, base, token, hist, errors, done, first_error) = (
            client.clone(),
            base.clone(),
            token.clone(),
            hist.clone(),
            errors.clone(),
            done.clone(),
            first_error.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut local = histogram().ok();
            let mut v = 1u64;
            while started.elapsed() < duration {
                let t = Instant::now();
                match put_form(&client, &base, &token, p, v).await {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        if let Some(h) = local.as_mut() {
                            let _ = h.record(t.elapsed().as_micros().max(1) as u64);
                        }
                    }
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        if let Ok(mut f) = first_error.lock() {
                            f.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                v += 1;
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
    let intact = server.stop().await?;
    server_db.drop_db().await;
    let saves = done.load(Ordering::Relaxed);
    let rate = saves as f64 / elapsed;
    let h = hist.lock().await;
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;

    let base_db = Scratch::new(&database_url, "baseline").await?;
    let (baseline, base_hist) = save_baseline(&base_db.url, clients, duration).await?;
    base_db.drop_db().await;
    let base_ms = |q: f64| base_hist.value_at_quantile(q) as f64 / 1000.0;

    let first_error = first_error.lock().ok().and_then(|f| f.clone());
    let out = serde_json::json!({
        "workload": "edc-save",
        "backend": backend.as_str(),
        "clients": clients,
        "seconds": seconds,
        "fields_per_save": FIELDS,
        "saves": saves,
        "errors": errors.load(Ordering::Relaxed),
        "first_error": first_error,
        "saves_per_s": round(rate),
        "p50_ms": round(ms(0.50)),
        "p99_ms": round(ms(0.99)),
        "baseline_saves_per_s": round(baseline),
        "baseline_p50_ms": round(base_ms(0.50)),
        "baseline_p99_ms": round(base_ms(0.99)),
        "ratio": round(rate / baseline.max(1e-9)),
        "audit_chain_intact": intact,
    });
    println!("{out}");
    Ok(())
}

async fn put_form(client: &reqwest::Client, base: &str, token: &str, participant: Uuid, v: u64) -> Result<()> {
    let url = format!("{base}/api/v1/participants/{participant}/forms/-/{INSTRUMENT}/1");
    let body = serde_json::json!({
        "values": values(v).into_iter().collect::<BTreeMap<_, _>>(),
        "status": 1,
        "reason": format!("Corrected against the source document (round {v})"),
    });
    let r = client.put(&url).bearer_auth(token).json(&body).send().await?;
    if r.status() != reqwest::StatusCode::OK {
        let status = r.status();
        anyhow::bail!("status {status}: {}", r.text().await.unwrap_or_default());
    }
    Ok(())
}

/// A plain table for the baselines' values.
async fn baseline_db(url: &str) -> Result<(Db, bool)> {
    // The same migrations and pragmas as the server's database.
    let store = Store::open(url, Settings::default()).await?;
    let pg = matches!(store.backend(), Backend::Postgres);
    store.close().await;
    let db = Db::connect(url).await?;
    let sql = "CREATE TABLE bench_values (record TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (record, field))";
    match &db {
        Db::Sqlite { writer, .. } => {
            sqlx::query(sql).execute(writer).await?;
        }
        Db::Postgres(pool) => {
            sqlx::query(sql).execute(pool).await?;
        }
    }
    Ok((db, pg))
}

/// Statements of one raw "save": the 20 values (upserted, or inserted) and the audit row.
fn values_sql(upsert: bool) -> String {
    let rows: Vec<String> = (0..FIELDS).map(|k| format!("(${}, ${}, ${})", 3 * k + 1, 3 * k + 2, 3 * k + 3)).collect();
    let mut sql = format!("INSERT INTO bench_values (record, field, value) VALUES {}", rows.join(", "));
    if upsert {
        sql.push_str(" ON CONFLICT (record, field) DO UPDATE SET value = excluded.value");
    }
    sql
}

fn audit_sql(pg: bool) -> &'static str {
    if pg {
        "INSERT INTO audit_log (id, stream, seq, at, user_id, action, entity_type, entity_id, old_value, new_value, reason, request_id, prev_hash, hash)
         VALUES (nextval('audit_log_id_seq'), $1, $2, $3, NULL, 'update', 'edc_form', $4, $5, $6, $7, NULL, $8, $9)"
    } else {
        "INSERT INTO audit_log (stream, seq, at, user_id, action, entity_type, entity_id, old_value, new_value, reason, request_id, prev_hash, hash)
         VALUES ($1, $2, $3, NULL, 'update', 'edc_form', $4, $5, $6, $7, NULL, $8, $9)"
    }
}

fn as_json(v: &[(String, String)]) -> String {
    serde_json::Value::Object(v.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str()))).collect())
        .to_string()
}

/// One record's writes inside an open transaction: its 20 values and an audit row with the old
/// and new values and a reason, as the store's entry has.
macro_rules! write_record {
    ($tx:expr, $values_sql:expr, $audit_sql:expr, $record:expr, $v:expr, $stream:expr, $seq:expr) => {{
        let new = values($v);
        let (values_sql, record): (&str, &str) = (&$values_sql, &$record);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(values_sql));
        for (field, value) in &new {
            q = q.bind(record).bind(field.as_str()).bind(value.as_str());
        }
        q.execute(&mut *$tx).await?;
        let old = if $v == 0 { None } else { Some(as_json(&values($v - 1))) };
        let hash = vec![0u8; 32];
        sqlx::query($audit_sql)
            .bind($stream)
            .bind($seq)
            .bind(clinbridge_store::now())
            .bind(record)
            .bind(old)
            .bind(as_json(&new))
            .bind("Corrected against the source document")
            .bind(&hash)
            .bind(&hash)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// `clients` writers, each saving its own record again and again, each save its own durable
/// transaction.
async fn save_baseline(url: &str, clients: usize, duration: Duration) -> Result<(f64, Histogram<u64>)> {
    let (db, pg) = baseline_db(url).await?;
    db.close().await;
    let done = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(tokio::sync::Mutex::new(histogram()?));
    let mut ready = Vec::new();
    let (go_tx, go_rx) = tokio::sync::watch::channel(None::<Instant>);
    let mut workers = Vec::new();
    for c in 0..clients {
        let (url, done, hist, mut go_rx) = (url.to_string(), done.clone(), hist.clone(), go_rx.clone());
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        ready.push(ready_rx);
        workers.push(tokio::spawn(async move {
            let r: Result<()> = async {
                let db = Db::connect(&url).await?;
                let (vsql, asql) = (values_sql(true), audit_sql(pg));
                let record = record_name(c as u64);
                let stream = c as i32 + 1000;
                let mut local = histogram()?;
                // The record's first save, before the clock starts.
                raw_save(&db, &vsql, asql, &record, 0, stream, 1).await?;
                let _ = ready_tx.send(());
                let started = loop {
                    if let Some(t) = *go_rx.borrow_and_update() {
                        break t;
                    }
                    go_rx.changed().await?;
                };
                let mut v = 1u64;
                while started.elapsed() < duration {
                    let t = Instant::now();
                    raw_save(&db, &vsql, asql, &record, v, stream, v as i64 + 1).await?;
                    done.fetch_add(1, Ordering::Relaxed);
                    let _ = local.record(t.elapsed().as_micros().max(1) as u64);
                    v += 1;
                }
                let _ = hist.lock().await.add(local);
                db.close().await;
                Ok(())
            }
            .await;
            if let Err(e) = r {
                eprintln!("baseline writer failed: {e:#}");
            }
        }));
    }
    for r in ready {
        let _ = r.await;
    }
    let started = Instant::now();
    let _ = go_tx.send(Some(started));
    for w in workers {
        let _ = w.await;
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    let h = hist.lock().await.clone();
    Ok((rate, h))
}

async fn raw_save(db: &Db, vsql: &str, asql: &'static str, record: &str, v: u64, stream: i32, seq: i64) -> Result<()> {
    match db {
        Db::Sqlite { writer, .. } => {
            let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
            write_record!(tx, vsql, asql, record, v, stream, seq);
            tx.commit().await?;
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            write_record!(tx, vsql, asql, record, v, stream, seq);
            tx.commit().await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- edc-import

pub async fn edc_import(records: u64, batch: u64, database_url: String) -> Result<()> {
    let records = records.max(1);
    let batch = batch.clamp(1, records);
    let server_db = Scratch::new(&database_url, "server").await?;
    let server = Server::start(&server_db.url).await?;
    let backend = server.store.backend();
    let (_, token) =
        clinbridge_store::edc::redcap::create_token(&server.store, &Acting::system(), server.user, server.study.id)
            .await?;
    let url = format!("http://{}/redcap/api/", server.addr);
    let client = reqwest::Client::new();

    // Request bodies are built before the clock starts.
    let mut bodies = Vec::new();
    let mut first = 0u64;
    while first < records {
        let n = batch.min(records - first);
        let rows: Vec<serde_json::Value> = (first..first + n)
            .map(|i| {
                let mut o = serde_json::Map::new();
                o.insert("record_id".into(), record_name(i).into());
                for (k, v) in values(i) {
                    o.insert(k, v.into());
                }
                serde_json::Value::Object(o)
            })
            .collect();
        bodies.push((n, serde_json::Value::Array(rows).to_string()));
        first += n;
    }
    let request_bytes: usize = bodies.iter().map(|(_, b)| b.len()).sum();
    let started = Instant::now();
    for (n, data) in bodies {
        let form = [
            ("token", token.as_str()),
            ("content", "record"),
            ("action", "import"),
            ("format", "json"),
            ("type", "flat"),
            ("returnContent", "count"),
            ("data", data.as_str()),
        ];
        let r = client.post(&url).form(&form).send().await?;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        if status != reqwest::StatusCode::OK {
            anyhow::bail!("import refused ({status}): {}", text.chars().take(500).collect::<String>());
        }
        let count = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("count").and_then(|c| c.as_u64().or_else(|| c.as_str().and_then(|s| s.parse().ok()))));
        if count != Some(n) {
            anyhow::bail!("import answered {text}, expected a count of {n}");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let intact = server.stop().await?;
    server_db.drop_db().await;
    let rate = records as f64 / secs;

    let base_db = Scratch::new(&database_url, "baseline").await?;
    let baseline = import_baseline(&base_db.url, records, batch).await?;
    base_db.drop_db().await;

    let out = serde_json::json!({
        "workload": "edc-import",
        "backend": backend.as_str(),
        "records": records,
        "fields_per_record": FIELDS,
        "records_per_request": batch,
        "request_mb": round(request_bytes as f64 / 1e6),
        "seconds": round(secs),
        "records_per_s": round(rate),
        "values_per_s": round(rate * FIELDS as f64),
        "baseline_records_per_s": round(baseline),
        "baseline_values_per_s": round(baseline * FIELDS as f64),
        "ratio": round(rate / baseline.max(1e-9)),
        "audit_chain_intact": intact,
    });
    println!("{out}");
    Ok(())
}

/// One transaction per batch: per record its 20 values (one multi-row insert) and one audit row.
async fn import_baseline(url: &str, records: u64, batch: u64) -> Result<f64> {
    let (db, pg) = baseline_db(url).await?;
    let (vsql, asql) = (values_sql(false), audit_sql(pg));
    let stream = 1000i32;
    let started = Instant::now();
    let mut first = 0u64;
    while first < records {
        let n = batch.min(records - first);
        match &db {
            Db::Sqlite { writer, .. } => {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                for i in first..first + n {
                    let record = record_name(i);
                    write_record!(tx, vsql, asql, record, i, stream, i as i64 + 1);
                }
                tx.commit().await?;
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for i in first..first + n {
                    let record = record_name(i);
                    write_record!(tx, vsql, asql, record, i, stream, i as i64 + 1);
                }
                tx.commit().await?;
            }
        }
        first += n;
    }
    let rate = records as f64 / started.elapsed().as_secs_f64();
    db.close().await;
    Ok(rate)
}

// ---------------------------------------------------------------- edc-export

/// This process's peak resident set (VmHWM), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn mb(bytes: Option<u64>) -> Option<f64> {
    bytes.map(|b| round(b as f64 / (1024.0 * 1024.0)))
}

pub async fn edc_export(values_wanted: u64, batch: u64, database_url: String) -> Result<()> {
    let records = values_wanted.max(1).div_ceil(FIELDS as u64);
    let batch = batch.clamp(1, records);
    let server_db = Scratch::new(&database_url, "server").await?;
    let server = Server::start(&server_db.url).await?;
    let backend = server.store.backend();

    // Seeding through the store's import, not measured.
    let seed_started = Instant::now();
    let acting = server.acting();
    let opts = ImportOptions::default();
    let mut first = 0u64;
    while first < records {
        let n = batch.min(records - first);
        let rows: Vec<ImportRow> = (first..first + n)
            .enumerate()
            .map(|(line, i)| {
                let mut cells = vec![("record_id".to_string(), record_name(i))];
                cells.extend(values(i));
                ImportRow { line: line + 1, cells }
            })
            .collect();
        transfer::import_flat(&server.store, &acting, server.study.id, rows, &opts).await?;
        first += n;
    }
    let seed_secs = seed_started.elapsed().as_secs_f64();
    let values_total = records * FIELDS as u64;

    let token = server.api_token().await?;
    let url = format!("http://{}/api/v1/studies/{STUDY}/edc/export?format=csv", server.addr);
    let client = reqwest::Client::new();
    let rss_before = peak_rss();
    let started = Instant::now();
    let mut r = client.get(&url).bearer_auth(&token).send().await?;
    if r.status() != reqwest::StatusCode::OK {
        let status = r.status();
        anyhow::bail!("export refused ({status}): {}", r.text().await.unwrap_or_default());
    }
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = r.chunk().await? {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    let rss_after = peak_rss();
    let rate = values_total as f64 / secs;

    // The raw baseline: the same values streamed by one SELECT from the same database.
    let db = Db::connect(&server_db.url).await?;
    let base_started = Instant::now();
    let sql = "SELECT r.record, v.field, v.value FROM edc_records r
         JOIN edc_forms f ON f.record_id = r.id JOIN edc_values v ON v.form_id = f.id
         WHERE r.study_id = $1 AND v.field <> 'record_id'";
    let mut base_bytes = 0u64;
    let mut base_values = 0u64;
    macro_rules! stream {
        ($pool:expr) => {{
            let mut rows = sqlx::query_as::<_, (String, String, String)>(sql).bind(server.study.id).fetch($pool);
            while let Some((record, field, value)) = rows.try_next().await? {
                base_bytes += (record.len() + field.len() + value.len() + 3) as u64;
                base_values += 1;
            }
        }};
    }
    match &db {
        Db::Sqlite { readers, .. } => stream!(readers),
        Db::Postgres(pool) => stream!(pool),
    }
    let base_secs = base_started.elapsed().as_secs_f64();
    db.close().await;
    let baseline = base_values as f64 / base_secs;
    let intact = server.stop().await?;
    server_db.drop_db().await;

    let growth = match (rss_before, rss_after) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let out = serde_json::json!({
        "workload": "edc-export",
        "backend": backend.as_str(),
        "records": records,
        "values": values_total,
        "seed_seconds": round(seed_secs),
        "export_seconds": round(secs),
        "bytes": bytes,
        "rows": lines.saturating_sub(1),
        "values_per_s": round(rate),
        "peak_rss_after_seed_mb": mb(rss_before),
        "peak_rss_after_export_mb": mb(rss_after),
        "peak_rss_growth_mb": mb(growth),
        "baseline_values": base_values,
        "baseline_bytes": base_bytes,
        "baseline_values_per_s": round(baseline),
        "ratio": round(rate / baseline.max(1e-9)),
        "audit_chain_intact": intact,
    });
    println!("{out}");
    Ok(())
}
