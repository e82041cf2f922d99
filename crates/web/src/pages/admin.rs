//! Administration pages: users and their roles, sites, API tokens of others, security settings.

use super::profile::{TokenRow, token_rows};
use super::{Chrome, PageError, PageResult, chrome, common_zones, form_errors, render, see_other};
use crate::AppState;
use crate::api::identity::{ADMIN, SITES_ADMIN, SITES_READ, resolve_grant};
use crate::auth::Authed;
use crate::error::ApiError;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use clinbridge_core::identity::{Email, NewPassword, Role, Scope, TimeZone};
use clinbridge_core::policy::Target;
use clinbridge_store::identity::{self, Site, SiteInput, User};
use serde::Deserialize;
use uuid::Uuid;

pub fn register(r: crate::routes::Routes) -> crate::routes::Routes {
    r.get("/admin/users", users)
        .post("/admin/users", create_user)
        .get("/admin/users/{id}", user_page)
        .post("/admin/users/{id}/grants", add_grant)
        .post("/admin/users/{id}/active", set_active)
        .post("/admin/users/{id}/password", reset_password)
        .post("/admin/users/{id}/totp/disable", disable_totp)
        .post("/admin/grants/{id}/delete", remove_grant)
        .post("/admin/tokens/{id}/revoke", revoke_token)
        .get("/admin/sites", sites)
        .post("/admin/sites", create_site)
        .get("/admin/sites/{id}", site_page)
        .post("/admin/sites/{id}", update_site)
        .get("/admin/security", security)
        .post("/admin/security", save_security)
}

fn require_admin(who: &Authed) -> Result<(), PageError> {
    who.require(ADMIN, Target::ORG).map_err(PageError)
}

fn role_options() -> Vec<(String, String)> {
    Role::ALL.iter().map(|r| (r.as_str().to_string(), r.label().to_string())).collect()
}

async fn scope_options(state: &AppState) -> Result<Vec<(String, String)>, PageError> {
    let mut out = vec![("organization".to_string(), "Whole organization".to_string())];
    for s in identity::sites(&state.store).await? {
        out.push((format!("site:{}", s.code), format!("Site {} — {}", s.code, s.name)));
    }
    for s in clinbridge_store::trials::studies(&state.store).await? {
        out.push((format!("study:{}", s.code), format!("Study {}", s.code)));
    }
    Ok(out)
}

fn split_scope(v: &str) -> (String, Option<String>) {
    match v.split_once(':') {
        Some((k, c)) => (k.to_string(), Some(c.to_string())),
        None => (v.to_string(), None),
    }
}

pub struct UserRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub roles: String,
    pub status: String,
}

#[derive(Default)]
pub struct NewUserForm {
    pub name: String,
    pub email: String,
    pub time_zone: String,
    pub role: String,
    pub scope: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserRow>,
    errors: Vec<(String, String)>,
    form: NewUserForm,
    roles: Vec<(String, String)>,
    scopes: Vec<(String, String)>,
    zones: Vec<&'static str>,
}

fn status_of(u: &User) -> String {
    if !u.active {
        "deactivated".into()
    } else if u.locked_until.is_some_and(|l| l > chrono::Utc::now()) {
        "locked".into()
    } else {
        "active".into()
    }
}

async fn users_page(
    state: &AppState,
    who: &Authed,
    errors: Vec<(String, String)>,
    form: NewUserForm,
) -> Result<UsersPage, PageError> {
    let all = identity::users(&state.store).await?;
    let grants = identity::all_grants(&state.store).await?;
    let users = all
        .into_iter()
        .map(|u| {
            let roles: Vec<String> = grants
                .iter()
                .filter(|g| g.user_id == u.id)
                .map(|g| {
                    if g.scope_label.is_empty() {
                        g.role.label().to_string()
                    } else {
                        format!("{} ({})", g.role.label(), g.scope_label)
                    }
                })
                .collect();
            UserRow { id: u.id, status: status_of(&u), name: u.name, email: u.email, roles: roles.join(", ") }
        })
        .collect();
    Ok(UsersPage {
        chrome: chrome(state, who, "/admin/users").await,
        users,
        errors,
        form,
        roles: role_options(),
        scopes: scope_options(state).await?,
        zones: common_zones(),
    })
}

