//! Scheduling calendar API: a site's resources and their hours, moving and booking participant
//! visits, the site calendar, and the calendar feeds (listed for their owner under `/me`, served
//! as iCalendar at `/feeds/{secret}` to anyone holding the secret).

use super::identity::SITES_READ;
use super::scheduling::{ParticipantVisitOut, writable_visit};
use super::{ApiJson, ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::Authed;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use clinbridge_core::policy::{Action, Context, Op, Target, authorize};
use clinbridge_core::scheduling::calendar::{Hours, ResourceKind, View, check_hours, parse_clock};
use clinbridge_store::scheduling::calendar::{self as store_c, CalendarVisit, Feed, Resource};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub fn register(r: Routes) -> Routes {
    r.get("/api/v1/sites/{id}/resources", list_resources)
        .post("/api/v1/sites/{id}/resources", create_resource)
        .put("/api/v1/resources/{id}", update_resource)
        .get("/api/v1/sites/{id}/calendar", calendar)
        .post("/api/v1/participant-visits/{id}/reschedule", reschedule)
        .post("/api/v1/participant-visits/{id}/booking", book)
        .delete("/api/v1/participant-visits/{id}/booking", unbook)
        .get("/api/v1/me/feeds", list_feeds)
        .post("/api/v1/me/feeds/{id}/regenerate", regenerate_feed)
        .delete("/api/v1/me/feeds/{id}", revoke_feed)
        .get("/feeds/{secret}", serve_feed)
}

pub const SCHEDULING_READ: Action = Action::new(Context::Scheduling, Op::Read);
/// Keeping a site's resources: administrators and the site's coordinators.
pub const SITES_WRITE: Action = Action::new(Context::Sites, Op::Write);

// ---------------------------------------------------------------- resources

#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct HoursOut {
    /// mon, tue, wed, thu, fri, sat or sun.
    pub weekday: String,
    /// Local time at the site, HH:MM.
    pub from: String,
    /// Local time at the site, HH:MM (24:00 for the end of the day).
    pub to: String,
}

