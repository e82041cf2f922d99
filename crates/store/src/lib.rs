//! Clinbridge's data layer. Every mutation runs through [`Store::write`] with the acting user
//! and commits its audit rows in the same transaction. On SQLite, concurrent writes are
//! batched into one durable commit (group commit); on PostgreSQL each write is its own
//! transaction and the server groups WAL flushes.
#![forbid(unsafe_code)]

pub mod audit;
mod commit;
pub mod consent;
pub mod db;
pub mod demo;
pub mod device;
pub mod edc;
pub mod identity;
pub mod medical;
pub mod participants;
pub mod scheduling;
pub mod secrets;
pub mod signatures;
pub mod tasks;
pub mod trials;

pub use db::{Backend, Db, Tx};

use clinbridge_core::Invalid;
use futures::future::BoxFuture;
use std::sync::Arc;
use uuid::Uuid;

/// Who performs a write, and for which request. The user is `None` only for the system
/// itself (the deadline ticker, migrations, seeding).
#[derive(Debug, Clone, Default)]
pub struct Acting {
    pub user: Option<Uuid>,
    pub request_id: Option<String>,
}

impl Acting {
    pub fn user(user: Uuid, request_id: Option<String>) -> Self {
        Self { user: Some(user), request_id }
    }
    pub fn system() -> Self {
        Self { user: None, request_id: None }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    #[error("{0}")]
    Refused(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("internal: {0}")]
    Internal(String),
    /// Too much work waiting (a sign-in flood); try again shortly.
    #[error("busy")]
    Busy,
}

impl StoreError {
    pub fn conflict(field: &str, message: &str) -> Self {
        StoreError::Conflict { field: field.into(), message: message.into() }
    }
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Db(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
    /// Maps a unique-constraint violation to a conflict on the named field.
    pub fn unique_as(self, field: &str, message: &str) -> Self {
        if self.is_unique_violation() { StoreError::conflict(field, message) } else { self }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Settings the store's rules need.
#[derive(Debug, Clone)]
pub struct Settings {
    pub session_idle: chrono::Duration,
    pub session_absolute: chrono::Duration,
    pub lockout_threshold: i64,
    pub lockout_duration: chrono::Duration,
    /// Concurrent password hashes; more requests wait, so a login flood cannot take every core.
    pub hashing_permits: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_idle: chrono::Duration::minutes(30),
            session_absolute: chrono::Duration::hours(12),
            lockout_threshold: 5,
            lockout_duration: chrono::Duration::minutes(15),
            hashing_permits: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(1),
        }
    }
}

/// The store: the database plus the group committer and the password-hashing gate.
#[derive(Clone)]
pub struct Store {
    pub db: Db,
    pub settings: Arc<Settings>,
    committer: Option<commit::Committer>,
    pub(crate) hashing: Arc<tokio::sync::Semaphore>,
}

impl Store {
    pub async fn open(url: &str, settings: Settings) -> Result<Store> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        let committer = match &db {
            Db::Sqlite { .. } => Some(commit::Committer::start(db.clone())),
            Db::Postgres(_) => None,
        };
        let hashing = Arc::new(tokio::sync::Semaphore::new(settings.hashing_permits));
        Ok(Store { db, settings: Arc::new(settings), committer, hashing })
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Runs `work` in a write transaction with `acting` as the author of its audit rows. On
    /// SQLite the work may share one durable commit with other writers' work; a failure rolls
    /// back only this work.
    pub async fn write<T, F>(&self, acting: &Acting, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        match &self.committer {
            Some(c) => c.submit(acting.clone(), work).await,
            None => {
                let mut tx = self.db.begin(acting.clone()).await?;
                match work(&mut tx).await {
                    Ok(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    Err(e) => {
                        if let Err(rb) = tx.rollback().await {
                            tracing::warn!(error = %rb, "rollback failed");
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    pub async fn close(&self) {
        if let Some(c) = &self.committer {
            c.stop().await;
        }
        self.db.close().await;
    }
}

/// A value as the JSON text a column stores.
pub(crate) fn json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(e.to_string()))
}

/// Current server time at the precision both databases store.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    clinbridge_core::audit::truncate_micros(chrono::Utc::now())
}

pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// A consistent copy of a live SQLite database (`VACUUM INTO`), safe while others write.
pub async fn backup_sqlite(store: &Store, to: &str) -> Result<()> {
    match &store.db {
        Db::Sqlite { writer, .. } => {
            let mut conn = writer.acquire().await?;
            sqlx::query("VACUUM INTO $1").bind(to).execute(&mut *conn).await?;
            Ok(())
        }
        Db::Postgres(_) => Err(StoreError::Refused("use pg_dump to back up PostgreSQL".into())),
    }
}
