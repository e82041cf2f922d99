//! The signed-in person's own account: password, second factor, API tokens.

use super::{Chrome, PageError, PageResult, chrome, form_errors, local, render, see_other};
use crate::AppState;
use crate::auth::{Authed, PartialSession};
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clinbridge_core::identity::{Email, NewPassword};
use clinbridge_store::Acting;
use clinbridge_store::edc::redcap;
use clinbridge_store::identity::{self, SessionStage};
use serde::Deserialize;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/profile", profile)
        .post("/profile/password", change_password)
        .get("/profile/totp", totp_page)
        .post("/profile/totp/start", totp_start)
        .post("/profile/totp/confirm", totp_confirm)
        .post("/profile/totp/disable", totp_disable)
        .get("/profile/tokens", tokens)
        .post("/profile/tokens", create_token)
        .post("/profile/tokens/{id}/revoke", revoke_token)
        .post("/profile/redcap-tokens", create_redcap_token)
        .post("/profile/redcap-tokens/{id}/revoke", revoke_redcap_token)
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    chrome: Chrome,
    name: String,
    email: String,
    tz: String,
    totp_enabled: bool,
    grants: Vec<(String, String)>,
    feeds: Vec<super::calendar::FeedLine>,
    errors: Vec<(String, String)>,
}

async fn profile_page(
    state: &AppState,
    who: &Authed,
    headers: &axum::http::HeaderMap,
    errors: Vec<(String, String)>,
    notice: Option<String>,
) -> Result<ProfilePage, PageError> {
    let grants = identity::grants_of(&state.store, who.user.id)
        .await?
        .into_iter()
        .map(|g| {
            let scope = match g.scope {
                clinbridge_core::identity::Scope::Organization => "whole organization".to_string(),
                clinbridge_core::identity::Scope::Site(_) => format!("site {}", g.scope_label),
                clinbridge_core::identity::Scope::Study(_) => format!("study {}", g.scope_label),
            };
            (g.role.label().to_string(), scope)
        })
        .collect();
    Ok(ProfilePage {
        chrome: chrome(state, who, "/profile").await.with_notice(notice),
        name: who.user.name.clone(),
        email: who.user.email.clone(),
        tz: who.user.time_zone.clone(),
        totp_enabled: who.user.totp_enabled,
        grants,
        feeds: super::calendar::feed_lines(state, who, headers).await?,
        errors,
    })
}

async fn profile(State(state): State<AppState>, who: Authed, headers: axum::http::HeaderMap) -> PageResult {
    Ok(render(&profile_page(&state, &who, &headers, Vec::new(), None).await?))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new_password: String,
    confirm: String,
}

async fn change_password(
    State(state): State<AppState>,
    who: Authed,
    headers: axum::http::HeaderMap,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let mut errors = Vec::new();
    if !identity::check_password(&state.store, who.user.id, &f.current).await? {
        errors.push(("current".to_string(), "is not your current password".to_string()));
    }
    if f.new_password != f.confirm {
        errors.push(("confirm".to_string(), "does not match the new password".to_string()));
    }
    let email = Email::parse(&who.user.email).ok();
    let new = match NewPassword::parse(&f.new_password, email.as_ref()) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.extend(e.0.into_iter().map(|e| ("new password".to_string(), e.message)));
            None
        }
    };
    if let (true, Some(p)) = (errors.is_empty(), new) {
        identity::set_password(&state.store, &who.acting(), who.user.id, &p, who.session.clone()).await?;
        let page = profile_page(
            &state,
            &who,
            &headers,
            Vec::new(),
            Some("Your password is changed. Other sessions were signed out.".into()),
        )
        .await?;
        return Ok(render(&page));
    }
    let page = profile_page(&state, &who, &headers, errors, None).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

#[derive(Template)]
#[template(path = "totp.html")]
struct TotpPage {
    chrome: Chrome,
    required: bool,
    error: Option<String>,
    qr_svg: Option<String>,
    secret: String,
}