impl From<&Hours> for HoursOut {
    fn from(h: &Hours) -> Self {
        use clinbridge_core::scheduling::calendar::{clock, short_day};
        HoursOut { weekday: short_day(h.weekday).to_lowercase(), from: clock(h.from), to: clock(h.to) }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ResourceOut {
    pub id: Uuid,
    pub site_id: Uuid,
    /// room, equipment or staff.
    pub kind: String,
    pub name: String,
    /// The person a staff resource is.
    pub user_id: Option<Uuid>,
    pub user_name: Option<String>,
    /// Whether visits can be booked with it.
    pub active: bool,
    pub hours: Vec<HoursOut>,
}

impl From<Resource> for ResourceOut {
    fn from(r: Resource) -> Self {
        ResourceOut {
            hours: r.hours.iter().map(Into::into).collect(),
            id: r.id,
            site_id: r.site_id,
            kind: r.kind,
            name: r.name,
            user_id: r.user_id,
            user_name: r.user_name,
            active: r.active,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceIn {
    /// room, equipment or staff (cannot change later).
    pub kind: String,
    pub name: String,
    /// For a staff resource: the person's e-mail.
    #[serde(default)]
    pub user_email: Option<String>,
    #[serde(default)]
    pub active: Option<bool>,
    /// Weekly hours in the site's local time.
    #[serde(default)]
    pub hours: Vec<HoursOut>,
}

/// Hours from their JSON form; the error names the entry.
pub fn hours_in(list: &[HoursOut]) -> Result<Vec<Hours>, ApiError> {
    let mut out = Vec::new();
    for (i, h) in list.iter().enumerate() {
        let day = h.weekday.trim().parse::<Weekday>().map_err(|_| {
            ApiError::field("hours", &format!("entry {}: weekday must be mon, tue, wed, thu, fri, sat or sun", i + 1))
        })?;
        let (Some(from), Some(to)) = (parse_clock(&h.from), parse_clock(&h.to)) else {
            return Err(ApiError::field("hours", &format!("entry {}: times are HH:MM", i + 1)));
        };
        out.push(Hours::new(day, from, to)?);
    }
    check_hours(&mut out)?;
    Ok(out)
}

pub async fn resource_input(state: &AppState, b: &ResourceIn) -> ApiResult<store_c::ResourceInput> {
    let kind = ResourceKind::parse(&b.kind)?;
    let user_id = super::optional_user_named(state, "user", b.user_email.as_deref()).await?;
    Ok(store_c::ResourceInput {
        kind,
        name: b.name.clone(),
        user_id,
        active: b.active.unwrap_or(true),
        hours: hours_in(&b.hours)?,
    })
}

/// The site a caller may see.
pub async fn readable_site(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<clinbridge_store::identity::Site> {
    who.require(SITES_READ, Target::site(id))?;
    Ok(clinbridge_store::identity::site(&state.store, id).await?)
}

/// A site's rooms, equipment and staff with their weekly hours.
#[utoipa::path(get, path = "/api/v1/sites/{id}/resources", tag = "scheduling", params(("id" = Uuid, Path)),
    responses((status = 200, body = [ResourceOut]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_resources(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<ResourceOut>>> {
    readable_site(&state, &who, id).await?;
    Ok(Json(store_c::resources(&state.store, id).await?.into_iter().map(Into::into).collect()))
}

/// Adds a room, piece of equipment or staff member that visits can be booked with.
#[utoipa::path(post, path = "/api/v1/sites/{id}/resources", tag = "scheduling", params(("id" = Uuid, Path)), request_body = ResourceIn,
    responses((status = 201, body = ResourceOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_resource(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ResourceIn>,
) -> ApiResult<Response> {
    readable_site(&state, &who, id).await?;
    who.require(SITES_WRITE, Target::site(id))?;
    let input = resource_input(&state, &b).await?;
    let r = store_c::create_resource(&state.store, &who.acting(), id, input).await?;
    Ok((StatusCode::CREATED, Json(ResourceOut::from(r))).into_response())
}

/// The resource the caller may change (404 when they cannot see its site).
pub async fn writable_resource(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<Resource> {
    let r = store_c::resource(&state.store, id).await.map_err(|_| ApiError::NotFound("resource"))?;
    if !who.can(SITES_READ, Target::site(r.site_id)) {
        return Err(ApiError::NotFound("resource"));
    }
    who.require(SITES_WRITE, Target::site(r.site_id))?;
    Ok(r)
}

/// Renames a resource or changes its person, hours or whether it can be booked.
#[utoipa::path(put, path = "/api/v1/resources/{id}", tag = "scheduling", params(("id" = Uuid, Path)), request_body = ResourceIn,
    responses((status = 200, body = ResourceOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_resource(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ResourceIn>,
) -> ApiResult<Json<ResourceOut>> {
    writable_resource(&state, &who, id).await?;
    let input = resource_input(&state, &b).await?;
    Ok(Json(store_c::update_resource(&state.store, &who.acting(), id, input).await?.into()))
}

// ---------------------------------------------------------------- moving and booking

/// A local time typed as HH:MM.
pub fn time_of_day(field: &str, raw: &str) -> Result<NaiveTime, ApiError> {
    parse_clock(raw)
        .filter(|m| *m < 1440)
        .and_then(|m| NaiveTime::from_hms_opt(u32::try_from(m / 60).ok()?, u32::try_from(m % 60).ok()?, 0))
        .ok_or_else(|| ApiError::field(field, "must be a time of day as HH:MM"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleIn {
    /// The new day, inside the visit window (site-local).
    pub date: NaiveDate,
    /// For a booked visit: the new start (HH:MM, site-local); the same time of day when left out.
    #[serde(default)]
    pub time: Option<String>,
}

/// Moves a scheduled visit to another day inside its window (a booked visit keeps its
/// resources and length and is checked again for conflicts).
#[utoipa::path(post, path = "/api/v1/participant-visits/{id}/reschedule", tag = "scheduling", params(("id" = Uuid, Path)), request_body = RescheduleIn,
    responses((status = 200, body = ParticipantVisitOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reschedule(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<RescheduleIn>,
) -> ApiResult<Json<ParticipantVisitOut>> {
    writable_visit(&state, &who, id).await?;
    let time = match b.time.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(time_of_day("time", t)?),
        None => None,
    };
    Ok(Json(store_c::reschedule(&state.store, &who.acting(), id, b.date, time).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingIn {
    /// The day, inside the visit window (site-local).
    pub date: NaiveDate,
    /// Start, HH:MM in the site's time zone.
    pub time: String,
    /// Length in minutes (5 to 720).
    pub minutes: i64,
    /// Rooms, equipment and staff the visit holds (at least one).
    pub resources: Vec<Uuid>,
}

/// Books a scheduled visit into a slot with its resources. Refused (409) with the conflict
/// named when a resource is already booked then or does not keep hours then.
#[utoipa::path(post, path = "/api/v1/participant-visits/{id}/booking", tag = "scheduling", params(("id" = Uuid, Path)), request_body = BookingIn,
    responses((status = 200, body = ParticipantVisitOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn book(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<BookingIn>,
) -> ApiResult<Json<ParticipantVisitOut>> {
    writable_visit(&state, &who, id).await?;
    let time = time_of_day("time", &b.time)?;
    let booking = store_c::Booking { day: b.date, time, minutes: b.minutes, resources: b.resources };
    Ok(Json(store_c::book(&state.store, &who.acting(), id, booking).await?.into()))
}

/// Gives back a visit's slot and resources; the visit keeps its day.
#[utoipa::path(delete, path = "/api/v1/participant-visits/{id}/booking", tag = "scheduling", params(("id" = Uuid, Path)),
    responses((status = 200, body = ParticipantVisitOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn unbook(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ParticipantVisitOut>> {
    writable_visit(&state, &who, id).await?;
    Ok(Json(store_c::unbook(&state.store, &who.acting(), id).await?.into()))
}

// ---------------------------------------------------------------- the site calendar

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CalendarQuery {
    /// day or week (default).
    #[serde(default)]
    pub view: Option<String>,
    /// A day of the period shown (default: today at the site).
    #[serde(default)]
    pub date: Option<NaiveDate>,
}

#[derive(Serialize, ToSchema)]
pub struct BookedResourceOut {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct CalendarVisitOut {
    pub id: Uuid,
    pub participant_id: Uuid,
    pub subject_id: String,
    pub study_code: String,
    pub code: String,
    pub name: String,
    pub status: String,
    /// The day the visit is planned for (site-local).
    pub day: NaiveDate,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub resources: Vec<BookedResourceOut>,
}

impl From<CalendarVisit> for CalendarVisitOut {
    fn from(v: CalendarVisit) -> Self {
        CalendarVisitOut {
            day: v.day(),
            id: v.id,
            participant_id: v.participant_id,
            subject_id: v.subject_id,
            study_code: v.study_code,
            code: v.code,
            name: v.name,
            status: v.status,
            window_start: v.window_start,
            window_end: v.window_end,
            starts_at: v.starts_at,
            ends_at: v.ends_at,
            resources: v.resources.into_iter().map(|(id, name, kind)| BookedResourceOut { id, name, kind }).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CalendarOut {
    pub site_code: String,
    pub time_zone: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Visits booked into slots in the period.
    pub booked: Vec<CalendarVisitOut>,
    /// Open visits planned for days of the period that have no slot yet.
    pub unbooked: Vec<CalendarVisitOut>,
}

/// The site's calendar (a site-wide scheduling grant is needed).
pub async fn site_calendar(
    state: &AppState,
    who: &Authed,
    site_id: Uuid,
    view: Option<&str>,
    date: Option<NaiveDate>,
) -> ApiResult<(clinbridge_store::identity::Site, View, NaiveDate, Vec<CalendarVisit>, Vec<CalendarVisit>)> {
    who.require(SCHEDULING_READ, Target::site(site_id))?;
    let site = clinbridge_store::identity::site(&state.store, site_id).await?;
    let view = View::parse(view.unwrap_or(""))?;
    let tz: chrono_tz::Tz = site.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let day = date.unwrap_or_else(|| clinbridge_store::now().with_timezone(&tz).date_naive());
    if !(1900..=2200).contains(&chrono::Datelike::year(&day)) {
        return Err(ApiError::field("date", "must be between the years 1900 and 2200"));
    }
    let (from, to) = view.days(day);
    let (booked, due) = store_c::site_calendar(&state.store, site_id, tz, from, to).await?;
    Ok((site, view, day, booked, due))
}

/// A site's booked visits by time and resource, and the open visits of the period without a slot.
#[utoipa::path(get, path = "/api/v1/sites/{id}/calendar", tag = "scheduling", params(("id" = Uuid, Path), CalendarQuery),
    responses((status = 200, body = CalendarOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn calendar(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<CalendarQuery>,
) -> ApiResult<Json<CalendarOut>> {
    let (site, view, day, booked, due) = site_calendar(&state, &who, id, q.view.as_deref(), q.date).await?;
    let (from, to) = view.days(day);
    Ok(Json(CalendarOut {
        site_code: site.code,
        time_zone: site.time_zone,
        from,
        to,
        booked: booked.into_iter().map(Into::into).collect(),
        unbooked: due.into_iter().map(Into::into).collect(),
    }))
}

// ---------------------------------------------------------------- feeds

#[derive(Serialize, ToSchema)]
pub struct FeedOut {
    pub id: Uuid,
    pub name: String,
    /// staff (visits you are booked for), site (every booked visit of a site) or field (a
    /// clinical specialist's account visits and cases, four weeks back to twelve ahead).
    pub kind: String,
    pub site_code: Option<String>,
    /// The subscription address (the secret in it is the credential); null while the feed is
    /// turned off. Regenerating gives a new address and retires the old one.
    pub url: Option<String>,
    /// False once turned off.
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// Where this server is reached: the configured public address, or the Host asked for.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(p) = &state.config.public_url {
        return p.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:8080");
    format!("http://{host}")
}

pub fn feed_out(base: &str, f: Feed, secret: Option<String>) -> FeedOut {
    FeedOut {
        name: f.name(),
        url: secret.map(|s| format!("{base}/feeds/{s}.ics")),
        active: f.revoked_at.is_none(),
        id: f.id,
        kind: f.kind,
        site_code: f.site_code,
        created_at: f.created_at,
    }
}

/// The sites whose whole calendar the caller may subscribe to.
pub async fn feed_sites(state: &AppState, who: &Authed) -> ApiResult<Vec<Uuid>> {
    let sites = clinbridge_store::identity::sites(&state.store).await?;
    Ok(sites.into_iter().filter(|s| s.active && who.can(SCHEDULING_READ, Target::site(s.id))).map(|s| s.id).collect())
}

/// The caller's calendar feeds, created on first use: visits they are booked for as staff, and
/// each site whose calendar they may read.
#[utoipa::path(get, path = "/api/v1/me/feeds", tag = "scheduling", responses((status = 200, body = [FeedOut])))]
pub async fn list_feeds(
    State(state): State<AppState>,
    who: Authed,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<FeedOut>>> {
    let sites = feed_sites(&state, &who).await?;
    let base = base_url(&state, &headers);
    let feeds = store_c::feeds_for(&state.store, &who.acting(), who.user.id, sites).await?;
    Ok(Json(feeds.into_iter().map(|(f, s)| feed_out(&base, f, s)).collect()))
}

/// The caller's own feed (403 for anyone else's).
pub async fn own_feed(state: &AppState, who: &Authed, id: Uuid) -> ApiResult<Feed> {
    let f = store_c::feed(&state.store, id).await?;
    if f.user_id != who.user.id {
        return Err(ApiError::Forbidden);
    }
    Ok(f)
}

/// Gives a feed a new address (the old one stops working) and turns it on.
#[utoipa::path(post, path = "/api/v1/me/feeds/{id}/regenerate", tag = "scheduling", params(("id" = Uuid, Path)),
    responses((status = 200, body = FeedOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn regenerate_feed(
    State(state): State<AppState>,
    who: Authed,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<FeedOut>> {
    own_feed(&state, &who, id).await?;
    let (f, secret) = store_c::regenerate_feed(&state.store, &who.acting(), id).await?;
    Ok(Json(feed_out(&base_url(&state, &headers), f, Some(secret))))
}

/// Turns a feed off: its address answers nothing until it is regenerated.
#[utoipa::path(delete, path = "/api/v1/me/feeds/{id}", tag = "scheduling", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_feed(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    own_feed(&state, &who, id).await?;
    store_c::revoke_feed(&state.store, &who.acting(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn feed_not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "No such calendar feed.\n")
        .into_response()
}

/// The feed itself, as iCalendar. The secret in the address is the credential; a site feed
/// still needs its owner's current access to the site. Events carry subject ids and visit codes
/// only, never names.
pub async fn serve_feed(State(state): State<AppState>, Path(secret): Path<String>) -> Response {
    let secret = secret.strip_suffix(".ics").unwrap_or(&secret);
    let feed = match store_c::feed_by_secret(&state.store, secret).await {
        Ok(Some(f)) => f,
        Ok(None) => return feed_not_found(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Some(site) = feed.site_id {
        let allowed = match clinbridge_store::identity::actor(&state.store, feed.user_id).await {
            Ok(actor) => authorize(&actor, SCHEDULING_READ, Target::site(site)).allowed(),
            Err(_) => false,
        };
        if !allowed {
            return feed_not_found();
        }
    }
    if feed.kind == "field" {
        return serve_field_feed(&state, &feed).await;
    }
    let visits = match store_c::feed_visits(&state.store, &feed).await {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let host = feed_host(&state);
    let events: Vec<clinbridge_interop::ical::Event> = visits
        .into_iter()
        .filter_map(|v| {
            let (start, end) = (v.starts_at?, v.ends_at?);
            let rooms: Vec<String> =
                v.resources.iter().filter(|r| r.2 == "room").map(|r| format!("{} {}", v.site_code, r.1)).collect();
            Some(clinbridge_interop::ical::Event {
                uid: format!("visit-{}@{host}", v.id),
                summary: format!("{} {}", v.subject_id, v.code),
                location: rooms.join(", "),
                start,
                end,
                tz: v.tz(),
                stamp: v.updated_at,
            })
        })
        .collect();
    ical_response(&feed, &events)
}

/// The host named in event UIDs: the configured public address, or "clinbridge".
fn feed_host(state: &AppState) -> String {
    state
        .config
        .public_url
        .as_deref()
        .and_then(|u| u.split("://").nth(1))
        .map(|h| h.trim_end_matches('/').to_string())
        .unwrap_or_else(|| "clinbridge".into())
}

fn ical_response(feed: &Feed, events: &[clinbridge_interop::ical::Event]) -> Response {
    let body = clinbridge_interop::ical::calendar(&feed.name(), events, clinbridge_store::now());
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    res
}

/// Weeks a field feed shows before and after the current one.
pub const FIELD_WEEKS_BACK: i64 = 4;
pub const FIELD_WEEKS_AHEAD: i64 = 12;

/// A clinical specialist's field feed: their visits and cases from four weeks back to twelve
/// ahead, as the week plan shows them, in their time zone. The owner must still change device
/// records.
async fn serve_field_feed(state: &AppState, feed: &Feed) -> Response {
    let actor = match clinbridge_store::identity::actor(&state.store, feed.user_id).await {
        Ok(a) if authorize(&a, super::device::DEVICE_WRITE, Target::ORG).allowed() => a,
        _ => return feed_not_found(),
    };
    let tz: chrono_tz::Tz = match clinbridge_store::identity::user(&state.store, feed.user_id).await {
        Ok(u) => u.time_zone.parse().unwrap_or(chrono_tz::UTC),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let host = feed_host(state);
    let this_week = super::device::monday_of(clinbridge_store::now().with_timezone(&tz).date_naive());
    let mut events = Vec::new();
    for w in -FIELD_WEEKS_BACK..FIELD_WEEKS_AHEAD {
        let start = this_week + chrono::Duration::weeks(w);
        match clinbridge_store::device::week_plan(&state.store, &actor, feed.user_id, start).await {
            Ok(items) => events.extend(items.iter().map(|i| i.ical_event(&host, tz))),
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    ical_response(feed, &events)
}
