//! The database handle: one query layer over SQLite and PostgreSQL. SQL is written once in the
//! dialect both accept (`$1` parameters, `RETURNING`, `ON CONFLICT`); [`on!`] runs the same
//! query code against whichever pool or transaction is live.

use crate::StoreError;
use clinbridge_core::audit::AuditEvent;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// Runs the same query code on either backend. `$c` is bound to an executor of the live
/// backend (a pool reference or a transaction's connection).
#[macro_export]
macro_rules! on {
    ($target:expr, |$c:ident| $body:expr) => {
        match $target {
            $crate::db::Exec::Sqlite($c) => $body,
            $crate::db::Exec::Postgres($c) => $body,
        }
    };
}

/// Runs the same query code on a transaction's connection.
#[macro_export]
macro_rules! tx_on {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx.conn() {
            $crate::db::Conn::Sqlite($c) => $body,
            $crate::db::Conn::Postgres($c) => $body,
        }
    };
}

/// Executes one statement with its parameters inside a transaction; gives the rows affected.
#[macro_export]
macro_rules! exec {
    ($tx:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        $crate::tx_on!($tx, |c| sqlx::query($sql)$(.bind($bind))*.execute(&mut *c).await.map(|r| r.rows_affected()))
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The pools. SQLite gets one writer connection (all writes go through the group committer)
/// and a pool of readers, which WAL lets run beside the writer.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite { writer: SqlitePool, readers: SqlitePool },
    Postgres(PgPool),
}

/// A read executor.
pub enum Exec<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a PgPool),
}

/// A transaction's connection.
pub enum Conn<'a> {
    Sqlite(&'a mut sqlx::SqliteConnection),
    Postgres(&'a mut sqlx::PgConnection),
}

pub(crate) enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A write transaction with the audit events it will commit. Audit rows are chained and
/// inserted at commit, sorted by stream, so concurrent PostgreSQL writers lock chain heads in
/// one order and never deadlock on them.
pub struct Tx {
    pub(crate) inner: TxInner,
    pub(crate) audit: Vec<(AuditEvent, Option<String>)>,
    pub(crate) acting: crate::Acting,
}

impl Tx {
    pub fn conn(&mut self) -> Conn<'_> {
        match &mut self.inner {
            TxInner::Sqlite(t) => Conn::Sqlite(&mut *t),
            TxInner::Postgres(t) => Conn::Postgres(&mut *t),
        }
    }
    pub fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(_) => Backend::Sqlite,
            TxInner::Postgres(_) => Backend::Postgres,
        }
    }
    /// The acting user and request of this write.
    pub fn acting(&self) -> &crate::Acting {
        &self.acting
    }
    /// Queues an audit row for this transaction; the acting user is filled in.
    pub fn audit(&mut self, event: AuditEvent) {
        let event = if event.user_id.is_none() { event.by(self.acting.user) } else { event };
        self.audit.push((event, self.acting.request_id.clone()));
    }
    pub(crate) async fn execute_raw(&mut self, sql: &'static str) -> Result<(), StoreError> {
        tx_on!(self, |c| sqlx::query(sql).execute(&mut *c).await.map(|_| ()))?;
        Ok(())
    }

    /// Runs a fixed script of several statements (no parameters) as one call.
    pub(crate) async fn execute_script(&mut self, sql: &'static str) -> Result<(), StoreError> {
        tx_on!(self, |c| sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()))?;
        Ok(())
    }
}

impl Db {
    /// Connects to `sqlite://path` or `postgres://…`, creating the SQLite file if missing.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?
                .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2));
            let pool = PgPoolOptions::new()
                .max_connections(32)
                .acquire_timeout(Duration::from_secs(15))
                .connect_with(opts)
                .await?;
            let db = Db::Postgres(pool);
            db.check_postgres_durability().await?;
            Ok(db)
        } else if url.starts_with("sqlite:") {
            let base = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("invalid SQLite URL: {e}")))?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("temp_store", "memory")
                .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2));
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(base.clone().create_if_missing(true))
                .await?;
            let readers = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(base.read_only(true))
                .await?;
            Ok(Db::Sqlite { writer, readers })
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL {url:?}: use sqlite://FILE or postgres://USER@HOST/DB"
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// An executor for reads outside a write transaction.
    pub fn read(&self) -> Exec<'_> {
        match self {
            Db::Sqlite { readers, .. } => Exec::Sqlite(readers),
            Db::Postgres(p) => Exec::Postgres(p),
        }
    }

    /// Refuses to run on a PostgreSQL server that would acknowledge commits it may lose.
    async fn check_postgres_durability(&self) -> Result<(), StoreError> {
        let Db::Postgres(pool) = self else {
            return Ok(());
        };
        for setting in ["fsync", "synchronous_commit"] {
            let sql = if setting == "fsync" {
                "SELECT current_setting('fsync')"
            } else {
                "SELECT current_setting('synchronous_commit')"
            };
            let value: String = sqlx::query_scalar(sql).fetch_one(pool).await?;
            if value.eq_ignore_ascii_case("off") {
                return Err(StoreError::Config(format!(
                    "PostgreSQL has {setting}=off: committed clinical data could be lost on a crash; turn it on before starting Clinbridge"
                )));
            }
        }
        Ok(())
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite { writer, .. } => sqlx::migrate!("./migrations/sqlite").run(writer).await?,
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    pub(crate) async fn begin(&self, acting: crate::Acting) -> Result<Tx, StoreError> {
        let inner = match self {
            // IMMEDIATE takes the write lock up front, so a transaction that reads then writes
            // never fails on lock upgrade when another process (the CLI) writes too.
            Db::Sqlite { writer, .. } => TxInner::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
        };
        Ok(Tx { inner, audit: Vec::new(), acting })
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { writer, readers } => {
                readers.close().await;
                writer.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    /// Writes the queued audit rows and commits.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        crate::audit::flush(&mut self).await?;
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        match self.inner {
            TxInner::Sqlite(t) => t.rollback().await?,
            TxInner::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}
