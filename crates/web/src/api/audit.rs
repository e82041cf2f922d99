//! Audit API: search the trail and export it as CSV (the export is itself audited).

use super::ApiQuery;
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use clinbridge_core::audit::AuditAction;
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_store::audit::{self as store_audit, AuditFilter, AuditView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/audit", search).get("/api/v1/audit/export.csv", export_csv)
}

pub const AUDIT_READ: Action = Action::new(Context::Audit, Op::Read);
pub const AUDIT_EXPORT: Action = Action::new(Context::Audit, Op::Export);

/// Filters of the audit trail. Dates are inclusive calendar days (UTC) or RFC 3339 times.
#[derive(Debug, Default, Deserialize, IntoParams, Clone)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub before_id: Option<i64>,
    pub limit: Option<i64>,
}

fn parse_time(field: &str, raw: &str, end_of_day: bool) -> Result<DateTime<Utc>, ApiError> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        Ok(d) => {
            let d = if end_of_day { d.succ_opt().unwrap_or(d) } else { d };
            Ok(d.and_hms_opt(0, 0, 0).map(|n| n.and_utc()).unwrap_or_default())
        }
        Err(_) => Err(ApiError::field(field, "must be a date (YYYY-MM-DD) or an RFC 3339 time")),
    }
}

impl AuditQuery {
    pub fn filter(&self) -> Result<AuditFilter, ApiError> {
        let blank = |o: &Option<String>| o.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let user_id = match blank(&self.user_id) {
            Some(u) => Some(Uuid::parse_str(&u).map_err(|_| ApiError::field("user_id", "must be a user id"))?),
            None => None,
        };
        let action = blank(&self.action);
        if let Some(a) = &action
            && AuditAction::parse(a).is_none()
        {
            return Err(ApiError::field("action", "is not a recorded action"));
        }
        Ok(AuditFilter {
            user_id,
            entity_type: blank(&self.entity_type),
            entity_id: blank(&self.entity_id),
            action,
            from: blank(&self.from).map(|f| parse_time("from", &f, false)).transpose()?,
            to: blank(&self.to).map(|t| parse_time("to", &t, true)).transpose()?,
            before_id: self.before_id,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryOut {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub user_email: Option<String>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub old_value: Option<serde_json::Value>,
    pub new_value: Option<serde_json::Value>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
}

impl From<AuditView> for AuditEntryOut {
    fn from(v: AuditView) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        AuditEntryOut {
            id: v.id,
            at: v.at,
            user_id: v.user_id,
            user_email: v.user_email,
            action: v.action,
            entity_type: v.entity_type,
            entity_id: v.entity_id,
            old_value: parse(v.old_value),
            new_value: parse(v.new_value),
            reason: v.reason,
            request_id: v.request_id,
        }
    }
}

/// Audit entries, newest first (administrators and auditors).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = [AuditEntryOut]), (status = 403, body = ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntryOut>>> {
    who.require(AUDIT_READ, Target::ORG)?;
    let rows = store_audit::search(&state.store, &q.filter()?, q.limit.unwrap_or(100)).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// The matching entries as CSV, streamed page by page so memory stays flat.
#[utoipa::path(get, path = "/api/v1/audit/export.csv", tag = "audit", params(AuditQuery),
    responses((status = 200, content_type = "text/csv"), (status = 403, body = ErrorBody)))]
pub async fn export_csv(
    State(state): State<AppState>,
    who: Authed,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    who.require(AUDIT_EXPORT, Target::ORG)?;
    csv_response(state, who, q.filter()?).await
}

pub async fn csv_response(state: AppState, who: Authed, filter: AuditFilter) -> ApiResult<Response> {
    // Record the export first: an export that fails midway was still attempted.
    let total = store_audit::count_matching(&state.store, &filter).await?;
    store_audit::record_export(&state.store, &who.acting(), &filter, total.max(0) as u64).await?;
    let tz = who.tz();
    let stream = async_stream(state, filter, tz);
    let mut res = Body::from_stream(stream).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let name = format!("attachment; filename=\"clinbridge-audit-{}.csv\"", Utc::now().format("%Y%m%d-%H%M%S"));
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

fn async_stream(
    state: AppState,
    filter: AuditFilter,
    tz: chrono_tz::Tz,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures::stream::unfold((Some(filter), true), move |(filter, first)| {
        let state = state.clone();
        async move {
            let filter = filter?;
            let mut w = csv::Writer::from_writer(Vec::new());
            if first {
                let _ = w.write_record([
                    "id",
                    "time_utc",
                    "time_local",
                    "user_email",
                    "user_name",
                    "action",
                    "entity_type",
                    "entity_id",
                    "old_value",
                    "new_value",
                    "reason",
                    "request_id",
                ]);
            }
            let page = match store_audit::search(&state.store, &filter, 1000).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "audit export failed");
                    return Some((Err(std::io::Error::other("export failed")), (None, false)));
                }
            };
            for r in &page {
                let _ = w.write_record([
                    r.id.to_string(),
                    r.at.to_rfc3339(),
                    r.at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z").to_string(),
                    r.user_email.clone().unwrap_or_default(),
                    r.user_name.clone().unwrap_or_default(),
                    r.action.clone(),
                    r.entity_type.clone(),
                    r.entity_id.clone(),
                    r.old_value.clone().unwrap_or_default(),
                    r.new_value.clone().unwrap_or_default(),
                    r.reason.clone().unwrap_or_default(),
                    r.request_id.clone().unwrap_or_default(),
                ]);
            }
            let bytes = w.into_inner().unwrap_or_default();
            let next = if page.len() < 1000 {
                None
            } else {
                page.last().map(|l| AuditFilter { before_id: Some(l.id), ..filter.clone() })
            };
            if page.is_empty() && !first {
                return None;
            }
            Some((Ok(bytes), (next, false)))
        }
    })
}
