//! Identity API: sign in and out, the current user, users, grants, sites and API tokens.

use super::{ApiJson, ApiPath};
use crate::AppState;
use crate::auth::{self, Authed};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::routes::Routes;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use clinbridge_core::identity::{Email, Grant, NewPassword, Role, Scope, TimeZone};
use clinbridge_core::policy::{Action, Context, Op, Target};
use clinbridge_store::identity::{self as store_identity, LoginOutcome};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

pub fn register(r: Routes) -> Routes {
    r.post("/api/v1/session", login)
        .delete("/api/v1/session", logout)
        .get("/api/v1/me", me)
        .get("/api/v1/users", list_users)
        .post("/api/v1/users", create_user)
        .get("/api/v1/users/{id}", get_user)
        .post("/api/v1/users/{id}/deactivate", deactivate_user)
        .post("/api/v1/users/{id}/activate", activate_user)
        .post("/api/v1/users/{id}/grants", add_grant)
        .delete("/api/v1/grants/{id}", remove_grant)
        .get("/api/v1/sites", list_sites)
        .post("/api/v1/sites", create_site)
        .get("/api/v1/sites/{id}", get_site)
        .put("/api/v1/sites/{id}", update_site)
        .get("/api/v1/tokens", list_tokens)
        .post("/api/v1/tokens", create_token)
        .delete("/api/v1/tokens/{id}", revoke_token)
}

pub const ADMIN: Action = Action::new(Context::Identity, Op::Administer);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The current code from the authenticator app, when the account uses a second factor.
    pub totp: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub active: bool,
    pub totp_enabled: bool,
    pub time_zone: String,
    pub locked_until: Option<DateTime<Utc>>,
}

