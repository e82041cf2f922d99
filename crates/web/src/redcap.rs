//! REDCap's API at `/redcap/api/`, so REDCap clients (PyCap, REDCapR, redcapAPI) work against a
//! study unchanged: form-encoded POSTs carrying a 32-character token made for one person and
//! one study, answered in REDCap's formats and with REDCap's error shapes.
//!
//! Formats: JSON (PyCap's default) and CSV for everything; XML for exports of tables (metadata,
//! instruments, records…), not for imports. Access is the token's person's grants on the study,
//! asked again on every call: reading the design needs EDC read, exporting records, files and
//! logging EDC export, importing EDC write, deleting records and importing metadata EDC
//! administer. A person with only site-scoped grants cannot use a study-wide token.

use crate::AppState;
use crate::routes::Routes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use clinbridge_core::edc::{Column, DateOrder, FieldRow, FieldType, Problem, problems_to_invalid};
use clinbridge_core::policy::{Action, Context, Op, Target, authorize};
use clinbridge_store::edc::metadata::{self, Metadata};
use clinbridge_store::edc::redcap::{self as store_redcap, FileSlot, LogFilter};
use clinbridge_store::edc::transfer::{self, EavRow, FlatOptions, ImportOptions, ImportRow, RecordFilter};
use clinbridge_store::identity::{self, User};
use clinbridge_store::{Acting, StoreError, trials};
use uuid::Uuid;

/// The REDCap version we answer `export_version` with: the API behaviour we follow.
pub const REDCAP_VERSION: &str = "14.5.0";

/// Largest request (an uploaded file or an import) the API accepts.
pub const UPLOAD_LIMIT: usize = 32 * 1024 * 1024;

pub fn register(r: Routes) -> Routes {
    r.post("/redcap/api/", api.layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
        .post("/redcap/api", api.layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
}

// ---------------------------------------------------------------- errors and formats

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Xml,
}

impl Format {
    fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "csv" | "df" => Some(Format::Csv),
            "xml" => Some(Format::Xml),
            _ => None,
        }
    }
}

/// An error as REDCap answers it: a status and a message, written in the request's format.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    message: String,
}

fn bad(message: impl Into<String>) -> Failure {
    Failure { status: StatusCode::BAD_REQUEST, message: message.into() }
}

fn forbidden(message: impl Into<String>) -> Failure {
    Failure { status: StatusCode::FORBIDDEN, message: message.into() }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(inv) => bad(inv
                .0
                .iter()
                .map(|f| if f.field.is_empty() { f.message.clone() } else { format!("{}: {}", f.field, f.message) })
                .collect::<Vec<_>>()
                .join("; ")),
            StoreError::Conflict { field, message } => bad(format!("{field}: {message}")),
            StoreError::Refused(m) => bad(m),
            StoreError::NotFound(what) => bad(format!("The {what} does not exist")),
            StoreError::Busy => Failure {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "The server is busy: try again shortly".into(),
            },
            other => {
                tracing::error!(error = %other, "REDCap API request failed");
                Failure {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: "The server could not complete the request".into(),
                }
            }
        }
    }
}

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// REDCap writes errors in `returnFormat`, else `format`, else XML (what PyCap looks for in
/// file and version calls, which name neither).
fn error_response(f: Failure, format: Option<Format>) -> Response {
    let (ct, body) = match format {
        Some(Format::Json) => {
            ("application/json; charset=utf-8", serde_json::json!({ "error": f.message }).to_string())
        }
        Some(Format::Csv) => ("text/csv; charset=utf-8", format!("ERROR: {}", f.message)),
        _ => (
            "text/xml; charset=utf-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<hash>\n  <error>{}</error>\n</hash>",
                xml_text(&f.message)
            ),
        ),
    };
    (f.status, [(header::CONTENT_TYPE, ct)], body).into_response()
}

fn text(ct: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}

