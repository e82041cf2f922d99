//! Who is asking: a session cookie (pages and the API) or a bearer token (the API), turned
//! into the acting user and their grants. Also the CSRF check every cookie-authenticated
//! state change passes, and the session cookie itself.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use clinbridge_core::policy::{Action, Actor, Target, allowed_anywhere, authorize};
use clinbridge_store::Acting;
use clinbridge_store::identity::{self, SessionStage, User};

pub const COOKIE: &str = "cb_session";
pub const SECURE_COOKIE: &str = "__Host-cb_session";

/// The signed-in person for this request.
#[derive(Debug, Clone)]
pub struct Authed {
    pub user: User,
    pub actor: Actor,
    /// The session token when signed in by cookie (none for bearer tokens).
    pub session: Option<String>,
    pub request_id: Option<String>,
}

impl Authed {
    pub fn acting(&self) -> Acting {
        Acting::user(self.user.id, self.request_id.clone())
    }
    pub fn can(&self, action: Action, target: Target) -> bool {
        authorize(&self.actor, action, target).allowed()
    }
    pub fn require(&self, action: Action, target: Target) -> Result<(), ApiError> {
        if self.can(action, target) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
    pub fn can_anywhere(&self, action: Action) -> bool {
        allowed_anywhere(&self.actor, action)
    }
    pub fn require_anywhere(&self, action: Action) -> Result<(), ApiError> {
        if self.can_anywhere(action) { Ok(()) } else { Err(ApiError::Forbidden) }
    }
    pub fn tz(&self) -> chrono_tz::Tz {
        self.user.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
}

pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(|s| s.chars().take(64).collect())
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(header::COOKIE) {
        let Ok(s) = value.to_str() else { continue };
        for part in s.split(';') {
            let part = part.trim();
            for name in [SECURE_COOKIE, COOKIE] {
                if let Some(v) = part.strip_prefix(name).and_then(|r| r.strip_prefix('='))
                    && !v.is_empty()
                {
                    return Some(v.to_string());
                }
            }
        }
    }
    None
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

pub fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// Why a request is not authenticated, answered as JSON for the API and as a redirect for pages.
pub enum AuthRejection {
    Api(ApiError),
    Redirect(String),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Api(e) => e.into_response(),
            AuthRejection::Redirect(to) => Redirect::to(&to).into_response(),
        }
    }
}

fn login_redirect(parts: &Parts) -> String {
    let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if parts.method == Method::GET && next != "/" {
        format!("/login?next={}", urlencode(next))
    } else {
        "/login".into()
    }
}

pub fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).map(|e| e.trim_start_matches('=').to_string()).unwrap_or_default()
}

/// A session at any stage (for the second-factor pages).
pub struct PartialSession {
    pub user: User,
    pub stage: SessionStage,
    pub token: String,
    pub request_id: Option<String>,
}

impl FromRequestParts<AppState> for PartialSession {
    type Rejection = AuthRejection;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let api = is_api(parts.uri.path());
        let reject = || {
            if api { AuthRejection::Api(ApiError::Unauthenticated) } else { AuthRejection::Redirect("/login".into()) }
        };
        let token = session_cookie(&parts.headers).ok_or_else(reject)?;
        let info = identity::session(&state.store, &token)
            .await
            .map_err(|e| AuthRejection::Api(e.into()))?
            .ok_or_else(reject)?;
        Ok(PartialSession { user: info.user, stage: info.stage, token, request_id: request_id(&parts.headers) })
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = AuthRejection;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(a) = parts.extensions.get::<Authed>() {
            return Ok(a.clone());
        }
        let api = is_api(parts.uri.path());
        let rid = request_id(&parts.headers);
        let store = &state.store;
        let internal = |e: clinbridge_store::StoreError| AuthRejection::Api(ApiError::from(e));
        let (user, session) = if let Some(token) = bearer(&parts.headers) {
            match identity::authenticate_token(store, &token).await.map_err(internal)? {
                Some(u) => (u, None),
                None => return Err(AuthRejection::Api(ApiError::Unauthenticated)),
            }
        } else if let Some(token) = session_cookie(&parts.headers) {
            match identity::session(store, &token).await.map_err(internal)? {
                Some(info) => match info.stage {
                    SessionStage::Full => (info.user, Some(token)),
                    SessionStage::Mfa if !api => {
                        return Err(AuthRejection::Redirect("/login/totp".into()));
                    }
                    SessionStage::Enroll if !api => {
                        return Err(AuthRejection::Redirect("/profile/totp".into()));
                    }
                    _ => return Err(AuthRejection::Api(ApiError::Unauthenticated)),
                },
                None if api => return Err(AuthRejection::Api(ApiError::Unauthenticated)),
                None => return Err(AuthRejection::Redirect(login_redirect(parts))),
            }
        } else if api {
            return Err(AuthRejection::Api(ApiError::Unauthenticated));
        } else {
            return Err(AuthRejection::Redirect(login_redirect(parts)));
        };
        let actor = identity::actor(store, user.id).await.map_err(internal)?;
        let authed = Authed { user, actor, session, request_id: rid };
        parts.extensions.insert(authed.clone());
        Ok(authed)
    }
}

/// The Set-Cookie value for a new session. `Secure` (and the `__Host-` prefix) when the public
/// address is HTTPS; always HttpOnly and SameSite=Lax; no Max-Age, the server times it out.
pub fn set_session_cookie(state: &AppState, token: &str) -> HeaderValue {
    let v = if state.config.secure() {
        format!("{SECURE_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Lax")
    } else {
        format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax")
    };
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("cb_session=; Path=/"))
}

pub fn clear_session_cookie(state: &AppState) -> HeaderValue {
    if state.config.secure() {
        HeaderValue::from_static("__Host-cb_session=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0")
    } else {
        HeaderValue::from_static("cb_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }
}

/// CSRF defence for every state change not authenticated by a bearer token: the browser's
/// Sec-Fetch-Site must say same-origin (or a user-typed navigation), or, where a browser does
/// not send it, the Origin must be ours. Requests with neither header come from non-browser
/// clients, which cannot be made to carry a victim's cookie; SameSite=Lax covers old browsers.
pub async fn csrf_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // The REDCap API reads no cookie: each call is authorized by the token in its body alone.
    let redcap = req.uri().path().starts_with("/redcap/api");
    if safe || redcap || bearer(req.headers()).is_some() {
        return next.run(req).await;
    }
    let headers = req.headers();
    let refused = if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        !matches!(site, "same-origin" | "none")
    } else if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        !state.config.origin_allowed(origin, headers.get(header::HOST).and_then(|v| v.to_str().ok()))
    } else {
        false
    };
    if refused {
        tracing::warn!(path = %req.uri().path(), "refused a cross-site state change");
        let e = ApiError::BadRequest {
            code: "cross_site_request",
            message: "Cross-site requests cannot change anything here.".into(),
        };
        return (StatusCode::FORBIDDEN, axum::Json(e.body())).into_response();
    }
    next.run(req).await
}
