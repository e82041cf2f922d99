//! EDC data exports and imports over HTTP: the study's data as REDCap's flat CSV, EAV CSV or
//! CDISC ODM 1.3.2, streamed as the store reads it; and imports of flat CSV or ODM clinical
//! data, all or nothing, answered with the records saved or every row's problems.

use super::trials::readable_study;
use super::{ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use clinbridge_core::edc::DateOrder;
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_store::edc::transfer::{self, ExportOptions, FlatOptions, Format, ImportOptions, ImportRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub const EDC_EXPORT: Action = Action::new(Context::Edc, Op::Export);
pub const EDC_WRITE: Action = Action::new(Context::Edc, Op::Write);

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/studies/{code}/edc/export", export).post("/api/v1/studies/{code}/edc/import", import)
}

fn yes(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

#[derive(Deserialize, IntoParams)]
pub struct ExportQuery {
    /// csv (flat, REDCap's columns), eav or odm; without it csv, or odm when `audit` is set.
    pub format: Option<String>,
    /// Labels instead of codes (flat and EAV).
    pub labels: Option<String>,
    /// Leave out identifier fields and shift dates per record.
    pub deidentified: Option<String>,
    /// ODM: the audit trail (each change with its audit record) and signatures.
    pub audit: Option<String>,
}

/// The sites of a study whose records the caller may take part in, or `None` when every
/// record is theirs (a grant on the study or organization).
pub(crate) async fn record_sites(
    state: &AppState,
    who: &Authed,
    study: Uuid,
    action: Action,
) -> ApiResult<Option<Vec<Uuid>>> {
    if who.can(action, Target::study(study)) {
        return Ok(None);
    }
    let sites = clinbridge_store::trials::study_sites(&state.store, study).await?;
    let mine: Vec<Uuid> =
        sites.into_iter().map(|s| s.site_id).filter(|s| who.can(action, Target::study_site(study, *s))).collect();
    if mine.is_empty() {
        return Err(ApiError::Forbidden);
    }
    Ok(Some(mine))
}

/// Downloads the study's data. The file streams as it is read; an audit entry names the
/// format and options.
#[utoipa::path(get, path = "/api/v1/studies/{code}/edc/export", tag = "edc", params(("code" = String, Path), ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let study = readable_study(&state, &who, &code).await?;
    let format = match q.format.as_deref() {
        // The audit trail only exists in ODM, so asking for it without a format means ODM.
        None | Some("") if yes(&q.audit) => Format::Odm,
        None | Some("") => Format::Csv,
        Some(f) => Format::parse(f).ok_or_else(|| {
            ApiError::Invalid(vec![clinbridge_core::FieldError::new("format", "must be csv, eav or odm")])
        })?,
    };
    let sites = record_sites(&state, &who, study.id, EDC_EXPORT).await?;
    let mut opts = ExportOptions {
        flat: FlatOptions { labels: yes(&q.labels), deidentified: yes(&q.deidentified), ..Default::default() },
        audit: yes(&q.audit),
    };
    opts.flat.filter.sites = sites;
    // Problems with the request are answered before the download starts.
    transfer::flat_columns(&state.store, study.id, &opts.flat).await?;
    transfer::audit_export(
        &state.store,
        &who.acting(),
        study.id,
        format.as_str(),
        &opts.flat,
        serde_json::json!({ "audit": opts.audit, "via": "web" }),
    )
    .await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let store = state.store.clone();
    let study_id = study.id;
    tokio::spawn(async move {
        if let Err(e) = transfer::export(&store, study_id, format, &opts, &tx).await {
            tracing::warn!(error = %e, "EDC export stopped");
        }
    });
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|o| o.map(|b| Ok::<_, std::io::Error>(Bytes::from(b))))
    });
    let mut r = Body::from_stream(stream).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    let name = format!(
        "{}_{}{}.{}",
        study.code,
        chrono::Utc::now().format("%Y-%m-%d_%H%M"),
        if opts_deid(&q) { "_deidentified" } else { "" },
        format.extension()
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

fn opts_deid(q: &ExportQuery) -> bool {
    yes(&q.deidentified)
}

#[derive(Deserialize, IntoParams)]
pub struct ImportQuery {
    /// csv (flat) or odm.
    pub format: Option<String>,
    /// Blank cells erase stored values.
    pub overwrite: Option<String>,
    /// YMD, MDY or DMY.
    pub date_format: Option<String>,
    /// The reason for change (default: "Data import by {user}").
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ImportOut {
    pub count: usize,
    pub ids: Vec<String>,
}

/// Reads a flat CSV body into rows by column name.
pub fn csv_rows(body: &[u8]) -> ApiResult<Vec<ImportRow>> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::Invalid(vec![clinbridge_core::FieldError::new("file", "must be UTF-8 text")]))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (records, malformed) = clinbridge_interop::redcap::csv::read(text);
    if !malformed.is_empty() {
        return Err(ApiError::Invalid(
            malformed
                .into_iter()
                .map(|m| clinbridge_core::FieldError::new(format!("row {}", m.row), m.message))
                .collect(),
        ));
    }
    let mut it = records.into_iter();
    let Some(header) = it.next() else {
        return Err(ApiError::Invalid(vec![clinbridge_core::FieldError::new("file", "is empty")]));
    };
    Ok(it
        .filter(|r| !r.is_blank())
        .map(|r| ImportRow {
            line: r.row,
            cells: header
                .cells
                .iter()
                .cloned()
                .zip(r.cells.into_iter().chain(std::iter::repeat(String::new())))
                .collect(),
        })
        .collect())
}

