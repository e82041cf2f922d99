//! Group commit for SQLite: one task owns the writer connection, takes every write waiting in
//! its queue, runs each inside its own savepoint, and makes them durable with one commit. A
//! write that fails rolls back to its savepoint and is answered alone; the rest still commit.

use crate::db::{Db, Tx};
use crate::{Acting, Result, StoreError};
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

/// Most writes one commit carries; bounds the latency of the first writer in a batch.
const MAX_BATCH: usize = 256;

type Work = Box<dyn for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<()>> + Send>;

struct Job {
    acting: Acting,
    work: Work,
    done: oneshot::Sender<Result<()>>,
}

#[derive(Clone)]
pub(crate) struct Committer {
    queue: mpsc::Sender<Job>,
    stopped: std::sync::Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Committer {
    pub(crate) fn start(db: Db) -> Self {
        let (queue, rx) = mpsc::channel(4096);
        let handle = tokio::spawn(run(db, rx));
        Committer { queue, stopped: std::sync::Arc::new(tokio::sync::Mutex::new(Some(handle))) }
    }

    pub(crate) async fn submit<T, F>(&self, acting: Acting, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T>> + Send + 'static,
    {
        let (value_tx, value_rx) = oneshot::channel::<T>();
        let work: Work = Box::new(move |tx: &mut Tx| {
            Box::pin(async move {
                let v = work(tx).await?;
                // The receiver only goes away if the caller gave up; the write still commits.
                let _ = value_tx.send(v);
                Ok(())
            })
        });
        let (done_tx, done_rx) = oneshot::channel();
        self.queue
            .send(Job { acting, work, done: done_tx })
            .await
            .map_err(|_| StoreError::Internal("the write queue is closed".into()))?;
        done_rx.await.map_err(|_| StoreError::Internal("the writer stopped before answering".into()))??;
        value_rx.await.map_err(|_| StoreError::Internal("the write produced no value".into()))
    }

    pub(crate) async fn stop(&self) {
        let handle = self.stopped.lock().await.take();
        if let Some(h) = handle {
            h.abort();
            let _ = h.await;
        }
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        commit_batch(&db, batch).await;
    }
}

async fn commit_batch(db: &Db, batch: Vec<Job>) {
    let mut tx = match db.begin(Acting::system()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "could not begin a write transaction");
            for job in batch {
                let _ = job.done.send(Err(StoreError::Internal("the database is unavailable".into())));
            }
            return;
        }
    };
    let alone = batch.len() == 1;
    let mut waiting = Vec::with_capacity(batch.len());
    // Whether the previous job's savepoint is still to be released: that release and the next
    // job's savepoint go to the database as one call.
    let mut open = false;
    for job in batch {
        tx.acting = job.acting;
        let mark = tx.audit.len();
        if !alone {
            let sql = if open { "RELEASE SAVEPOINT write_job; SAVEPOINT write_job" } else { "SAVEPOINT write_job" };
            open = false;
            if let Err(e) = tx.execute_script(sql).await {
                let _ = job.done.send(Err(e));
                continue;
            }
        }
        match (job.work)(&mut tx).await {
            Ok(()) => {
                open = !alone;
                waiting.push(job.done);
            }
            Err(e) => {
                tx.audit.truncate(mark);
                if alone {
                    let _ = tx.rollback().await;
                    let _ = job.done.send(Err(e));
                    return;
                }
                if let Err(rb) = tx.execute_script("ROLLBACK TO SAVEPOINT write_job; RELEASE SAVEPOINT write_job").await
                {
                    tracing::error!(error = %rb, "could not roll back a savepoint");
                }
                let _ = job.done.send(Err(e));
            }
        }
    }
    tx.acting = Acting::system();
    if open && let Err(e) = tx.execute_raw("RELEASE SAVEPOINT write_job").await {
        tracing::error!(error = %e, "could not release a savepoint");
    }
    match tx.commit().await {
        Ok(()) => {
            for done in waiting {
                let _ = done.send(Ok(()));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "group commit failed");
            for done in waiting {
                let _ = done.send(Err(StoreError::Internal("the write could not be committed".into())));
            }
        }
    }
}
