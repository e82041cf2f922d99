//! Test support: every test gets its own database (a temporary SQLite file, or a fresh
//! PostgreSQL database created from `CLINBRIDGE_TEST_PG_URL`) so tests share nothing.
#![forbid(unsafe_code)]

use clinbridge_store::{Settings, Store};

/// A database made for one test; dropped with it (the PostgreSQL database is dropped too).
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        TestDb { url, _dir: Some(dir), pg_admin: None }
    }

    /// A fresh PostgreSQL database, or `None` when no server is configured outside CI. Under
    /// `CI=true` a missing server is a failure, never a skip.
    pub async fn postgres() -> Option<TestDb> {
        let base = match std::env::var("CLINBRIDGE_TEST_PG_URL") {
            Ok(u) if !u.trim().is_empty() => u,
            _ => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true but CLINBRIDGE_TEST_PG_URL is not set: the PostgreSQL suite must run in CI");
                }
                eprintln!(
                    "skipping PostgreSQL test: set CLINBRIDGE_TEST_PG_URL (e.g. postgres://postgres@127.0.0.1:5432) to run it"
                );
                return None;
            }
        };
        let name = format!("cb_test_{}", uuid::Uuid::new_v4().simple());
        let admin_url = with_database(&base, "postgres");
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {admin_url}: {e}"));
        sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap_or_else(|e| panic!("create database: {e}"));
        let _ = sqlx::Connection::close(conn).await;
        Some(TestDb { url: with_database(&base, &name), _dir: None, pg_admin: Some((admin_url, name)) })
    }

    /// Another fresh database on the same backend.
    pub async fn another(&self) -> TestDb {
        if self.pg_admin.is_some() {
            match TestDb::postgres().await {
                Some(db) => db,
                None => panic!("PostgreSQL went away"),
            }
        } else {
            TestDb::sqlite().await
        }
    }

    pub async fn store(&self) -> Store {
        self.store_with(Settings::default()).await
    }

    pub async fn store_with(&self, settings: Settings) -> Store {
        Store::open(&self.url, settings).await.unwrap_or_else(|e| panic!("open store: {e}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            // Dropping needs a connection outside the test's runtime.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
                        let _ = sqlx::Executor::execute(
                            &mut conn,
                            sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                        )
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = &base[scheme_end..];
    let host_only = match host_part.find('/') {
        Some(i) => &host_part[..i],
        None => host_part,
    };
    format!("{}{}/{}{}", &base[..scheme_end], host_only, db, query)
}

/// Generates a `sqlite` and a `postgres` variant of a store test: `fn name(store: Store)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::TestDb::sqlite().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
}

/// Records a participant's consent on paper, now, obtained by `obtained_by` (who must hold the
/// delegated duty), to the study's English version in effect today; the version is added first
/// (approved and effective a year ago, no questions) when the study has none.
pub async fn consent_on_paper(
    store: &Store,
    acting: &clinbridge_store::Acting,
    participant: uuid::Uuid,
    obtained_by: uuid::Uuid,
) {
    use clinbridge_store::consent;
    let p = clinbridge_store::participants::participant(store, participant)
        .await
        .unwrap_or_else(|e| panic!("participant: {e}"));
    let mut docs = consent::current_documents(store, &p).await.unwrap_or_else(|e| panic!("documents: {e}"));
    if docs.is_empty() {
        let year_ago = clinbridge_store::now().date_naive() - chrono::Duration::days(365);
        let input = clinbridge_core::consent::DocumentInput {
            version_label: "1.0".into(),
            language: "en".into(),
            title: "Informed consent".into(),
            irb_approved_on: Some(year_ago),
            effective_on: Some(year_ago),
            body: "What taking part means.".into(),
            questions: vec![],
            witness_required: false,
        };
        let d = consent::add_document(
            store,
            &clinbridge_store::Acting::system(),
            p.study_id,
            input,
            "icf.pdf",
            b"%PDF-1.4\n%%EOF\n".to_vec(),
        )
        .await
        .unwrap_or_else(|e| panic!("add consent document: {e}"));
        docs.push(d);
    }
    let event = clinbridge_core::consent::EventInput {
        method: "paper".into(),
        signer: "participant".into(),
        signer_name: "Test Participant".into(),
        copy_provided: Some(true),
        answers: docs[0].questions().iter().map(|q| Some(q.expected)).collect(),
        ..Default::default()
    };
    consent::record(
        store,
        acting,
        participant,
        consent::RecordConsent { document_id: docs[0].id, consented_at: clinbridge_store::now(), obtained_by, event },
    )
    .await
    .unwrap_or_else(|e| panic!("record consent: {e}"));
}

/// Today where a site is (an IANA zone such as `America/New_York`). Tests date site events by
/// it: the UTC date runs a day ahead of American sites every evening, and an event dated by it
/// would be "in the future" there.
pub fn today_in(zone: &str) -> chrono::NaiveDate {
    let tz: chrono_tz::Tz = zone.parse().unwrap_or_else(|e| panic!("time zone {zone}: {e}"));
    clinbridge_store::now().with_timezone(&tz).date_naive()
}

/// Today at the demo's Boston site, where most tests act.
pub fn boston_today() -> chrono::NaiveDate {
    today_in("America/New_York")
}