async fn users(State(state): State<AppState>, who: Authed) -> PageResult {
    require_admin(&who)?;
    let form = NewUserForm {
        time_zone: who.user.time_zone.clone(),
        role: "coordinator".into(),
        scope: "organization".into(),
        ..Default::default()
    };
    Ok(render(&users_page(&state, &who, Vec::new(), form).await?))
}

#[derive(Deserialize)]
pub struct CreateUserForm {
    name: String,
    email: String,
    time_zone: String,
    role: String,
    scope: String,
}

async fn create_user(State(state): State<AppState>, who: Authed, Form(f): Form<CreateUserForm>) -> PageResult {
    require_admin(&who)?;
    let mut checks = clinbridge_core::Checks::new();
    let email = checks.take("email", Email::parse(&f.email));
    let name = checks.take("name", clinbridge_core::identity::person_name(&f.name));
    let tz = checks.take("time_zone", TimeZone::parse(&f.time_zone));
    let generated = clinbridge_store::secrets::generated_password()?;
    let password = checks.take("password", NewPassword::parse(&generated, email.as_ref()));
    let (kind, code) = split_scope(&f.scope);
    let grant = resolve_grant(&state, &f.role, Some(&kind), code.as_deref()).await;
    let mut errors = match checks.finish() {
        Ok(()) => Vec::new(),
        Err(e) => super::field_errors(e.0),
    };
    if let Err(e) = &grant {
        errors.extend(form_errors(ApiError::Invalid(match e {
            ApiError::Invalid(f) => f.clone(),
            _ => vec![clinbridge_core::FieldError::new("role", "is not valid")],
        }))?);
    }
    if let (true, Some(email), Some(name), Some(time_zone), Some(password), Ok(grant)) =
        (errors.is_empty(), email, name, tz, password, grant)
    {
        let new = identity::NewUser { email, name, password, time_zone };
        match identity::create_user(&state.store, &who.acting(), new, vec![grant]).await {
            Ok(user) => {
                return Ok(render(&user_view(&state, &who, user.id, Some(generated), Vec::new()).await?));
            }
            Err(e) => errors.extend(form_errors(e.into())?),
        }
    }
    let form = NewUserForm { name: f.name, email: f.email, time_zone: f.time_zone, role: f.role, scope: f.scope };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&users_page(&state, &who, errors, form).await?)).into_response())
}

pub struct GrantRow {
    pub id: Uuid,
    pub role: String,
    pub scope: String,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    chrome: Chrome,
    user: User,
    status: String,
    grants: Vec<GrantRow>,
    tokens: Vec<TokenRow>,
    roles: Vec<(String, String)>,
    scopes: Vec<(String, String)>,
    generated: Option<String>,
    errors: Vec<(String, String)>,
}

async fn user_view(
    state: &AppState,
    who: &Authed,
    id: Uuid,
    generated: Option<String>,
    errors: Vec<(String, String)>,
) -> Result<UserPage, PageError> {
    let user = identity::user(&state.store, id).await?;
    let grants = identity::grants_of(&state.store, id)
        .await?
        .into_iter()
        .map(|g| GrantRow {
            id: g.id,
            role: g.role.label().to_string(),
            scope: match g.scope {
                Scope::Organization => "whole organization".into(),
                Scope::Site(_) => format!("site {}", g.scope_label),
                Scope::Study(_) => format!("study {}", g.scope_label),
            },
        })
        .collect();
    let tokens = token_rows(identity::tokens_of(&state.store, id).await?, who.tz());
    Ok(UserPage {
        chrome: chrome(state, who, "/admin/users").await,
        status: status_of(&user),
        user,
        grants,
        tokens,
        roles: role_options(),
        scopes: scope_options(state).await?,
        generated,
        errors,
    })
}

async fn user_page(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    require_admin(&who)?;
    Ok(render(&user_view(&state, &who, id, None, Vec::new()).await?))
}

