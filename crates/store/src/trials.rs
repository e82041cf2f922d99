//! Studies, as far as the foundation needs them: a code and title that grants can be scoped
//! to. The trials context extends this table with protocol, phase, arms and the rest.

use crate::{Acting, Result, Store, StoreError, exec, new_id, now, on};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::identity::Code;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Study {
    pub id: Uuid,
    pub code: String,
    pub title: String,
    pub status: String,
}

pub async fn create_study(store: &Store, acting: &Acting, code: Code, title: &str) -> Result<Study> {
    let title = clinbridge_core::required_text("title", title, 300)?;
    let org = crate::identity::organization(store).await?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let s = Study { id: new_id(), code: code.as_str().to_string(), title, status: "draft".into() };
                let t = now();
                exec!(tx, "INSERT INTO studies (id, org_id, code, title, status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)", s.id, org.id, &s.code, &s.title, &s.status, t)
                .map_err(|e| StoreError::from(e).unique_as("code", "is already used by another study"))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "study", s.id).new_value(&s));
                Ok(s)
            })
        })
        .await
}

pub async fn studies(store: &Store) -> Result<Vec<Study>> {
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Study>(
        "SELECT id, code, title, status FROM studies ORDER BY code"
    )
    .fetch_all(c)
    .await)?)
}

pub async fn study_by_code(store: &Store, code: &str) -> Result<Study> {
    let code = code.trim().to_uppercase();
    on!(store.db.read(), |c| sqlx::query_as::<_, Study>("SELECT id, code, title, status FROM studies WHERE code = $1")
        .bind(&code)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("study"))
}

pub async fn study(store: &Store, id: Uuid) -> Result<Study> {
    on!(store.db.read(), |c| sqlx::query_as::<_, Study>("SELECT id, code, title, status FROM studies WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("study"))
}