async fn session_chrome(state: &AppState, s: &PartialSession) -> Chrome {
    if s.stage == SessionStage::Full
        && let Ok(actor) = identity::actor(&state.store, s.user.id).await
    {
        let who =
            Authed { user: s.user.clone(), actor, session: Some(s.token.clone()), request_id: s.request_id.clone() };
        return chrome(state, &who, "/profile").await;
    }
    Chrome::anonymous()
}

fn qr(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build())
}

async fn totp_view(state: &AppState, s: &PartialSession, error: Option<String>) -> Result<TotpPage, PageError> {
    let uri = identity::totp_pending_uri(&state.store, s.user.id).await?;
    let secret = uri
        .as_deref()
        .and_then(|u| u.split("secret=").nth(1))
        .map(|rest| rest.split('&').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    Ok(TotpPage {
        chrome: session_chrome(state, s).await,
        required: s.stage == SessionStage::Enroll,
        error,
        qr_svg: uri.as_deref().and_then(qr),
        secret,
    })
}

fn enrolment_session(s: &PartialSession) -> Result<(), PageError> {
    match s.stage {
        SessionStage::Mfa => Err(PageError(ApiError::Unauthenticated)),
        _ => Ok(()),
    }
}

async fn totp_page(State(state): State<AppState>, s: PartialSession) -> PageResult {
    if s.stage == SessionStage::Mfa {
        return Ok(see_other("/login/totp"));
    }
    if s.user.totp_enabled {
        return Ok(see_other("/profile"));
    }
    Ok(render(&totp_view(&state, &s, None).await?))
}

async fn totp_start(State(state): State<AppState>, s: PartialSession) -> PageResult {
    enrolment_session(&s)?;
    identity::totp_begin(&state.store, &Acting::user(s.user.id, s.request_id.clone()), s.user.id).await?;
    Ok(see_other("/profile/totp"))
}

#[derive(Template)]
#[template(path = "recovery.html")]
struct RecoveryPage {
    chrome: Chrome,
    codes: Vec<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

async fn totp_confirm(State(state): State<AppState>, s: PartialSession, Form(f): Form<CodeForm>) -> PageResult {
    enrolment_session(&s)?;
    match identity::totp_confirm(
        &state.store,
        &Acting::user(s.user.id, s.request_id.clone()),
        s.user.id,
        &f.code,
        Some(s.token.clone()),
    )
    .await
    {
        Ok(codes) => {
            let chrome = session_chrome(&state, &PartialSession { stage: SessionStage::Full, ..s }).await;
            Ok(render(&RecoveryPage { chrome, codes }))
        }
        Err(e) => {
            let msg =
                form_errors(e.into())?.into_iter().map(|(f, m)| format!("{f} {m}")).collect::<Vec<_>>().join("; ");
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&totp_view(&state, &s, Some(msg)).await?)).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordOnly {
    password: String,
}

async fn totp_disable(
    State(state): State<AppState>,
    who: Authed,
    headers: axum::http::HeaderMap,
    Form(f): Form<PasswordOnly>,
) -> PageResult {
    if !identity::check_password(&state.store, who.user.id, &f.password).await? {
        let page = profile_page(
            &state,
            &who,
            &headers,
            vec![("password".into(), "is not your current password".into())],
            None,
        )
        .await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response());
    }
    identity::totp_disable(&state.store, &who.acting(), who.user.id, Some("turned off by the user".into())).await?;
    Ok(see_other("/profile"))
}

pub struct TokenRow {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub last_used: String,
    pub status: String,
    pub active: bool,
}

pub fn token_rows(tokens: Vec<identity::ApiToken>, tz: chrono_tz::Tz) -> Vec<TokenRow> {
    tokens
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created: local(t.created_at, tz),
            last_used: t.last_used_at.map(|l| local(l, tz)).unwrap_or_else(|| "never".into()),
            status: if t.revoked_at.is_some() { "revoked".into() } else { "active".into() },
            active: t.revoked_at.is_none(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    tokens: Vec<TokenRow>,
    secret: Option<String>,
    errors: Vec<(String, String)>,
    revoke_base: &'static str,
    /// REDCap API tokens, one per study (prefix only).
    redcap: Vec<RedcapTokenRow>,
    /// (code, title) of the studies a REDCap token can be made for.
    redcap_studies: Vec<(String, String)>,
    /// A new REDCap token, shown once: (study code, token).
    redcap_secret: Option<(String, String)>,
}

pub struct RedcapTokenRow {
    id: Uuid,
    study: String,
    prefix: String,
    created: String,
    last_used: String,
}

async fn tokens_page(
    state: &AppState,
    who: &Authed,
    secret: Option<String>,
    errors: Vec<(String, String)>,
) -> Result<TokensPage, PageError> {
    let tokens = token_rows(identity::tokens_of(&state.store, who.user.id).await?, who.tz());
    let tz = who.tz();
    let redcap = redcap::tokens_of(&state.store, who.user.id)
        .await?
        .into_iter()
        .map(|t| RedcapTokenRow {
            id: t.id,
            study: t.study_code,
            prefix: t.prefix,
            created: local(t.created_at, tz),
            last_used: t.last_used_at.map(|l| local(l, tz)).unwrap_or_else(|| "never".into()),
        })
        .collect::<Vec<_>>();
    let redcap_studies = clinbridge_store::trials::studies(&state.store)
        .await?
        .into_iter()
        .filter(|s| crate::redcap::may_hold_token(&who.actor, s.id) && !redcap.iter().any(|t| t.study == s.code))
        .map(|s| (s.code, s.title))
        .collect();
    Ok(TokensPage {
        chrome: chrome(state, who, "/profile").await,
        tokens,
        secret,
        errors,
        revoke_base: "/profile/tokens",
        redcap,
        redcap_studies,
        redcap_secret: None,
    })
}

async fn tokens(State(state): State<AppState>, who: Authed) -> PageResult {
    Ok(render(&tokens_page(&state, &who, None, Vec::new()).await?))
}

#[derive(Deserialize)]
pub struct TokenForm {
    name: String,
}

async fn create_token(State(state): State<AppState>, who: Authed, Form(f): Form<TokenForm>) -> PageResult {
    match identity::create_token(&state.store, &who.acting(), who.user.id, &f.name).await {
        Ok((_, secret)) => Ok(render(&tokens_page(&state, &who, Some(secret), Vec::new()).await?)),
        Err(e) => {
            let errors = form_errors(e.into())?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&tokens_page(&state, &who, None, errors).await?))
                .into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct RedcapTokenForm {
    study: String,
}

/// Makes the person's REDCap API token for a study where they hold EDC access; shown once.
async fn create_redcap_token(State(state): State<AppState>, who: Authed, Form(f): Form<RedcapTokenForm>) -> PageResult {
    let study = clinbridge_store::trials::study_by_code(&state.store, f.study.trim()).await?;
    if !crate::redcap::may_hold_token(&who.actor, study.id) {
        return Err(ApiError::Forbidden.into());
    }
    match redcap::create_token(&state.store, &who.acting(), who.user.id, study.id).await {
        Ok((_, secret)) => {
            let mut page = tokens_page(&state, &who, None, Vec::new()).await?;
            page.redcap_secret = Some((study.code, secret));
            Ok(render(&page))
        }
        Err(e) => {
            let errors = form_errors(e.into())?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&tokens_page(&state, &who, None, errors).await?))
                .into_response())
        }
    }
}

/// Revokes one of the person's own REDCap tokens (another's reads as not found).
async fn revoke_redcap_token(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    redcap::revoke_token(&state.store, &who.acting(), who.user.id, id).await?;
    Ok(see_other("/profile/tokens"))
}

async fn revoke_token(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    let token = identity::token(&state.store, id).await?;
    if token.user_id != who.user.id {
        return Err(ApiError::Forbidden.into());
    }
    identity::revoke_token(&state.store, &who.acting(), id).await?;
    Ok(see_other("/profile/tokens"))
}
