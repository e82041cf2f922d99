//! Server-rendered pages (askama templates, htmx for small in-place updates). Every form works
//! as a plain HTML form with JavaScript off.

pub mod admin;
pub mod audit;
pub mod calendar;
pub mod consent;
pub mod device;
pub mod device_support;
pub mod edc;
pub mod edc_entry;
pub mod enrollment;
pub mod home;
pub mod medical;
pub mod medical_field;
pub mod medical_requests;
pub mod participants;
pub mod profile;
pub mod schedule;
pub mod session;
pub mod trials;

use crate::AppState;
use crate::auth::Authed;
use crate::error::ApiError;
use crate::routes::Routes;
use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use clinbridge_core::FieldError;
use clinbridge_core::policy::{Action, Context, Op};

pub fn register(r: Routes) -> Routes {
    let r = session::register(r);
    let r = home::register(r);
    let r = profile::register(r);
    let r = admin::register(r);
    let r = trials::register(r);
    let r = participants::register(r);
    let r = consent::register(r);
    let r = edc::register(r);
    let r = edc_entry::register(r);
    let r = schedule::register(r);
    let r = enrollment::register(r);
    let r = calendar::register(r);
    let r = medical::register(r);
    let r = device::register(r);
    audit::register(r)
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub active: bool,
}

/// What every page's frame shows: who is signed in and the role-aware navigation.
pub struct Chrome {
    pub signed_in: bool,
    pub user_name: String,
    pub nav: Vec<NavLink>,
    pub unread: usize,
    pub notice: Option<String>,
}

impl Chrome {
    pub fn anonymous() -> Self {
        Chrome { signed_in: false, user_name: String::new(), nav: Vec::new(), unread: 0, notice: None }
    }
    pub fn with_notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }
}

pub async fn chrome(state: &AppState, who: &Authed, active: &str) -> Chrome {
    let mut nav = vec![("/", "Work queue", true)];
    nav.push(("/studies", "Studies", who.can_anywhere(Action::new(Context::Trials, Op::Read))));
    nav.push(("/medical", "Field medical", who.can_anywhere(medical::READ)));
    nav.push(("/device", "Device support", who.can_anywhere(device::READ)));
    nav.push(("/audit", "Audit log", who.can_anywhere(Action::new(Context::Audit, Op::Read))));
    let admin = who.can_anywhere(Action::new(Context::Identity, Op::Administer));
    nav.push(("/admin/users", "Users", admin));
    nav.push(("/admin/sites", "Sites", who.can_anywhere(Action::new(Context::Sites, Op::Read))));
    nav.push(("/admin/security", "Security", admin));
    let unread = clinbridge_store::tasks::notifications(&state.store, who.user.id, true, 100)
        .await
        .map(|n| n.len())
        .unwrap_or(0);
    Chrome {
        signed_in: true,
        user_name: who.user.name.clone(),
        nav: nav
            .into_iter()
            .filter(|(_, _, show)| *show)
            .map(|(href, label, _)| NavLink { href, label, active: href == active })
            .collect(),
        unread,
        notice: None,
    }
}

pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, Html("<h1>Something went wrong</h1>".to_string())).into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub heading: String,
    pub message: String,
}

pub fn not_found_page() -> Response {
    let page = ErrorPage {
        chrome: Chrome::anonymous(),
        heading: "Page not found".into(),
        message: "There is nothing at this address.".into(),
    };
    (StatusCode::NOT_FOUND, render(&page)).into_response()
}

/// A page handler's failure, shown as a page (never database text).
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<clinbridge_store::StoreError> for PageError {
    fn from(e: clinbridge_store::StoreError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let heading = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::CONFLICT => "Cannot do that",
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => "Please check your input",
            _ => "Something went wrong",
        };
        let page = ErrorPage { chrome: Chrome::anonymous(), heading: heading.into(), message: self.0.message() };
        (status, render(&page)).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

/// A time as the viewer reads it: in their zone, with the zone's abbreviation.
pub fn local(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%a %-d %b %Y, %H:%M %Z").to_string()
}

pub fn field_errors(errs: Vec<FieldError>) -> Vec<(String, String)> {
    errs.into_iter().map(|e| (e.field, e.message)).collect()
}

/// Field errors from a failed action, or a page error for anything else.
pub fn form_errors(e: ApiError) -> Result<Vec<(String, String)>, PageError> {
    match e {
        ApiError::Invalid(f) => Ok(field_errors(f)),
        ApiError::Conflict { field, message } => Ok(vec![(field, message)]),
        ApiError::Refused(m) => Ok(vec![("".into(), m)]),
        other => Err(PageError(other)),
    }
}

pub fn see_other(to: &str) -> Response {
    axum::response::Redirect::to(to).into_response()
}

/// A date typed into a form field as `YYYY-MM-DD`; an empty field is no date.
pub fn form_date(field: &str, raw: &str) -> Result<Option<chrono::NaiveDate>, FieldError> {
    let v = raw.trim();
    if v.is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map(Some).map_err(|_| FieldError::new(field, "must be a date"))
}

/// A date field that must be filled in.
pub fn required_form_date(field: &str, raw: &str) -> Result<chrono::NaiveDate, ApiError> {
    form_date(field, raw).map_err(|e| ApiError::Invalid(vec![e]))?.ok_or_else(|| ApiError::field(field, "is required"))
}

/// A day and a time typed into a form (`YYYY-MM-DD`, `HH:MM`) as the instant they name in
/// `tz`; the errors of both fields come back together, and a time the clocks skip is refused.
pub fn form_instant(
    tz: chrono_tz::Tz,
    date_field: &str,
    date: &str,
    time_field: &str,
    time: &str,
) -> Result<DateTime<Utc>, Vec<FieldError>> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .map_err(|_| FieldError::new(date_field, "must be a date"));
    let t = chrono::NaiveTime::parse_from_str(time.trim(), "%H:%M")
        .map_err(|_| FieldError::new(time_field, "must be a time like 14:30"));
    match (d, t) {
        (Ok(d), Ok(t)) => clinbridge_core::scheduling::calendar::local_instant(tz, d, t, time_field).map_err(|e| e.0),
        (d, t) => Err(d.err().into_iter().chain(t.err()).collect()),
    }
}

/// Today in the viewer's time zone.
pub fn local_today(who: &Authed) -> chrono::NaiveDate {
    Utc::now().with_timezone(&who.tz()).date_naive()
}

/// Time zones offered in pickers (any IANA name is accepted).
pub fn common_zones() -> Vec<&'static str> {
    vec![
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
        "America/Toronto",
        "America/Sao_Paulo",
        "Europe/London",
        "Europe/Paris",
        "Europe/Berlin",
        "Europe/Madrid",
        "Europe/Warsaw",
        "Africa/Johannesburg",
        "Asia/Kolkata",
        "Asia/Singapore",
        "Asia/Tokyo",
        "Australia/Sydney",
        "UTC",
    ]
}