/// A table of text (metadata, instruments, records…) in the asked format, columns in order.
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn csv_cell(value: &str, delimiter: char) -> String {
    if value.contains(delimiter) || value.contains('"') || value.contains('\n') || value.contains('\r') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

fn csv_line(out: &mut String, cells: &[String], delimiter: char) {
    let d = delimiter.to_string();
    out.push_str(&cells.iter().map(|c| csv_cell(c, delimiter)).collect::<Vec<_>>().join(&d));
    out.push('\n');
}

fn json_object(columns: &[String], row: &[String]) -> String {
    // Written by hand so the keys keep REDCap's column order.
    let pairs: Vec<String> = columns
        .iter()
        .zip(row.iter())
        .map(|(k, v)| format!("{}:{}", serde_json::Value::from(k.as_str()), serde_json::Value::from(v.as_str())))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

impl Table {
    fn new(columns: &[&str]) -> Self {
        Table { columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new() }
    }
    fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }
    fn render(&self, format: Format, delimiter: char) -> Response {
        match format {
            Format::Json => {
                let items: Vec<String> = self.rows.iter().map(|r| json_object(&self.columns, r)).collect();
                text("application/json; charset=utf-8", format!("[{}]", items.join(",")))
            }
            Format::Csv => {
                let mut out = String::new();
                csv_line(&mut out, &self.columns, delimiter);
                for r in &self.rows {
                    csv_line(&mut out, r, delimiter);
                }
                text("text/csv; charset=utf-8", out)
            }
            Format::Xml => {
                let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<records>\n");
                for r in &self.rows {
                    out.push_str("<item>");
                    for (k, v) in self.columns.iter().zip(r.iter()) {
                        out.push_str(&format!("<{k}><![CDATA[{}]]></{k}>", v.replace("]]>", "]]]]><![CDATA[>")));
                    }
                    out.push_str("</item>\n");
                }
                out.push_str("</records>\n");
                text("text/xml; charset=utf-8", out)
            }
        }
    }
}

// ---------------------------------------------------------------- parameters

/// An uploaded file (`import_file`).
struct Upload {
    name: String,
    content_type: String,
    bytes: Vec<u8>,
}

/// The request's parameters, in the order sent.
struct Params {
    pairs: Vec<(String, String)>,
    file: Option<Upload>,
}

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn text(&self, name: &str) -> &str {
        self.get(name).map(str::trim).unwrap_or("")
    }
    /// REDCap's booleans: `true`/`false` in any case, `1`/`0`, `yes`/`no`.
    fn flag(&self, name: &str) -> Result<bool, Failure> {
        match self.text(name).to_ascii_lowercase().as_str() {
            "" | "false" | "0" | "no" => Ok(false),
            "true" | "1" | "yes" => Ok(true),
            other => {
                Err(bad(format!("The value of the parameter \"{name}\" is not valid: '{other}' is not true or false")))
            }
        }
    }
    /// An array parameter: `name[0]=a&name[1]=b`, `name[]=a`, or `name=a,b`.
    fn list(&self, name: &str) -> Vec<String> {
        let mut indexed: Vec<(usize, usize, String)> = Vec::new();
        for (pos, (k, v)) in self.pairs.iter().enumerate() {
            if k == name {
                indexed.extend(
                    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| (usize::MAX, pos, s.to_string())),
                );
            } else if let Some(i) =
                k.strip_prefix(name).and_then(|r| r.strip_prefix('[')).and_then(|r| r.strip_suffix(']'))
            {
                let index = if i.is_empty() { usize::MAX } else { i.parse().unwrap_or(usize::MAX) };
                let v = v.trim();
                if !v.is_empty() {
                    indexed.push((index, pos, v.to_string()));
                }
            }
        }
        indexed.sort_by_key(|(i, pos, _)| (*i, *pos));
        indexed.into_iter().map(|(_, _, v)| v).collect()
    }
    fn format(&self, name: &str) -> Result<Option<Format>, Failure> {
        match self.get(name).map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => Format::parse(s).map(Some).ok_or_else(|| {
                bad(format!("The value of the parameter \"{name}\" is not valid: use json, csv or xml"))
            }),
        }
    }
}

async fn read_params(state: &AppState, req: Request) -> Result<Params, Failure> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if multipart {
        let mut form = Multipart::from_request(req, state)
            .await
            .map_err(|_| bad("The request is not valid multipart/form-data"))?;
        let mut pairs = Vec::new();
        let mut file = None;
        while let Some(part) = form.next_field().await.map_err(|_| bad("The upload was cut off or is too large"))? {
            let name = part.name().unwrap_or_default().to_string();
            let file_name = part.file_name().map(str::to_string);
            let content_type = part.content_type().unwrap_or("application/octet-stream").to_string();
            let bytes = part.bytes().await.map_err(|_| bad("The upload was cut off or is too large"))?;
            match file_name {
                Some(file_name) if name == "file" => {
                    file = Some(Upload { name: file_name, content_type, bytes: bytes.to_vec() });
                }
                _ => pairs.push((name, String::from_utf8_lossy(&bytes).into_owned())),
            }
        }
        return Ok(Params { pairs, file });
    }
    let bytes =
        axum::body::to_bytes(req.into_body(), UPLOAD_LIMIT).await.map_err(|_| bad("The request is too large"))?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| bad("The request must be form-encoded (application/x-www-form-urlencoded)"))?;
    Ok(Params { pairs, file: None })
}

// ---------------------------------------------------------------- the call

/// Who is calling, on which study.
struct Caller {
    user: User,
    actor: clinbridge_core::policy::Actor,
    study: trials::Study,
    request_id: Option<String>,
}