impl From<store_identity::User> for UserOut {
    fn from(u: store_identity::User) -> Self {
        UserOut {
            id: u.id,
            email: u.email,
            name: u.name,
            active: u.active,
            totp_enabled: u.totp_enabled,
            time_zone: u.time_zone,
            locked_until: u.locked_until,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct GrantOut {
    pub id: Uuid,
    pub role: String,
    /// `organization`, `study` or `site`.
    pub scope: String,
    pub scope_id: Option<Uuid>,
    /// The site or study code.
    pub scope_code: Option<String>,
}

impl From<store_identity::GrantView> for GrantOut {
    fn from(g: store_identity::GrantView) -> Self {
        GrantOut {
            id: g.id,
            role: g.role.as_str().into(),
            scope: g.scope.kind().into(),
            scope_id: g.scope.id(),
            scope_code: (!g.scope_label.is_empty()).then_some(g.scope_label),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MeOut {
    pub user: UserOut,
    pub grants: Vec<GrantOut>,
}

/// Sign in with e-mail and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", request_body = LoginRequest, tag = "identity",
    responses((status = 200, body = MeOut), (status = 401, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let previous = auth::session_cookie(&headers);
    let outcome = store_identity::login(
        &state.store,
        auth::request_id(&headers),
        &body.email,
        &body.password,
        body.totp.as_deref(),
        true,
        previous,
    )
    .await?;
    match outcome {
        LoginOutcome::Session { user, token, .. } => {
            let grants = store_identity::grants_of(&state.store, user.id).await?;
            let mut res =
                Json(MeOut { user: user.into(), grants: grants.into_iter().map(Into::into).collect() }).into_response();
            res.headers_mut().insert(header::SET_COOKIE, auth::set_session_cookie(&state, &token));
            Ok(res)
        }
        LoginOutcome::TotpRequired => Err(ApiError::TotpRequired),
        LoginOutcome::Refused => Err(invalid_credentials()),
    }
}

/// One answer for a wrong e-mail, a wrong password, a locked or an inactive account, so the
/// answer never tells whether an account exists.
fn invalid_credentials() -> ApiError {
    ApiError::InvalidCredentials
}

/// Sign out: ends the session on the server and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "identity", responses((status = 204)))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = auth::session_cookie(&headers) {
        let acting = match store_identity::session(&state.store, &token).await? {
            Some(info) => clinbridge_store::Acting::user(info.user.id, auth::request_id(&headers)),
            None => clinbridge_store::Acting::system(),
        };
        store_identity::logout(&state.store, &acting, &token).await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(header::SET_COOKIE, auth::clear_session_cookie(&state));
    Ok(res)
}

/// The signed-in user and their grants.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity", responses((status = 200, body = MeOut), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, who: Authed) -> ApiResult<Json<MeOut>> {
    let grants = store_identity::grants_of(&state.store, who.user.id).await?;
    Ok(Json(MeOut { user: who.user.into(), grants: grants.into_iter().map(Into::into).collect() }))
}

/// All users (administrators).
#[utoipa::path(get, path = "/api/v1/users", tag = "identity", responses((status = 200, body = [UserOut]), (status = 403, body = ErrorBody)))]
pub async fn list_users(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<UserOut>>> {
    who.require(ADMIN, Target::ORG)?;
    Ok(Json(store_identity::users(&state.store).await?.into_iter().map(Into::into).collect()))
}

#[derive(Serialize, ToSchema)]
pub struct UserDetailOut {
    pub user: UserOut,
    pub grants: Vec<GrantOut>,
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "identity", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserDetailOut), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<UserDetailOut>> {
    if who.user.id != id {
        who.require(ADMIN, Target::ORG)?;
    }
    let user = store_identity::user(&state.store, id).await?;
    let grants = store_identity::grants_of(&state.store, id).await?;
    Ok(Json(UserDetailOut { user: user.into(), grants: grants.into_iter().map(Into::into).collect() }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantIn {
    pub role: String,
    /// `organization` (default), `site` or `study`.
    pub scope: Option<String>,
    /// The site or study code when the scope is a site or a study.
    pub code: Option<String>,
}

pub async fn resolve_grant(state: &AppState, role: &str, scope: Option<&str>, code: Option<&str>) -> ApiResult<Grant> {
    let role = Role::parse(role)?;
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    let scope = match (scope.unwrap_or("organization"), code) {
        ("organization", _) => Scope::Organization,
        ("site", Some(c)) => Scope::Site(
            store_identity::site_by_code(&state.store, c)
                .await
                .map_err(|_| ApiError::field("code", "does not name a site"))?
                .id,
        ),
        ("study", Some(c)) => Scope::Study(
            clinbridge_store::trials::study_by_code(&state.store, c)
                .await
                .map_err(|_| ApiError::field("code", "does not name a study"))?
                .id,
        ),
        ("site" | "study", None) => {
            return Err(ApiError::field("code", "is required for a site or study scope"));
        }
        _ => {
            return Err(ApiError::field("scope", "must be organization, site or study"));
        }
    };
    Ok(Grant { role, scope })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserIn {
    pub email: String,
    pub name: String,
    /// IANA time zone; UTC when absent.
    pub time_zone: Option<String>,
    /// When absent, a password is generated and returned once.
    pub password: Option<String>,
    #[serde(default)]
    pub grants: Vec<GrantIn>,
}

#[derive(Serialize, ToSchema)]
pub struct NewUserOut {
    pub user: UserOut,
    /// Present only when the password was generated; shown this once.
    pub generated_password: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "identity", request_body = NewUserIn,
    responses((status = 201, body = NewUserOut), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(body): ApiJson<NewUserIn>,
) -> ApiResult<Response> {
    who.require(ADMIN, Target::ORG)?;
    let mut checks = clinbridge_core::Checks::new();
    let email = checks.take("email", Email::parse(&body.email));
    let name = checks.take("name", clinbridge_core::identity::person_name(&body.name));
    let tz = checks.take("time_zone", TimeZone::parse(body.time_zone.as_deref().unwrap_or("UTC")));
    let (password_text, generated) = match &body.password {
        Some(p) => (p.clone(), None),
        None => {
            let g = clinbridge_store::secrets::generated_password()?;
            (g.clone(), Some(g))
        }
    };
    let password = checks.take("password", NewPassword::parse(&password_text, email.as_ref()));
    checks.finish()?;
    let mut grants = Vec::new();
    for g in &body.grants {
        grants.push(resolve_grant(&state, &g.role, g.scope.as_deref(), g.code.as_deref()).await?);
    }
    let (Some(email), Some(name), Some(time_zone), Some(password)) = (email, name, tz, password) else {
        return Err(ApiError::Internal);
    };
    let user = store_identity::create_user(
        &state.store,
        &who.acting(),
        store_identity::NewUser { email, name, password, time_zone },
        grants,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(NewUserOut { user: user.into(), generated_password: generated })).into_response())
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonIn {
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/users/{id}/deactivate", tag = "identity", params(("id" = Uuid, Path)), request_body = ReasonIn,
    responses((status = 204), (status = 403, body = ErrorBody)))]
pub async fn deactivate_user(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ReasonIn>,
) -> ApiResult<StatusCode> {
    who.require(ADMIN, Target::ORG)?;
    let reason = body.reason.filter(|r| !r.trim().is_empty());
    store_identity::set_user_active(&state.store, &who.acting(), id, false, reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/users/{id}/activate", tag = "identity", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody)))]
pub async fn activate_user(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    who.require(ADMIN, Target::ORG)?;
    store_identity::set_user_active(&state.store, &who.acting(), id, true, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/users/{id}/grants", tag = "identity", params(("id" = Uuid, Path)), request_body = GrantIn,
    responses((status = 201, body = [GrantOut]), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_grant(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<GrantIn>,
) -> ApiResult<Response> {
    who.require(ADMIN, Target::ORG)?;
    let grant = resolve_grant(&state, &body.role, body.scope.as_deref(), body.code.as_deref()).await?;
    store_identity::add_grant(&state.store, &who.acting(), id, grant).await?;
    let grants: Vec<GrantOut> =
        store_identity::grants_of(&state.store, id).await?.into_iter().map(Into::into).collect();
    Ok((StatusCode::CREATED, Json(grants)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/grants/{id}", tag = "identity", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_grant(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    who.require(ADMIN, Target::ORG)?;
    store_identity::remove_grant(&state.store, &who.acting(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SiteOut {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub time_zone: String,
    pub address: String,
    pub active: bool,
}

impl From<store_identity::Site> for SiteOut {
    fn from(s: store_identity::Site) -> Self {
        SiteOut { id: s.id, code: s.code, name: s.name, time_zone: s.time_zone, address: s.address, active: s.active }
    }
}

pub const SITES_READ: Action = Action::new(Context::Sites, Op::Read);
pub const SITES_ADMIN: Action = Action::new(Context::Sites, Op::Administer);

/// The sites the caller may see.
#[utoipa::path(get, path = "/api/v1/sites", tag = "identity", responses((status = 200, body = [SiteOut])))]
pub async fn list_sites(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<SiteOut>>> {
    let sites = store_identity::sites(&state.store).await?;
    Ok(Json(sites.into_iter().filter(|s| who.can(SITES_READ, Target::site(s.id))).map(Into::into).collect()))
}

#[utoipa::path(get, path = "/api/v1/sites/{id}", tag = "identity", params(("id" = Uuid, Path)),
    responses((status = 200, body = SiteOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_site(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<SiteOut>> {
    who.require(SITES_READ, Target::site(id))?;
    Ok(Json(store_identity::site(&state.store, id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteIn {
    pub code: String,
    pub name: String,
    /// IANA time zone, e.g. America/Chicago.
    pub time_zone: String,
    #[serde(default)]
    pub address: String,
    pub active: Option<bool>,
}

#[utoipa::path(post, path = "/api/v1/sites", tag = "identity", request_body = SiteIn,
    responses((status = 201, body = SiteOut), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_site(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(body): ApiJson<SiteIn>,
) -> ApiResult<Response> {
    who.require(SITES_ADMIN, Target::ORG)?;
    let input = store_identity::SiteInput::parse(&body.code, &body.name, &body.time_zone, &body.address)?;
    let site = store_identity::create_site(&state.store, &who.acting(), input).await?;
    Ok((StatusCode::CREATED, Json(SiteOut::from(site))).into_response())
}

#[utoipa::path(put, path = "/api/v1/sites/{id}", tag = "identity", params(("id" = Uuid, Path)), request_body = SiteIn,
    responses((status = 200, body = SiteOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_site(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SiteIn>,
) -> ApiResult<Json<SiteOut>> {
    who.require(SITES_ADMIN, Target::site(id))?;
    let input = store_identity::SiteInput::parse(&body.code, &body.name, &body.time_zone, &body.address)?;
    let site = store_identity::update_site(&state.store, &who.acting(), id, input, body.active.unwrap_or(true)).await?;
    Ok(Json(site.into()))
}

#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub id: Uuid,
    pub name: String,
    /// The first characters, to recognise the token.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<store_identity::ApiToken> for TokenOut {
    fn from(t: store_identity::ApiToken) -> Self {
        TokenOut {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// The caller's own API tokens.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "identity", responses((status = 200, body = [TokenOut])))]
pub async fn list_tokens(State(state): State<AppState>, who: Authed) -> ApiResult<Json<Vec<TokenOut>>> {
    Ok(Json(store_identity::tokens_of(&state.store, who.user.id).await?.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenCreatedOut {
    pub token: TokenOut,
    /// Use as `Authorization: Bearer <secret>`. Shown once; only its hash is kept.
    pub secret: String,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "identity", request_body = TokenIn,
    responses((status = 201, body = TokenCreatedOut), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    who: Authed,
    ApiJson(body): ApiJson<TokenIn>,
) -> ApiResult<Response> {
    let (token, secret) = store_identity::create_token(&state.store, &who.acting(), who.user.id, &body.name).await?;
    Ok((StatusCode::CREATED, Json(TokenCreatedOut { token: token.into(), secret })).into_response())
}

/// Revokes one of the caller's tokens (administrators may revoke anyone's).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "identity", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    who: Authed,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let token = store_identity::token(&state.store, id).await?;
    if token.user_id != who.user.id {
        who.require(ADMIN, Target::ORG)?;
    }
    store_identity::revoke_token(&state.store, &who.acting(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