async fn after(state: &AppState, who: &Authed, id: Uuid, r: Result<(), ApiError>) -> PageResult {
    match r {
        Ok(()) => Ok(see_other(&format!("/admin/users/{id}"))),
        Err(e) => {
            let errors = form_errors(e)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&user_view(state, who, id, None, errors).await?))
                .into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct GrantForm {
    role: String,
    scope: String,
}

async fn add_grant(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<GrantForm>,
) -> PageResult {
    require_admin(&who)?;
    let (kind, code) = split_scope(&f.scope);
    let r = match resolve_grant(&state, &f.role, Some(&kind), code.as_deref()).await {
        Ok(g) => identity::add_grant(&state.store, &who.acting(), id, g).await.map(|_| ()).map_err(Into::into),
        Err(e) => Err(e),
    };
    after(&state, &who, id, r).await
}

async fn remove_grant(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    require_admin(&who)?;
    let grant = identity::all_grants(&state.store)
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or(ApiError::NotFound("grant"))?;
    let r = identity::remove_grant(&state.store, &who.acting(), id).await.map_err(Into::into);
    after(&state, &who, grant.user_id, r).await
}

#[derive(Deserialize)]
pub struct ActiveForm {
    active: String,
    #[serde(default)]
    reason: String,
}

async fn set_active(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<ActiveForm>,
) -> PageResult {
    require_admin(&who)?;
    let active = f.active == "true";
    let reason = Some(f.reason.trim().to_string()).filter(|r| !r.is_empty());
    if !active && reason.is_none() {
        return after(&state, &who, id, Err(ApiError::field("reason", "is required to deactivate a user"))).await;
    }
    let r = identity::set_user_active(&state.store, &who.acting(), id, active, reason).await.map_err(Into::into);
    after(&state, &who, id, r).await
}

async fn reset_password(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    require_admin(&who)?;
    let user = identity::user(&state.store, id).await?;
    let generated = clinbridge_store::secrets::generated_password()?;
    let password = NewPassword::parse(&generated, Email::parse(&user.email).ok().as_ref()).map_err(ApiError::from)?;
    identity::set_password(&state.store, &who.acting(), id, &password, None).await?;
    Ok(render(&user_view(&state, &who, id, Some(generated), Vec::new()).await?))
}

#[derive(Deserialize)]
pub struct ReasonForm {
    reason: String,
}

async fn disable_totp(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<ReasonForm>,
) -> PageResult {
    require_admin(&who)?;
    let reason = clinbridge_core::required_text("reason", &f.reason, 500).map_err(ApiError::from);
    let r = match reason {
        Ok(reason) => identity::totp_disable(&state.store, &who.acting(), id, Some(reason)).await.map_err(Into::into),
        Err(e) => Err(e),
    };
    after(&state, &who, id, r).await
}

async fn revoke_token(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    require_admin(&who)?;
    let token = identity::token(&state.store, id).await?;
    let r = identity::revoke_token(&state.store, &who.acting(), id).await.map_err(Into::into);
    after(&state, &who, token.user_id, r).await
}

// ---------------------------------------------------------------- sites

pub struct SiteRow {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub time_zone: String,
    pub local_now: String,
    pub status: String,
}

#[derive(Default)]
pub struct SiteForm {
    pub code: String,
    pub name: String,
    pub time_zone: String,
    pub address: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "admin_sites.html")]
struct SitesPage {
    chrome: Chrome,
    sites: Vec<SiteRow>,
    can_admin: bool,
    editing: Option<Uuid>,
    form: SiteForm,
    errors: Vec<(String, String)>,
    zones: Vec<&'static str>,
}

async fn sites_view(
    state: &AppState,
    who: &Authed,
    editing: Option<Uuid>,
    form: SiteForm,
    errors: Vec<(String, String)>,
) -> Result<SitesPage, PageError> {
    let now = chrono::Utc::now();
    let sites = identity::sites(&state.store)
        .await?
        .into_iter()
        .filter(|s| who.can(SITES_READ, Target::site(s.id)))
        .map(|s: Site| SiteRow {
            local_now: now
                .with_timezone(&s.time_zone.parse::<chrono_tz::Tz>().unwrap_or(chrono_tz::UTC))
                .format("%H:%M %Z")
                .to_string(),
            status: if s.active { "active".into() } else { "inactive".into() },
            id: s.id,
            code: s.code,
            name: s.name,
            time_zone: s.time_zone,
        })
        .collect();
    Ok(SitesPage {
        chrome: chrome(state, who, "/admin/sites").await,
        sites,
        can_admin: who.can(SITES_ADMIN, Target::ORG),
        editing,
        form,
        errors,
        zones: common_zones(),
    })
}