impl Caller {
    fn acting(&self) -> Acting {
        Acting::user(self.user.id, self.request_id.clone())
    }
    fn require(&self, op: Op, what: &str) -> Result<(), Failure> {
        if authorize(&self.actor, Action::new(Context::Edc, op), Target::study(self.study.id)).allowed() {
            Ok(())
        } else {
            Err(forbidden(format!("You do not have {what} privileges")))
        }
    }
    fn reason(&self) -> String {
        format!("REDCap API import by {}", self.user.name)
    }
}

async fn api(State(state): State<AppState>, req: Request) -> Response {
    let request_id = crate::auth::request_id(req.headers());
    let params = match read_params(&state, req).await {
        Ok(p) => p,
        Err(f) => return error_response(f, Some(Format::Json)),
    };
    let error_format = params
        .format("returnFormat")
        .ok()
        .flatten()
        .or_else(|| params.format("format").ok().flatten())
        .or(Some(Format::Xml));
    match answer(&state, &params, request_id).await {
        Ok(r) => r,
        Err(f) => error_response(f, error_format),
    }
}

async fn caller(state: &AppState, params: &Params, request_id: Option<String>) -> Result<Caller, Failure> {
    let token = params.text("token");
    if token.is_empty() {
        return Err(Failure { status: StatusCode::UNAUTHORIZED, message: "No API token was provided".into() });
    }
    let Some((user, study_id)) = store_redcap::authenticate(&state.store, token).await? else {
        return Err(forbidden("You do not have permissions to use the API"));
    };
    let actor = identity::actor(&state.store, user.id).await?;
    // A token outlives a grant: without EDC read on the study it opens nothing.
    if !authorize(&actor, Action::new(Context::Edc, Op::Read), Target::study(study_id)).allowed() {
        return Err(forbidden("You do not have permissions to use the API"));
    }
    let study = trials::study(&state.store, study_id).await?;
    Ok(Caller { user, actor, study, request_id })
}

async fn answer(state: &AppState, p: &Params, request_id: Option<String>) -> Result<Response, Failure> {
    let who = caller(state, p, request_id).await?;
    let format = p.format("format")?.unwrap_or(Format::Json);
    let return_format = p.format("returnFormat")?.unwrap_or(format);
    let action = p.text("action").to_ascii_lowercase();
    let importing = p.get("data").is_some();
    let meta = metadata::current(&state.store, who.study.id).await?;
    match p.text("content") {
        "version" => Ok(text("text/plain; charset=utf-8", REDCAP_VERSION.to_string())),
        "project" if !importing => project_info(state, &who, meta.as_deref(), format).await,
        "metadata" if importing => import_metadata(state, &who, p, return_format).await,
        "metadata" => export_metadata(meta.as_deref(), p, format),
        "instrument" => Ok(instruments(meta.as_deref()).render(format, ',')),
        "exportFieldNames" => export_field_names(meta.as_deref(), p, format),
        "formEventMapping" if !importing => {
            let meta = longitudinal(meta.as_deref(), "You cannot export form/event mappings for classic projects")?;
            let arms = p.list("arms");
            let mut t = Table::new(&["arm_num", "unique_event_name", "form"]);
            if arms.is_empty() || arms.iter().any(|a| a == "1") {
                for ef in &meta.event_forms {
                    for i in &ef.instruments {
                        t.push(vec!["1".into(), metadata::unique_event_name(&ef.event), i.clone()]);
                    }
                }
            }
            Ok(t.render(format, ','))
        }
        "event" if !importing && action != "delete" => {
            let meta = longitudinal(meta.as_deref(), "You cannot export events for classic projects")?;
            let mut t = Table::new(&["event_name", "arm_num", "unique_event_name", "custom_event_label", "event_id"]);
            for (i, e) in
                meta.events.iter().filter(|e| meta.event_forms.iter().any(|ef| ef.event == e.code)).enumerate()
            {
                t.push(vec![e.name.clone(), "1".into(), e.unique_name.clone(), e.code.clone(), (i + 1).to_string()]);
            }
            Ok(t.render(format, ','))
        }
        "arm" if !importing && action != "delete" => {
            longitudinal(meta.as_deref(), "You cannot export arms for classic projects")?;
            let mut t = Table::new(&["arm_num", "name"]);
            t.push(vec!["1".into(), "Arm 1".into()]);
            Ok(t.render(format, ','))
        }
        "repeatingFormsEvents" if !importing => {
            let mut t = Table::new(&["event_name", "form_name", "custom_form_label"]);
            if let Some(meta) = meta.as_deref() {
                repeating(meta, &mut t);
            }
            Ok(t.render(format, ','))
        }
        "generateNextRecordName" => {
            who.require(Op::Write, "API Import/Update")?;
            let next = clinbridge_store::edc::next_record_name(&state.store, who.study.id).await?;
            Ok(text("text/plain; charset=utf-8", next))
        }
        "record" if action == "delete" => delete_records(state, &who, p, return_format).await,
        "record" if importing => import_records(state, &who, meta.as_deref(), p, return_format).await,
        "record" => export_records(state, &who, p, format).await,
        "log" => export_logging(state, &who, p, format).await,
        "file" => match action.as_str() {
            "export" => export_file(state, &who, meta.as_deref(), p).await,
            "import" => import_file(state, &who, meta.as_deref(), p).await,
            "delete" => delete_file(state, &who, meta.as_deref(), p).await,
            _ => Err(bad("The value of the parameter \"action\" is not valid")),
        },
        "" => Err(bad("The parameter \"content\" is missing")),
        _ => Err(bad("The value of the parameter \"content\" is not valid")),
    }
}

