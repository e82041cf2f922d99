//! Static assets embedded in the binary: our stylesheet and the vendored htmx.

use crate::routes::Routes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

const APP_CSS: &str = include_str!("../assets/app.css");
const HTMX: &str = include_str!("../assets/htmx.min.js");
const ICON: &str = include_str!("../assets/icon.svg");
const EDC_FORM: &str = include_str!("../assets/edc-form.js");

pub fn register(r: Routes) -> Routes {
    r.get("/assets/app.css", css)
        .get("/assets/htmx.min.js", htmx)
        .get("/assets/icon.svg", icon)
        .get("/assets/edc-form.js", edc_form)
        .get("/favicon.ico", icon)
        .get("/healthz", healthz)
}

fn cached(body: &'static str, kind: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    res
}

async fn css() -> Response {
    cached(APP_CSS, "text/css; charset=utf-8")
}

async fn icon() -> Response {
    cached(ICON, "image/svg+xml")
}

async fn htmx() -> Response {
    cached(HTMX, "text/javascript; charset=utf-8")
}

/// Live branching and calculations on EDC form pages.
async fn edc_form() -> Response {
    cached(EDC_FORM, "text/javascript; charset=utf-8")
}

/// Liveness and database reachability.
async fn healthz(axum::extract::State(state): axum::extract::State<crate::AppState>) -> Response {
    match clinbridge_store::identity::organization(&state.store).await {
        Ok(_) | Err(clinbridge_store::StoreError::NotFound(_)) => {
            axum::Json(serde_json::json!({"status": "ok", "database": state.store.backend().as_str()})).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({"status": "unavailable"})))
                .into_response()
        }
    }
}
