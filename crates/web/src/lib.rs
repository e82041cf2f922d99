//! Clinbridge's HTTP layer: the JSON API under `/api/v1` (with its OpenAPI document), the
//! server-rendered pages, and the middleware every request passes (request ids, tracing,
//! security headers, body limits, CSRF defence). One module per context, as in the store.
#![forbid(unsafe_code)]

pub mod api;
pub mod assets;
pub mod auth;
pub mod error;
pub mod notify;
pub mod openapi;
pub mod pages;
pub mod redcap;
pub mod routes;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use clinbridge_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Largest request body accepted anywhere (contexts with uploads raise it per route).
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct SmtpConfig {
    pub url: String,
    pub from: String,
}

/// Server settings; every one can also be given as a `CLINBRIDGE_*` environment variable.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address users reach us at (`https://…` turns on Secure cookies and HSTS).
    pub public_url: Option<String>,
    pub smtp: Option<SmtpConfig>,
    pub webhook_url: Option<String>,
    pub tick_interval: Duration,
    pub checkpoint_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            public_url: None,
            smtp: None,
            webhook_url: None,
            tick_interval: Duration::from_secs(30),
            checkpoint_interval: Duration::from_secs(3600),
        }
    }
}

impl Config {
    pub fn secure(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }

    /// Whether an Origin header names this server: the configured public address, or the
    /// Host the request was sent to.
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/');
        if let Some(public) = &self.public_url {
            return origin.eq_ignore_ascii_case(public.trim_end_matches('/'));
        }
        let Some(host) = host else { return false };
        let bare = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
        bare.is_some_and(|b| b.eq_ignore_ascii_case(host))
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
}

/// The whole application: every route and every layer.
pub fn app(state: AppState) -> Router {
    let (router, _) = routes::all().into_parts();
    let x_request_id = HeaderName::from_static("x-request-id");
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::csrf_guard))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security_headers))
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let rid = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %rid)
        }))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}

async fn not_found(req: Request) -> Response {
    if auth::is_api(req.uri().path()) {
        error::ApiError::NotFound("resource").into_response()
    } else {
        pages::not_found_page().into_response()
    }
}

async fn method_not_allowed() -> Response {
    error::ApiError::MethodNotAllowed.into_response()
}

async fn security_headers(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages and API answers may carry personal data: never keep them in shared caches.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.secure() {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE && !res.headers().contains_key(header::CONTENT_TYPE) {
        return error::ApiError::PayloadTooLarge.into_response();
    }
    res
}

/// Serves until `shutdown` resolves, then finishes requests in flight; the background ticker
/// runs alongside.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ticker = notify::spawn_ticker(state.clone());
    let result = axum::serve(listener, app(state.clone())).with_graceful_shutdown(shutdown).await;
    ticker.abort();
    state.store.close().await;
    result
}