fn longitudinal<'m>(meta: Option<&'m Metadata>, message: &str) -> Result<&'m Metadata, Failure> {
    meta.filter(|m| m.longitudinal()).ok_or_else(|| bad(message))
}

/// A stable whole number for the study (REDCap's project ids are numbers).
fn project_id(study: Uuid) -> u64 {
    let b = study.as_bytes();
    u64::from(u32::from_be_bytes([b[12], b[13], b[14], b[15]]))
}

async fn project_info(
    state: &AppState,
    who: &Caller,
    meta: Option<&Metadata>,
    format: Format,
) -> Result<Response, Failure> {
    let s = &who.study;
    let production = metadata::production(&state.store, s.id).await?;
    let repeats = meta.is_some_and(|m| {
        m.instruments.iter().any(|i| i.repeating)
            || m.event_forms.iter().any(|ef| m.event(&ef.event).is_some_and(|e| e.repeating))
    });
    let info: Vec<(&str, serde_json::Value)> = vec![
        ("project_id", project_id(s.id).into()),
        ("project_title", s.title.clone().into()),
        ("creation_time", "".into()),
        (
            "production_time",
            production
                .as_ref()
                .and_then(|p| p.published_at)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default()
                .into(),
        ),
        ("in_production", i64::from(production.is_some()).into()),
        ("project_language", "English".into()),
        ("purpose", 2.into()),
        ("purpose_other", "".into()),
        ("project_notes", s.code.clone().into()),
        ("custom_record_label", "".into()),
        ("secondary_unique_field", "".into()),
        ("is_longitudinal", i64::from(meta.is_some_and(|m| m.longitudinal())).into()),
        ("has_repeating_instruments_or_events", i64::from(repeats).into()),
        ("surveys_enabled", 0.into()),
        ("scheduling_enabled", 0.into()),
        ("record_autonumbering_enabled", 0.into()),
        ("randomization_enabled", 0.into()),
        ("ddp_enabled", 0.into()),
        ("project_irb_number", "".into()),
        ("project_grant_number", "".into()),
        ("project_pi_firstname", "".into()),
        ("project_pi_lastname", "".into()),
        ("display_today_now_button", 1.into()),
        ("missing_data_codes", meta.map(|m| m.missing_text.clone()).unwrap_or_default().into()),
        ("external_modules", "".into()),
        ("bypass_branching_erase_field_prompt", 0.into()),
    ];
    match format {
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> =
                info.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            Ok(text("application/json; charset=utf-8", serde_json::Value::Object(map).to_string()))
        }
        Format::Csv | Format::Xml => {
            let as_text = |v: &serde_json::Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            let mut t = Table::new(&info.iter().map(|(k, _)| *k).collect::<Vec<_>>());
            t.push(info.iter().map(|(_, v)| as_text(v)).collect());
            Ok(t.render(format, ','))
        }
    }
}

fn export_metadata(meta: Option<&Metadata>, p: &Params, format: Format) -> Result<Response, Failure> {
    let columns: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    let mut t = Table::new(&columns);
    let Some(meta) = meta else { return Ok(t.render(format, ',')) };
    let fields = p.list("fields");
    let forms = p.list("forms");
    for name in &fields {
        if meta.field(name).is_none() {
            return Err(bad(format!("The following values in the parameter \"fields\" are not valid: '{name}'")));
        }
    }
    for name in &forms {
        if !meta.dictionary.instruments().contains(&name.as_str()) {
            return Err(bad(format!("The following values in the parameter \"forms\" are not valid: '{name}'")));
        }
    }
    for row in meta.rows() {
        let all = fields.is_empty() && forms.is_empty();
        if all || fields.contains(&row.field_name) || forms.contains(&row.form_name) {
            t.push(row.cells().iter().map(|c| c.to_string()).collect());
        }
    }
    Ok(t.render(format, ','))
}