/// Imports data (the file as the body). All or nothing: 200 with the records saved, or 422
/// with every row's problems (`row 12, sbp`).
#[utoipa::path(post, path = "/api/v1/studies/{code}/edc/import", tag = "edc", params(("code" = String, Path), ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    body: Bytes,
) -> ApiResult<Json<ImportOut>> {
    let study = readable_study(&state, &who, &code).await?;
    let outcome = run_import(
        &state,
        &who,
        study.id,
        q.format.as_deref().unwrap_or("csv"),
        &body,
        yes(&q.overwrite),
        q.date_format.as_deref(),
        q.reason.as_deref(),
    )
    .await?;
    Ok(Json(ImportOut { count: outcome.count, ids: outcome.ids }))
}

/// Imports a CSV or ODM file into a study as `who` (their sites only), all or nothing; shared
/// by the API and the Instruments page.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_import(
    state: &AppState,
    who: &Authed,
    study_id: Uuid,
    format: &str,
    body: &[u8],
    overwrite: bool,
    date_format: Option<&str>,
    reason: Option<&str>,
) -> ApiResult<transfer::ImportOutcome> {
    let sites = record_sites(state, who, study_id, EDC_WRITE).await?;
    let dates = match date_format.map(str::trim).filter(|s| !s.is_empty()) {
        None => DateOrder::Ymd,
        Some(d) => DateOrder::parse(d).ok_or_else(|| {
            ApiError::Invalid(vec![clinbridge_core::FieldError::new("date_format", "must be YMD, MDY or DMY")])
        })?,
    };
    let opts = ImportOptions {
        overwrite,
        dates,
        force_auto_number: false,
        reason: reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("Data import by {}", who.user.name)),
    };
    Ok(match format.trim() {
        "odm" | "xml" => transfer::odm::import(&state.store, &who.acting(), study_id, body, &opts, sites).await?,
        "csv" | "" => {
            let rows = csv_rows(body)?;
            transfer::import_flat_at(&state.store, &who.acting(), study_id, rows, &opts, sites).await?
        }
        _ => return Err(ApiError::Invalid(vec![clinbridge_core::FieldError::new("format", "must be csv or odm")])),
    })
}
