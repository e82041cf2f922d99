//! The audit log page for administrators and auditors: filters, paging, CSV export.

use super::{Chrome, PageResult, chrome, form_errors, local, render};
use crate::AppState;
use crate::api::audit::{AUDIT_EXPORT, AUDIT_READ, AuditQuery, csv_response};
use crate::auth::Authed;
use askama::Template;
use axum::extract::{Query, State};
use clinbridge_core::audit::AuditAction;
use clinbridge_core::policy::Target;
use clinbridge_store::audit as store_audit;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/audit", page).get("/audit/export.csv", export)
}

pub struct Row {
    pub id: i64,
    pub at: String,
    pub who: String,
    pub action: String,
    pub entity: String,
    pub old: String,
    pub new: String,
    pub reason: String,
}

#[derive(Default)]
pub struct Shown {
    pub user_id: String,
    pub entity_type: String,
    pub entity_id: String,
    pub action: String,
    pub from: String,
    pub to: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    tz: String,
    q: Shown,
    query: String,
    users: Vec<(String, String)>,
    actions: Vec<&'static str>,
    rows: Vec<Row>,
    older: Option<String>,
    errors: Vec<(String, String)>,
    can_export: bool,
}

fn short(v: Option<String>) -> String {
    let v = v.unwrap_or_default();
    if v.chars().count() > 300 { format!("{}…", v.chars().take(300).collect::<String>()) } else { v }
}

async fn page(State(state): State<AppState>, who: Authed, Query(q): Query<AuditQuery>) -> PageResult {
    who.require(AUDIT_READ, Target::ORG)?;
    let tz = who.tz();
    let shown = Shown {
        user_id: q.user_id.clone().unwrap_or_default(),
        entity_type: q.entity_type.clone().unwrap_or_default(),
        entity_id: q.entity_id.clone().unwrap_or_default(),
        action: q.action.clone().unwrap_or_default(),
        from: q.from.clone().unwrap_or_default(),
        to: q.to.clone().unwrap_or_default(),
    };
    let base: Vec<(&str, &str)> = [
        ("user_id", shown.user_id.as_str()),
        ("entity_type", shown.entity_type.as_str()),
        ("entity_id", shown.entity_id.as_str()),
        ("action", shown.action.as_str()),
        ("from", shown.from.as_str()),
        ("to", shown.to.as_str()),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .collect();
    let query = serde_urlencoded::to_string(&base).unwrap_or_default();
    let (rows, errors, older) = match q.filter() {
        Ok(filter) => {
            const PAGE: i64 = 100;
            let found = store_audit::search(&state.store, &filter, PAGE).await?;
            let older = (found.len() as i64 == PAGE).then(|| {
                let mut with = base.clone();
                let last = found.last().map(|r| r.id.to_string()).unwrap_or_default();
                with.push(("before_id", last.as_str()));
                serde_urlencoded::to_string(&with).unwrap_or_default()
            });
            let rows = found
                .into_iter()
                .map(|r| Row {
                    id: r.id,
                    at: local(r.at, tz),
                    who: r
                        .user_name
                        .map(|n| format!("{n} <{}>", r.user_email.unwrap_or_default()))
                        .unwrap_or_else(|| "system".into()),
                    action: r.action,
                    entity: format!("{} {}", r.entity_type, r.entity_id),
                    old: short(r.old_value),
                    new: short(r.new_value),
                    reason: r.reason.unwrap_or_default(),
                })
                .collect();
            (rows, Vec::new(), older)
        }
        Err(e) => (Vec::new(), form_errors(e)?, None),
    };
    let users = clinbridge_store::identity::users(&state.store)
        .await?
        .into_iter()
        .map(|u| (u.id.to_string(), format!("{} <{}>", u.name, u.email)))
        .collect();
    Ok(render(&AuditPage {
        chrome: chrome(&state, &who, "/audit").await,
        tz: tz.name().to_string(),
        q: shown,
        query,
        users,
        actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
        rows,
        older,
        errors,
        can_export: who.can(AUDIT_EXPORT, Target::ORG),
    }))
}

async fn export(State(state): State<AppState>, who: Authed, Query(q): Query<AuditQuery>) -> PageResult {
    who.require(AUDIT_EXPORT, Target::ORG)?;
    let filter = q.filter()?;
    Ok(csv_response(state, who, filter).await?)
}