fn instruments(meta: Option<&Metadata>) -> Table {
    let mut t = Table::new(&["instrument_name", "instrument_label"]);
    if let Some(meta) = meta {
        for i in &meta.instruments {
            t.push(vec![i.name.clone(), i.label.clone()]);
        }
    }
    t
}

fn export_field_names(meta: Option<&Metadata>, p: &Params, format: Format) -> Result<Response, Failure> {
    let mut t = Table::new(&["original_field_name", "choice_value", "export_field_name"]);
    let Some(meta) = meta else { return Ok(t.render(format, ',')) };
    let only = p.text("field");
    if !only.is_empty() && meta.field(only).is_none() {
        return Err(bad(format!("The field '{only}' is not a valid field")));
    }
    for f in meta.dictionary.fields() {
        if (!only.is_empty() && f.name() != only) || f.field_type() == FieldType::Descriptive {
            continue;
        }
        if f.field_type() == FieldType::Checkbox {
            for c in f.choices() {
                t.push(vec![f.name().into(), c.code.clone(), f.checkbox_column(&c.code)]);
            }
            for m in meta.missing.codes() {
                if f.choice(&m.code).is_none() {
                    t.push(vec![f.name().into(), m.code.clone(), format!("{}___{}", f.name(), m.code.to_lowercase())]);
                }
            }
        } else {
            t.push(vec![f.name().into(), String::new(), f.name().into()]);
        }
    }
    Ok(t.render(format, ','))
}

/// REDCap's repeating instruments and events: a repeating visit repeats whole (no form named);
/// a repeating instrument repeats within each visit that collects it.
fn repeating(meta: &Metadata, t: &mut Table) {
    if !meta.longitudinal() {
        for i in meta.instruments.iter().filter(|i| i.repeating) {
            t.push(vec![String::new(), i.name.clone(), String::new()]);
        }
        return;
    }
    for ef in &meta.event_forms {
        let Some(event) = meta.event(&ef.event) else { continue };
        if event.repeating {
            t.push(vec![event.unique_name.clone(), String::new(), String::new()]);
            continue;
        }
        for i in &ef.instruments {
            if meta.instrument(i).is_some_and(|s| s.repeating) {
                t.push(vec![event.unique_name.clone(), i.clone(), String::new()]);
            }
        }
    }
}

// ---------------------------------------------------------------- metadata import

async fn import_metadata(
    state: &AppState,
    who: &Caller,
    p: &Params,
    return_format: Format,
) -> Result<Response, Failure> {
    who.require(Op::Administer, "Project Design/Setup")?;
    if metadata::production(&state.store, who.study.id).await?.is_some() {
        return Err(bad(
            "Metadata can only be imported for projects in development status: this study's instruments are in production. Change them in a draft and publish it.",
        ));
    }
    let data = p.get("data").unwrap_or_default();
    let format = p.format("format")?.unwrap_or(Format::Json);
    let dictionary = match format {
        Format::Json => clinbridge_interop::redcap::dictionary::from_api_json(data),
        Format::Csv => clinbridge_interop::redcap::dictionary::parse(data.as_bytes()),
        Format::Xml => return Err(bad("Metadata can be imported as json or csv here, not xml")),
    }
    .map_err(|problems| problems_message(&problems))?;
    let rows: Vec<FieldRow> = dictionary.to_rows();
    let n = rows.len();
    metadata::import_rows(
        &state.store,
        &who.acting(),
        who.study.id,
        rows,
        &format!("REDCap API import_metadata by {}", who.user.name),
    )
    .await?;
    Ok(count_response(n, return_format))
}

fn problems_message(problems: &[Problem]) -> Failure {
    Failure::from(StoreError::Invalid(problems_to_invalid(problems)))
}

fn count_response(n: usize, format: Format) -> Response {
    match format {
        Format::Json => text("application/json; charset=utf-8", n.to_string()),
        Format::Csv => text("text/csv; charset=utf-8", n.to_string()),
        Format::Xml => {
            text("text/xml; charset=utf-8", format!("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<count>{n}</count>"))
        }
    }
}

// ---------------------------------------------------------------- records

/// `YYYY-MM-DD HH:MM:SS` (or without seconds, or a date) as REDCap's API takes times, in UTC.
fn parse_time(name: &str, s: &str) -> Result<Option<DateTime<Utc>>, Failure> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .or_else(|_| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN)))
        .map_err(|_| {
            bad(format!("The value of the parameter \"{name}\" is not valid: write it as YYYY-MM-DD HH:MM:SS"))
        })?;
    Ok(Some(Utc.from_utc_datetime(&naive)))
}