async fn sites(State(state): State<AppState>, who: Authed) -> PageResult {
    who.require_anywhere(SITES_READ)?;
    let form = SiteForm { time_zone: who.user.time_zone.clone(), active: true, ..Default::default() };
    Ok(render(&sites_view(&state, &who, None, form, Vec::new()).await?))
}

#[derive(Deserialize)]
pub struct SiteFormIn {
    code: String,
    name: String,
    time_zone: String,
    #[serde(default)]
    address: String,
    active: Option<String>,
}

async fn save_site(state: AppState, who: Authed, id: Option<Uuid>, f: SiteFormIn) -> PageResult {
    let r = match SiteInput::parse(&f.code, &f.name, &f.time_zone, &f.address) {
        Ok(input) => match id {
            Some(id) => identity::update_site(&state.store, &who.acting(), id, input, f.active.is_some())
                .await
                .map(|_| ())
                .map_err(ApiError::from),
            None => identity::create_site(&state.store, &who.acting(), input).await.map(|_| ()).map_err(ApiError::from),
        },
        Err(e) => Err(e.into()),
    };
    match r {
        Ok(()) => Ok(see_other("/admin/sites")),
        Err(e) => {
            let errors = form_errors(e)?;
            let form = SiteForm {
                code: f.code,
                name: f.name,
                time_zone: f.time_zone,
                address: f.address,
                active: f.active.is_some(),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&sites_view(&state, &who, id, form, errors).await?))
                .into_response())
        }
    }
}

async fn create_site(State(state): State<AppState>, who: Authed, Form(f): Form<SiteFormIn>) -> PageResult {
    who.require(SITES_ADMIN, Target::ORG)?;
    save_site(state, who, None, f).await
}

async fn site_page(State(state): State<AppState>, who: Authed, Path(id): Path<Uuid>) -> PageResult {
    who.require(SITES_READ, Target::site(id))?;
    let s = identity::site(&state.store, id).await?;
    let form = SiteForm { code: s.code, name: s.name, time_zone: s.time_zone, address: s.address, active: s.active };
    Ok(render(&sites_view(&state, &who, Some(id), form, Vec::new()).await?))
}

async fn update_site(
    State(state): State<AppState>,
    who: Authed,
    Path(id): Path<Uuid>,
    Form(f): Form<SiteFormIn>,
) -> PageResult {
    who.require(SITES_ADMIN, Target::site(id))?;
    identity::site(&state.store, id).await?;
    save_site(state, who, Some(id), f).await
}

// ---------------------------------------------------------------- security settings

#[derive(Template)]
#[template(path = "admin_security.html")]
struct SecurityPage {
    chrome: Chrome,
    roles: Vec<(String, String, bool)>,
}

async fn security(State(state): State<AppState>, who: Authed) -> PageResult {
    require_admin(&who)?;
    let org = identity::organization(&state.store).await?;
    let roles =
        Role::ALL.iter().map(|r| (r.as_str().to_string(), r.label().to_string(), org.mfa_required_for(*r))).collect();
    Ok(render(&SecurityPage { chrome: chrome(&state, &who, "/admin/security").await, roles }))
}

async fn save_security(State(state): State<AppState>, who: Authed, body: String) -> PageResult {
    require_admin(&who)?;
    // Repeated `role=` fields: parse the form by hand, as the typed extractor keeps only one.
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&body).map_err(|_| ApiError::field("role", "could not be read"))?;
    let mut roles = Vec::new();
    for (k, v) in pairs {
        if k == "role" {
            roles.push(Role::parse(&v).map_err(ApiError::from)?);
        }
    }
    identity::set_mfa_required_roles(&state.store, &who.acting(), roles).await?;
    Ok(see_other("/admin/security"))
}
