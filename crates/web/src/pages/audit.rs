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
    /// (field, before, after): before is empty for a new value.
    pub changes: Vec<(String, String, String)>,
    pub reason: String,
}

fn shown(v: Option<&serde_json::Value>) -> String {
    let s = match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if s.chars().count() > 160 { format!("{}…", s.chars().take(160).collect::<String>()) } else { s }
}

/// The recorded before and after values as field-by-field changes, the way an auditor reads
/// them; unchanged fields of an update are left out.
fn changes(old: Option<&str>, new: Option<&str>) -> Vec<(String, String, String)> {
    let parse = |s: Option<&str>| s.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
    let (old, new) = (parse(old), parse(new));
    match (&old, &new) {
        (Some(serde_json::Value::Object(_)) | None, Some(serde_json::Value::Object(_)) | None)
            if old.is_some() || new.is_some() =>
        {
            let empty = serde_json::Map::new();
            let o = old.as_ref().and_then(|v| v.as_object()).unwrap_or(&empty);
            let n = new.as_ref().and_then(|v| v.as_object()).unwrap_or(&empty);
            let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .filter(|k| !(o.contains_key(*k) && n.contains_key(*k) && o.get(*k) == n.get(*k)))
                .map(|k| {
                    (k.clone(), shown(o.get(k)), if n.contains_key(k) { shown(n.get(k)) } else { "(removed)".into() })
                })
                .collect()
        }
        _ => {
            let (b, a) = (shown(old.as_ref()), shown(new.as_ref()));
            if b.is_empty() && a.is_empty() { Vec::new() } else { vec![("value".into(), b, a)] }
        }
    }
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
                    changes: changes(r.old_value.as_deref(), r.new_value.as_deref()),
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

#[cfg(test)]
mod tests {
    use super::changes;

    #[test]
    fn changes_read_field_by_field() {
        let c = changes(Some(r#"{"status":"enrolling","title":"A"}"#), Some(r#"{"status":"suspended","title":"A"}"#));
        assert_eq!(c, vec![("status".to_string(), "enrolling".to_string(), "suspended".to_string())]);
        let c = changes(None, Some(r#"{"name":"Boston","active":true}"#));
        assert_eq!(c.len(), 2);
        assert_eq!(c[0], ("active".to_string(), String::new(), "true".to_string()));
        assert!(changes(None, None).is_empty());
    }
}