fn delimiter(p: &Params) -> Result<char, Failure> {
    match p.text("csvDelimiter") {
        "" | "," => Ok(','),
        "tab" | "\t" => Ok('\t'),
        ";" => Ok(';'),
        "|" => Ok('|'),
        "^" => Ok('^'),
        _ => Err(bad("The value of the parameter \"csvDelimiter\" is not valid")),
    }
}

async fn export_records(state: &AppState, who: &Caller, p: &Params, format: Format) -> Result<Response, Failure> {
    who.require(Op::Export, "API Export")?;
    let labels = match p.text("rawOrLabel") {
        "" | "raw" => false,
        "label" | "both" => true,
        _ => return Err(bad("The value of the parameter \"rawOrLabel\" is not valid")),
    };
    let eav = match p.text("type") {
        "" | "flat" => false,
        "eav" => true,
        _ => return Err(bad("The value of the parameter \"type\" is not valid: use flat or eav")),
    };
    let filter = RecordFilter {
        records: p.list("records"),
        fields: p.list("fields"),
        forms: p.list("forms"),
        events: p.list("events"),
        filter_logic: p.get("filterLogic").map(str::to_string).filter(|l| !l.trim().is_empty()),
        changed_since: parse_time("dateRangeBegin", p.text("dateRangeBegin"))?,
        changed_before: parse_time("dateRangeEnd", p.text("dateRangeEnd"))?,
        sites: None,
    };
    let opts = FlatOptions { filter, labels, deidentified: false, shift_key: None };
    let delimiter = delimiter(p)?;
    let store = &state.store;
    let table = if eav {
        let mut t = Table::new(&[
            "record",
            "redcap_event_name",
            "redcap_repeat_instrument",
            "redcap_repeat_instance",
            "field_name",
            "value",
        ]);
        let mut rows: Vec<EavRow> = Vec::new();
        transfer::eav_rows(store, who.study.id, &opts, &mut |r| {
            rows.push(r);
            Ok(())
        })
        .await?;
        for r in rows {
            t.push(vec![
                r.record,
                r.redcap_event_name,
                r.redcap_repeat_instrument,
                r.redcap_repeat_instance,
                r.field_name,
                r.value,
            ]);
        }
        t
    } else {
        let columns = transfer::flat_columns(store, who.study.id, &opts).await?;
        let mut rows: Vec<Vec<String>> = Vec::new();
        transfer::flat_rows(store, who.study.id, &opts, &mut |r| {
            rows.push(r);
            Ok(())
        })
        .await?;
        Table { columns, rows }
    };
    let format_name = match format {
        Format::Json => "redcap_api_json",
        Format::Csv => "redcap_api_csv",
        Format::Xml => "redcap_api_xml",
    };
    transfer::audit_export(
        store,
        &who.acting(),
        who.study.id,
        format_name,
        &opts,
        serde_json::json!({ "type": if eav { "eav" } else { "flat" }, "rows": table.rows.len() }),
    )
    .await?;
    Ok(table.render(format, delimiter))
}

/// One imported row's cells, by column name.
type Cells = Vec<(String, String)>;

/// Rows of a JSON import: objects whose values are text (numbers and booleans are taken as
/// written, null as blank).
fn json_rows(data: &str) -> Result<Vec<Cells>, Failure> {
    let v: serde_json::Value =
        serde_json::from_str(data).map_err(|e| bad(format!("The data are not valid JSON: {e}")))?;
    let items = match v {
        serde_json::Value::Array(a) => a,
        o @ serde_json::Value::Object(_) => vec![o],
        _ => return Err(bad("The data must be a JSON array of objects")),
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let serde_json::Value::Object(map) = item else {
            return Err(bad(format!("Item {} of the data is not an object", i + 1)));
        };
        out.push(
            map.into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k, s)
                })
                .collect(),
        );
    }
    Ok(out)
}

/// Rows of a CSV import, each cell named by its heading, with the file's row numbers.
fn csv_rows(data: &str) -> Result<Vec<(usize, Cells)>, Failure> {
    let text = data.strip_prefix('\u{FEFF}').unwrap_or(data);
    let (records, malformed) = clinbridge_interop::redcap::csv::read(text);
    if let Some(m) = malformed.first() {
        return Err(bad(format!("The CSV data are malformed at line {}: {}", m.line, m.message)));
    }
    let mut records = records.into_iter().filter(|r| !r.is_blank());
    let Some(header) = records.next() else { return Ok(Vec::new()) };
    let names: Vec<String> = header.cells.iter().map(|c| c.trim().to_string()).collect();
    let mut out = Vec::new();
    for r in records {
        if r.cells.len() > names.len() {
            return Err(bad(format!(
                "Row {} has {} values but the header names {} columns",
                r.row,
                r.cells.len(),
                names.len()
            )));
        }
        out.push((
            r.row,
            names.iter().cloned().zip(r.cells.into_iter().chain(std::iter::repeat(String::new()))).collect(),
        ));
    }
    Ok(out)
}

