//! Sign-in, the second-factor step and sign-out.

use super::{Chrome, PageResult, render, see_other};
use crate::AppState;
use crate::auth::{self, PartialSession};
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use clinbridge_store::identity::{self, LoginOutcome, SessionStage};
use serde::Deserialize;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/login", login_page)
        .post("/login", login_submit)
        .get("/login/totp", totp_page)
        .post("/login/totp", totp_submit)
        .post("/logout", logout)
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    error: Option<String>,
    email: String,
    next: String,
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// Only same-site paths are followed after sign-in.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".into(),
    }
}

async fn login_page(Query(q): Query<LoginQuery>) -> impl IntoResponse {
    let notice = q.signed_out.map(|_| "You are signed out.".to_string());
    render(&LoginPage {
        chrome: Chrome::anonymous().with_notice(notice),
        error: None,
        email: String::new(),
        next: safe_next(q.next.as_deref()),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn login_submit(State(state): State<AppState>, headers: HeaderMap, Form(f): Form<LoginForm>) -> PageResult {
    let previous = auth::session_cookie(&headers);
    let outcome =
        identity::login(&state.store, auth::request_id(&headers), &f.email, &f.password, None, false, previous).await?;
    let next = safe_next(f.next.as_deref());
    match outcome {
        LoginOutcome::Session { token, stage, .. } => {
            let to = match stage {
                SessionStage::Full => next,
                SessionStage::Mfa => "/login/totp".into(),
                SessionStage::Enroll => "/profile/totp".into(),
            };
            let mut res = see_other(&to);
            res.headers_mut().insert(header::SET_COOKIE, auth::set_session_cookie(&state, &token));
            Ok(res)
        }
        LoginOutcome::Refused | LoginOutcome::TotpRequired => {
            let page = LoginPage {
                chrome: Chrome::anonymous(),
                error: Some("Wrong e-mail or password, or the account is locked after repeated failures.".into()),
                email: f.email.chars().take(254).collect(),
                next,
            };
            Ok((StatusCode::UNAUTHORIZED, render(&page)).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "login_totp.html")]
struct TotpPage {
    chrome: Chrome,
    error: Option<String>,
}

async fn totp_page(session: PartialSession) -> PageResult {
    if session.stage == SessionStage::Full {
        return Ok(see_other("/"));
    }
    Ok(render(&TotpPage { chrome: Chrome::anonymous(), error: None }))
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

async fn totp_submit(State(state): State<AppState>, session: PartialSession, Form(f): Form<CodeForm>) -> PageResult {
    if identity::totp_complete(&state.store, session.request_id.clone(), &session.token, &f.code).await? {
        return Ok(see_other("/"));
    }
    let page = TotpPage {
        chrome: Chrome::anonymous(),
        error: Some("That code did not match. Try the next code from your app.".into()),
    };
    Ok((StatusCode::UNAUTHORIZED, render(&page)).into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    if let Some(token) = auth::session_cookie(&headers) {
        let acting = match identity::session(&state.store, &token).await? {
            Some(info) => clinbridge_store::Acting::user(info.user.id, auth::request_id(&headers)),
            None => clinbridge_store::Acting::system(),
        };
        identity::logout(&state.store, &acting, &token).await?;
    }
    let mut res = see_other("/login?signed_out=1");
    res.headers_mut().insert(header::SET_COOKIE, auth::clear_session_cookie(&state));
    Ok(res)
}