async fn import_records(
    state: &AppState,
    who: &Caller,
    meta: Option<&Metadata>,
    p: &Params,
    return_format: Format,
) -> Result<Response, Failure> {
    who.require(Op::Write, "API Import/Update")?;
    if meta.is_none() {
        return Err(bad("The study has no instruments yet: import its metadata first"));
    }
    let overwrite = match p.text("overwriteBehavior") {
        "" | "normal" => false,
        "overwrite" => true,
        _ => return Err(bad("The value of the parameter \"overwriteBehavior\" is not valid: use normal or overwrite")),
    };
    let dates = match p.text("dateFormat") {
        "" => DateOrder::Ymd,
        s => DateOrder::parse(s)
            .ok_or_else(|| bad("The value of the parameter \"dateFormat\" is not valid: use YMD, MDY or DMY"))?,
    };
    let force_auto_number = p.flag("forceAutoNumber")?;
    let return_content = match p.text("returnContent") {
        "" => "count",
        s @ ("count" | "ids" | "auto_ids" | "nothing") => s,
        _ => {
            return Err(bad(
                "The value of the parameter \"returnContent\" is not valid: use count, ids, auto_ids or nothing",
            ));
        }
    };
    if return_content == "auto_ids" && !force_auto_number {
        return Err(bad("returnContent=auto_ids can only be used when forceAutoNumber is true"));
    }
    let eav = match p.text("type") {
        "" | "flat" => false,
        "eav" => true,
        _ => return Err(bad("The value of the parameter \"type\" is not valid: use flat or eav")),
    };
    let data = p.get("data").unwrap_or_default();
    let rows: Vec<(usize, Cells)> = match p.format("format")?.unwrap_or(Format::Json) {
        Format::Json => json_rows(data)?.into_iter().enumerate().map(|(i, r)| (i + 1, r)).collect(),
        Format::Csv => csv_rows(data)?,
        Format::Xml => return Err(bad("Records can be imported as json or csv here, not xml")),
    };
    let opts = ImportOptions { overwrite, dates, force_auto_number, reason: who.reason() };
    let outcome = if eav {
        let mut eav_rows = Vec::new();
        for (line, cells) in rows {
            let get = |k: &str| cells.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
            if get("field_name").is_empty() {
                return Err(bad(format!("Row {line}: an EAV row needs record, field_name and value")));
            }
            eav_rows.push(EavRow {
                record: get("record"),
                redcap_event_name: get("redcap_event_name"),
                redcap_repeat_instrument: get("redcap_repeat_instrument"),
                redcap_repeat_instance: get("redcap_repeat_instance"),
                field_name: get("field_name"),
                value: get("value"),
            });
        }
        transfer::import_eav(&state.store, &who.acting(), who.study.id, eav_rows, &opts).await?
    } else {
        let rows: Vec<ImportRow> = rows.into_iter().map(|(line, cells)| ImportRow { line, cells }).collect();
        transfer::import_flat(&state.store, &who.acting(), who.study.id, rows, &opts).await?
    };
    let (json, csv) = match return_content {
        "ids" => (
            serde_json::json!(outcome.ids).to_string(),
            std::iter::once("id".to_string())
                .chain(outcome.ids.iter().map(|i| csv_cell(i, ',')))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        "auto_ids" => {
            let pairs: Vec<String> = outcome.auto_ids.iter().map(|(old, new)| format!("{new},{old}")).collect();
            (
                serde_json::json!(pairs).to_string(),
                std::iter::once("id".to_string()).chain(pairs).collect::<Vec<_>>().join("\n"),
            )
        }
        "nothing" => ("[]".to_string(), String::new()),
        _ => (serde_json::json!({ "count": outcome.count }).to_string(), outcome.count.to_string()),
    };
    Ok(match return_format {
        Format::Json => text("application/json; charset=utf-8", json),
        Format::Csv => text("text/csv; charset=utf-8", csv),
        Format::Xml => text(
            "text/xml; charset=utf-8",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<count>{}</count>", outcome.count),
        ),
    })
}

async fn delete_records(
    state: &AppState,
    who: &Caller,
    p: &Params,
    return_format: Format,
) -> Result<Response, Failure> {
    who.require(Op::Administer, "Delete Record")?;
    if ["arm", "instrument", "event", "repeat_instance"].iter().any(|k| !p.text(k).is_empty()) {
        return Err(bad(
            "Deleting single instruments, events or instances is not supported here: delete whole records",
        ));
    }
    let names = p.list("records");
    if names.is_empty() {
        return Err(bad("The parameter \"records\" is missing"));
    }
    let n = transfer::delete_records(&state.store, &who.acting(), who.study.id, &names).await?;
    Ok(count_response(n, return_format))
}

async fn export_logging(state: &AppState, who: &Caller, p: &Params, format: Format) -> Result<Response, Failure> {
    who.require(Op::Export, "Logging")?;
    let filter = LogFilter {
        log_type: Some(p.text("logtype").to_string()).filter(|s| !s.is_empty()),
        user: Some(p.text("user").to_string()).filter(|s| !s.is_empty()),
        record: Some(p.text("record").to_string()).filter(|s| !s.is_empty()),
        begin: parse_time("beginTime", p.text("beginTime"))?,
        end: parse_time("endTime", p.text("endTime"))?,
    };
    let mut t = Table::new(&["timestamp", "username", "action", "details", "record"]);
    for e in store_redcap::logging(&state.store, who.study.id, &filter).await? {
        t.push(vec![e.timestamp, e.username, e.action, e.details, e.record]);
    }
    Ok(t.render(format, ','))
}

// ---------------------------------------------------------------- files

fn file_slot(meta: Option<&Metadata>, p: &Params) -> Result<FileSlot, Failure> {
    let meta = meta.ok_or_else(|| bad("The study has no instruments yet"))?;
    let record = p.text("record");
    let field = p.text("field");
    if record.is_empty() {
        return Err(bad("The parameter \"record\" is missing"));
    }
    match meta.field(field) {
        Some(f) if f.field_type() == FieldType::File => {}
        _ => return Err(bad(format!("The field '{field}' is not a file upload field"))),
    }
    let event = p.text("event");
    let event = if meta.longitudinal() {
        if event.is_empty() {
            return Err(bad("The parameter \"event\" is missing: name the unique event of the file"));
        }
        meta.event_by_unique_name(event)
            .map(|e| e.code.clone())
            .ok_or_else(|| bad(format!("'{event}' is not a valid event name")))?
    } else {
        String::new()
    };
    let instance = match p.text("repeat_instance") {
        "" => 1,
        s => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad("The value of the parameter \"repeat_instance\" is not valid"))?,
    };
    Ok(FileSlot { record: record.to_string(), event, instance, field: field.to_string() })
}

async fn export_file(state: &AppState, who: &Caller, meta: Option<&Metadata>, p: &Params) -> Result<Response, Failure> {
    who.require(Op::Export, "API Export")?;
    let slot = file_slot(meta, p)?;
    let file = store_redcap::file(&state.store, who.study.id, &slot)
        .await?
        .ok_or_else(|| bad("There is no file to download for this record"))?;
    let name: String = file.file_name.chars().filter(|c| *c != '"' && !c.is_control()).collect();
    let ct = HeaderValue::from_str(&format!("{}; name=\"{name}\"", file.content_type))
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, ct)], file.bytes).into_response())
}

async fn import_file(state: &AppState, who: &Caller, meta: Option<&Metadata>, p: &Params) -> Result<Response, Failure> {
    who.require(Op::Write, "API Import/Update")?;
    let slot = file_slot(meta, p)?;
    let upload =
        p.file.as_ref().ok_or_else(|| bad("No valid file was uploaded (send it as the multipart part \"file\")"))?;
    let file = store_redcap::NewFile {
        name: upload.name.clone(),
        content_type: content_type(upload),
        bytes: upload.bytes.clone(),
    };
    store_redcap::put_file(&state.store, &who.acting(), who.study.id, slot, file, &who.reason()).await?;
    Ok(StatusCode::OK.into_response())
}

/// The type a client sent, or one read from the file name when it sent none (PyCap sends none).
fn content_type(upload: &Upload) -> String {
    if upload.content_type != "application/octet-stream" {
        return upload.content_type.clone();
    }
    let ext = upload.name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "txt" => "text/plain",
        "csv" => "text/csv",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "json" => "application/json",
        "xml" => "application/xml",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
    .to_string()
}

async fn delete_file(state: &AppState, who: &Caller, meta: Option<&Metadata>, p: &Params) -> Result<Response, Failure> {
    who.require(Op::Write, "API Import/Update")?;
    let slot = file_slot(meta, p)?;
    store_redcap::delete_file(
        &state.store,
        &who.acting(),
        who.study.id,
        slot,
        &format!("REDCap API file deletion by {}", who.user.name),
    )
    .await?;
    Ok(StatusCode::OK.into_response())
}

/// The studies a person may make a REDCap token for: those where they hold EDC read study-wide.
pub fn may_hold_token(actor: &clinbridge_core::policy::Actor, study: Uuid) -> bool {
    authorize(actor, Action::new(Context::Edc, Op::Read), Target::study(study)).allowed()
}
