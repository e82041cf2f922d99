//! Identity: organizations, sites, users, grants, password sign-in with lockout, sessions,
//! API tokens and TOTP. Every change writes its audit row in the same transaction.

use crate::secrets::{hash_password_blocking, random_token, sha256_hex, verify_password_blocking};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Utc};
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::identity::{Code, Email, Grant, NewPassword, Role, Scope, TimeZone};
use clinbridge_core::policy::Actor;
use serde::Serialize;
use std::sync::OnceLock;
use uuid::Uuid;

// ---------------------------------------------------------------- organizations and sites

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub mfa_required_roles: String,
}

impl Organization {
    pub fn mfa_required_for(&self, role: Role) -> bool {
        self.mfa_required_roles.split(',').any(|r| r.trim() == role.as_str())
    }
}

pub async fn create_organization(store: &Store, acting: &Acting, name: &str) -> Result<Uuid> {
    let name = clinbridge_core::required_text("name", name, 200)?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let id = new_id();
                exec!(tx, "INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)", id, &name, now())?;
                tx.audit(
                    AuditEvent::new(AuditAction::Create, "organization", id)
                        .new_value(serde_json::json!({"name": name})),
                );
                Ok(id)
            })
        })
        .await
}

/// The organization this deployment serves (the first one created).
pub async fn organization(store: &Store) -> Result<Organization> {
    on!(store.db.read(), |c| sqlx::query_as::<_, Organization>(
        "SELECT id, name, mfa_required_roles FROM organizations ORDER BY created_at LIMIT 1"
    )
    .fetch_optional(c)
    .await)?
    .ok_or(StoreError::NotFound("organization"))
}

/// Sets the roles that must use a second factor.
pub async fn set_mfa_required_roles(store: &Store, acting: &Acting, roles: Vec<Role>) -> Result<()> {
    let org = organization(store).await?;
    let value = roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                exec!(tx, "UPDATE organizations SET mfa_required_roles = $1 WHERE id = $2", &value, org.id)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "organization", org.id)
                        .old(serde_json::json!({"mfa_required_roles": org.mfa_required_roles}))
                        .new_value(serde_json::json!({"mfa_required_roles": value})),
                );
                Ok(())
            })
        })
        .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Site {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub time_zone: String,
    pub address: String,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct SiteInput {
    pub code: Code,
    pub name: String,
    pub time_zone: TimeZone,
    pub address: String,
}

impl SiteInput {
    pub fn parse(
        code: &str,
        name: &str,
        time_zone: &str,
        address: &str,
    ) -> std::result::Result<Self, clinbridge_core::Invalid> {
        let mut checks = clinbridge_core::Checks::new();
        let code = checks.take("code", Code::parse("code", code));
        let name = checks.take("name", clinbridge_core::required_text("name", name, 200));
        let tz = checks.take("time_zone", TimeZone::parse(time_zone));
        if address.chars().count() > 500 {
            checks.push("address", "must be at most 500 characters");
        }
        checks.finish()?;
        match (code, name, tz) {
            (Some(code), Some(name), Some(time_zone)) => {
                Ok(Self { code, name, time_zone, address: address.trim().to_string() })
            }
            _ => Err(clinbridge_core::Invalid::one("site", "is invalid")),
        }
    }
}

const SITE_COLUMNS: &str = "id, code, name, time_zone, address, active";

pub async fn create_site(store: &Store, acting: &Acting, input: SiteInput) -> Result<Site> {
    let org = organization(store).await?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let site = Site {
                    id: new_id(),
                    code: input.code.as_str().to_string(),
                    name: input.name,
                    time_zone: input.time_zone.as_str().to_string(),
                    address: input.address,
                    active: true,
                };
                let t = now();
                exec!(tx, "INSERT INTO sites (id, org_id, code, name, time_zone, address, active, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)", site.id, org.id, &site.code, &site.name, &site.time_zone, &site.address, site.active, t)
                .map_err(|e| StoreError::from(e).unique_as("code", "is already used by another site"))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "site", site.id).new_value(&site));
                Ok(site)
            })
        })
        .await
}

pub async fn update_site(store: &Store, acting: &Acting, id: Uuid, input: SiteInput, active: bool) -> Result<Site> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = site_in(tx, id).await?;
                let site = Site {
                    id,
                    code: input.code.as_str().to_string(),
                    name: input.name,
                    time_zone: input.time_zone.as_str().to_string(),
                    address: input.address,
                    active,
                };
                if old == site {
                    return Ok(site);
                }
                exec!(tx, "UPDATE sites SET code = $1, name = $2, time_zone = $3, address = $4, active = $5, updated_at = $6 WHERE id = $7", &site.code, &site.name, &site.time_zone, &site.address, site.active, now(), id)
                .map_err(|e| StoreError::from(e).unique_as("code", "is already used by another site"))?;
                tx.audit(AuditEvent::new(AuditAction::Update, "site", id).old(&old).new_value(&site));
                Ok(site)
            })
        })
        .await
}

async fn site_in(tx: &mut Tx, id: Uuid) -> Result<Site> {
    tx_on!(tx, |c| sqlx::query_as::<_, Site>(
        "SELECT id, code, name, time_zone, address, active FROM sites WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(&mut *c)
    .await)?
    .ok_or(StoreError::NotFound("site"))
}

pub async fn sites(store: &Store) -> Result<Vec<Site>> {
    let sql = format!("SELECT {SITE_COLUMNS} FROM sites ORDER BY code");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Site>(sqlx::AssertSqlSafe(sql.clone())).fetch_all(c).await)?)
}

pub async fn site(store: &Store, id: Uuid) -> Result<Site> {
    on!(store.db.read(), |c| sqlx::query_as::<_, Site>(
        "SELECT id, code, name, time_zone, address, active FROM sites WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?
    .ok_or(StoreError::NotFound("site"))
}

pub async fn site_by_code(store: &Store, code: &str) -> Result<Site> {
    let code = code.trim().to_uppercase();
    on!(store.db.read(), |c| sqlx::query_as::<_, Site>(
        "SELECT id, code, name, time_zone, address, active FROM sites WHERE code = $1"
    )
    .bind(&code)
    .fetch_optional(c)
    .await)?
    .ok_or(StoreError::NotFound("site"))
}

// ---------------------------------------------------------------- users

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub active: bool,
    pub totp_enabled: bool,
    pub time_zone: String,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "id, email, name, active, totp_enabled, time_zone, locked_until, created_at";

/// Waits for one of the hashing permits, at most ten seconds: past that the server is under a
/// sign-in flood and answers "busy" rather than queueing without end.
async fn hashing_permit(store: &Store) -> Result<tokio::sync::OwnedSemaphorePermit> {
    match tokio::time::timeout(std::time::Duration::from_secs(10), store.hashing.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(StoreError::Internal("hashing closed".into())),
        Err(_) => Err(StoreError::Busy),
    }
}

/// Hashes a password with argon2id off the async threads, holding one of a few permits so a
/// flood of sign-ins queues here instead of taking every core from other requests.
pub async fn hash_password(store: &Store, password: &NewPassword) -> Result<String> {
    let _permit = hashing_permit(store).await?;
    let p = password.expose().to_string();
    tokio::task::spawn_blocking(move || hash_password_blocking(&p))
        .await
        .map_err(|e| StoreError::Internal(e.to_string()))?
}

async fn verify_password(store: &Store, password: &str, stored: Option<String>) -> Result<bool> {
    let _permit = hashing_permit(store).await?;
    let p = password.to_string();
    tokio::task::spawn_blocking(move || {
        // An unknown account is checked against a fixed hash so that the answer takes as long
        // as for a real one.
        match stored {
            Some(h) => verify_password_blocking(&p, &h),
            None => {
                let _ = verify_password_blocking(&p, dummy_hash());
                false
            }
        }
    })
    .await
    .map_err(|e| StoreError::Internal(e.to_string()))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password_blocking("clinbridge-timing-equaliser").unwrap_or_default())
}

pub struct NewUser {
    pub email: Email,
    pub name: String,
    pub password: NewPassword,
    pub time_zone: TimeZone,
}

pub async fn create_user(store: &Store, acting: &Acting, user: NewUser, grants: Vec<Grant>) -> Result<User> {
    let org = organization(store).await?;
    let hash = hash_password(store, &user.password).await?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let id = new_id();
                let t = now();
                exec!(tx, "INSERT INTO users (id, org_id, email, name, password_hash, time_zone, password_changed_at, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7)", id, org.id, user.email.as_str(), &user.name, &hash, user.time_zone.as_str(), t)
                .map_err(|e| StoreError::from(e).unique_as("email", "is already used by another user"))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "user", id).new_value(serde_json::json!({
                    "email": user.email.as_str(), "name": user.name, "time_zone": user.time_zone.as_str()
                })));
                for g in grants {
                    add_grant_in(tx, id, g).await?;
                }
                user_in(tx, id).await
            })
        })
        .await
}

async fn user_in(tx: &mut Tx, id: Uuid) -> Result<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&mut *c).await)?
        .ok_or(StoreError::NotFound("user"))
}

pub async fn user(store: &Store, id: Uuid) -> Result<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("user"))
}

pub async fn user_by_email(store: &Store, email: &Email) -> Result<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(email.as_str())
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("user"))
}

pub async fn users(store: &Store) -> Result<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name, email");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, User>(sqlx::AssertSqlSafe(sql.clone())).fetch_all(c).await)?)
}

/// Users are never deleted: deactivation ends their sessions and revokes their tokens.
pub async fn set_user_active(
    store: &Store,
    acting: &Acting,
    id: Uuid,
    active: bool,
    reason: Option<String>,
) -> Result<()> {
    if !active && acting.user == Some(id) {
        return Err(StoreError::Refused("you cannot deactivate your own account".into()));
    }
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = user_in(tx, id).await?;
                if old.active == active {
                    return Ok(());
                }
                exec!(tx, "UPDATE users SET active = $1, failed_logins = 0, locked_until = NULL, updated_at = $2 WHERE id = $3", active, now(), id)?;
                if !active {
                    exec!(tx, "DELETE FROM sessions WHERE user_id = $1", id)?;
                    exec!(tx, "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL", now(), id)?;
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "user", id)
                        .old(serde_json::json!({"active": old.active}))
                        .new_value(serde_json::json!({"active": active}))
                        .reason(reason),
                );
                Ok(())
            })
        })
        .await
}

/// Sets a new password (by an admin reset or by the user) and ends the user's other sessions.
pub async fn set_password(
    store: &Store,
    acting: &Acting,
    id: Uuid,
    password: &NewPassword,
    keep_session: Option<String>,
) -> Result<()> {
    let hash = hash_password(store, password).await?;
    let keep = keep_session.map(|s| sha256_hex(&s));
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                user_in(tx, id).await?;
                exec!(tx, "UPDATE users SET password_hash = $1, password_changed_at = $2, failed_logins = 0, locked_until = NULL, updated_at = $2 WHERE id = $3", &hash, now(), id)?;
                exec!(tx, "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2", id, keep.clone().unwrap_or_default())?;
                // The hash itself is never written to the audit log.
                tx.audit(AuditEvent::new(AuditAction::Update, "user", id).new_value(serde_json::json!({"password": "changed"})));
                Ok(())
            })
        })
        .await
}

/// Checks a user's current password (for a password change or a signature).
pub async fn check_password(store: &Store, id: Uuid, password: &str) -> Result<bool> {
    let stored: Option<String> =
        on!(store.db.read(), |c| sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1 AND active = $2")
            .bind(id)
            .bind(true)
            .fetch_optional(c)
            .await)?;
    verify_password(store, password, stored).await
}

// ---------------------------------------------------------------- grants

#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
    pub scope: Scope,
    /// Site or study code, or empty for the organization.
    pub scope_label: String,
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    id: Uuid,
    user_id: Uuid,
    role: String,
    scope_kind: String,
    scope_id: Uuid,
    scope_label: Option<String>,
}

impl GrantRow {
    fn view(self) -> Option<GrantView> {
        let role = Role::parse(&self.role).ok()?;
        let scope = Scope::from_parts(&self.scope_kind, Some(self.scope_id))?;
        Some(GrantView {
            id: self.id,
            user_id: self.user_id,
            role,
            scope,
            scope_label: self.scope_label.unwrap_or_default(),
        })
    }
}

const GRANT_SELECT: &str = "SELECT g.id, g.user_id, g.role, g.scope_kind, g.scope_id,
        COALESCE(s.code, st.code) AS scope_label
     FROM grants g
     LEFT JOIN sites s ON g.scope_kind = 'site' AND s.id = g.scope_id
     LEFT JOIN studies st ON g.scope_kind = 'study' AND st.id = g.scope_id";

pub async fn grants_of(store: &Store, user_id: Uuid) -> Result<Vec<GrantView>> {
    let sql = format!("{GRANT_SELECT} WHERE g.user_id = $1 ORDER BY g.role, scope_label");
    let rows: Vec<GrantRow> =
        on!(store.db.read(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(user_id).fetch_all(c).await)?;
    Ok(rows.into_iter().filter_map(GrantRow::view).collect())
}

pub async fn all_grants(store: &Store) -> Result<Vec<GrantView>> {
    let sql = format!("{GRANT_SELECT} ORDER BY g.user_id, g.role");
    let rows: Vec<GrantRow> =
        on!(store.db.read(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).fetch_all(c).await)?;
    Ok(rows.into_iter().filter_map(GrantRow::view).collect())
}

fn scope_id(scope: Scope) -> Uuid {
    scope.id().unwrap_or(Uuid::nil())
}

async fn add_grant_in(tx: &mut Tx, user_id: Uuid, grant: Grant) -> Result<Uuid> {
    // The scope must exist: a grant on a missing site or study would silently do nothing.
    let exists: bool = match grant.scope {
        Scope::Organization => true,
        Scope::Site(id) => {
            tx_on!(tx, |c| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sites WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *c)
                .await)?
                > 0
        }
        Scope::Study(id) => {
            tx_on!(tx, |c| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM studies WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *c)
                .await)?
                > 0
        }
    };
    if !exists {
        return Err(StoreError::conflict("scope", "does not name an existing site or study"));
    }
    let id = new_id();
    exec!(
        tx,
        "INSERT INTO grants (id, user_id, role, scope_kind, scope_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        user_id,
        grant.role.as_str(),
        grant.scope.kind(),
        scope_id(grant.scope),
        now()
    )
    .map_err(|e| StoreError::from(e).unique_as("role", "the user already holds this role in this scope"))?;
    tx.audit(AuditEvent::new(AuditAction::PermissionChange, "user", user_id).new_value(serde_json::json!({
        "grant": "added", "grant_id": id, "role": grant.role.as_str(), "scope": grant.scope.kind(), "scope_id": grant.scope.id()
    })));
    Ok(id)
}

pub async fn add_grant(store: &Store, acting: &Acting, user_id: Uuid, grant: Grant) -> Result<Uuid> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                user_in(tx, user_id).await?;
                add_grant_in(tx, user_id, grant).await
            })
        })
        .await
}

pub async fn remove_grant(store: &Store, acting: &Acting, grant_id: Uuid) -> Result<()> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let row: Option<(Uuid, String, String, Uuid)> = tx_on!(tx, |c| sqlx::query_as(
                    "SELECT user_id, role, scope_kind, scope_id FROM grants WHERE id = $1"
                )
                .bind(grant_id)
                .fetch_optional(&mut *c)
                .await)?;
                let Some((user_id, role, kind, sid)) = row else { return Err(StoreError::NotFound("grant")) };
                if tx.acting().user == Some(user_id) && role == Role::Admin.as_str() {
                    return Err(StoreError::Refused("you cannot remove your own administrator role".into()));
                }
                exec!(tx, "DELETE FROM grants WHERE id = $1", grant_id)?;
                tx.audit(AuditEvent::new(AuditAction::PermissionChange, "user", user_id).old(serde_json::json!({
                    "grant": "removed", "grant_id": grant_id, "role": role, "scope": kind, "scope_id": if kind == "organization" { None } else { Some(sid) }
                })));
                Ok(())
            })
        })
        .await
}

/// The actor as the policy sees them: their id and grants.
pub async fn actor(store: &Store, user_id: Uuid) -> Result<Actor> {
    let grants = grants_of(store, user_id).await?;
    Ok(Actor { user_id, grants: grants.into_iter().map(|g| Grant { role: g.role, scope: g.scope }).collect() })
}

// ---------------------------------------------------------------- sign-in, lockout, sessions

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStage {
    /// Signed in.
    Full,
    /// Password accepted; the second factor is still to come.
    Mfa,
    /// Password accepted; the user's role requires a second factor they have not enrolled.
    Enroll,
}

impl SessionStage {
    fn as_str(self) -> &'static str {
        match self {
            SessionStage::Full => "full",
            SessionStage::Mfa => "mfa",
            SessionStage::Enroll => "enroll",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "full" => SessionStage::Full,
            "enroll" => SessionStage::Enroll,
            _ => SessionStage::Mfa,
        }
    }
}

#[derive(Debug)]
pub enum LoginOutcome {
    /// A new session (the token goes into the cookie) at the given stage.
    Session { user: User, token: String, stage: SessionStage },
    /// Wrong e-mail or password, or the account is locked or inactive. One outcome for all, so
    /// that the answer does not tell whether an account exists.
    Refused,
    /// The password was right; a second-factor code is required (API sign-in).
    TotpRequired,
}

#[derive(sqlx::FromRow)]
struct LoginRow {
    id: Uuid,
    password_hash: String,
    active: bool,
    failed_logins: i64,
    locked_until: Option<DateTime<Utc>>,
    totp_enabled: bool,
    totp_secret: Option<String>,
}

/// Password sign-in. `totp` is checked when given; without it a user with a second factor gets
/// an `Mfa` session (pages) or `TotpRequired` (API, `require_totp_inline`). The old session, if
/// any, is ended, so the session id always changes at sign-in.
pub async fn login(
    store: &Store,
    request_id: Option<String>,
    email_raw: &str,
    password: &str,
    totp: Option<&str>,
    require_totp_inline: bool,
    previous_session: Option<String>,
) -> Result<LoginOutcome> {
    let email = Email::parse(email_raw).ok();
    let row: Option<LoginRow> = match &email {
        Some(e) => on!(store.db.read(), |c| {
            sqlx::query_as(
            "SELECT id, password_hash, active, failed_logins, locked_until, totp_enabled, totp_secret FROM users WHERE email = $1"
        )
        .bind(e.as_str())
        .fetch_optional(c)
        .await
        })?,
        None => None,
    };
    let password_ok = verify_password(store, password, row.as_ref().map(|r| r.password_hash.clone())).await?;
    let t = now();
    let acting = Acting { user: row.as_ref().map(|r| r.id), request_id };
    let attempted =
        email.as_ref().map(|e| e.as_str().to_string()).unwrap_or_else(|| email_raw.chars().take(254).collect());

    let Some(row) = row else {
        store
            .write(&acting, move |tx| {
                Box::pin(async move {
                    tx.audit(AuditEvent::new(AuditAction::LoginFailed, "user", "unknown").new_value(
                        serde_json::json!({
                            "email": attempted, "cause": "unknown account"
                        }),
                    ));
                    Ok(())
                })
            })
            .await?;
        return Ok(LoginOutcome::Refused);
    };

    let locked = row.locked_until.is_some_and(|u| u > t);
    let totp_ok = match (row.totp_enabled, totp) {
        (true, Some(code)) => Some(totp_matches(row.totp_secret.as_deref(), code, &row.id.to_string())),
        _ => None,
    };
    let success = password_ok && row.active && !locked && totp_ok != Some(false);

    if !success {
        let threshold = store.settings.lockout_threshold;
        let lock_for = store.settings.lockout_duration;
        let cause = if !row.active {
            "inactive account"
        } else if locked {
            "account locked"
        } else if !password_ok {
            "wrong password"
        } else {
            "wrong second-factor code"
        };
        let user_id = row.id;
        store
            .write(&acting, move |tx| {
                Box::pin(async move {
                    tx.audit(AuditEvent::new(AuditAction::LoginFailed, "user", user_id).new_value(serde_json::json!({
                        "email": attempted, "cause": cause
                    })));
                    if locked || !row.active {
                        return Ok(());
                    }
                    // A lock that has run out starts a fresh count.
                    let failures = if row.locked_until.is_some() { 1 } else { row.failed_logins + 1 };
                    if failures >= threshold {
                        let until = t + lock_for;
                        exec!(tx, "UPDATE users SET failed_logins = 0, locked_until = $1 WHERE id = $2", until, user_id)?;
                        tx.audit(AuditEvent::new(AuditAction::Lockout, "user", user_id).new_value(serde_json::json!({
                            "locked_until": until, "failed_logins": failures
                        })));
                        crate::tasks::raise_in(
                            tx,
                            crate::tasks::NewTask {
                                kind: "account_locked".into(),
                                title: format!("Account locked after {failures} failed sign-ins: {attempted}"),
                                detail: format!(
                                    "The account is locked until {} UTC. Check with the user; repeated lockouts may mean someone is guessing the password.",
                                    until.format("%Y-%m-%d %H:%M")
                                ),
                                subject_type: "user".into(),
                                subject_id: user_id.to_string(),
                                study_id: None,
                                site_id: None,
                                assignee: clinbridge_core::tasks::Assignee::Role { role: Role::Admin, scope: Scope::Organization },
                                due_at: t,
                                rule: "identity.lockout".into(),
                                rule_key: format!("identity.lockout:{user_id}:{}", t.timestamp()),
                            },
                        )
                        .await?;
                    } else {
                        exec!(tx, "UPDATE users SET failed_logins = $1, locked_until = NULL WHERE id = $2", failures, user_id)?;
                    }
                    Ok(())
                })
            })
            .await?;
        return Ok(LoginOutcome::Refused);
    }

    if row.totp_enabled && totp_ok.is_none() && require_totp_inline {
        return Ok(LoginOutcome::TotpRequired);
    }
    let org = organization(store).await?;
    let grants = grants_of(store, row.id).await?;
    let stage = if row.totp_enabled && totp_ok != Some(true) {
        SessionStage::Mfa
    } else if !row.totp_enabled && grants.iter().any(|g| org.mfa_required_for(g.role)) {
        SessionStage::Enroll
    } else {
        SessionStage::Full
    };
    let token = random_token(32)?;
    let token_hash = sha256_hex(&token);
    let prev_hash = previous_session.map(|s| sha256_hex(&s));
    let user_id = row.id;
    store
        .write(&acting, move |tx| {
            Box::pin(async move {
                if let Some(p) = prev_hash {
                    exec!(tx, "DELETE FROM sessions WHERE id_hash = $1", p)?;
                }
                exec!(tx, "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1", user_id)?;
                exec!(tx, "INSERT INTO sessions (id_hash, user_id, stage, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)", &token_hash, user_id, stage.as_str(), t)?;
                tx.audit(AuditEvent::new(AuditAction::Login, "user", user_id).new_value(serde_json::json!({
                    "stage": stage.as_str(), "second_factor": totp_ok == Some(true)
                })));
                Ok(())
            })
        })
        .await?;
    let user = self::user(store, row.id).await?;
    Ok(LoginOutcome::Session { user, token, stage })
}

#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub user: User,
    pub stage: SessionStage,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    stage: String,
    session_created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    #[sqlx(flatten)]
    user: User,
}

/// Looks a session up, enforcing the idle and absolute timeouts (an expired session is
/// removed) and recording activity at most once a minute.
pub async fn session(store: &Store, token: &str) -> Result<Option<SessionInfo>> {
    let id_hash = sha256_hex(token);
    let row: Option<SessionRow> = on!(store.db.read(), |c| sqlx::query_as(
        "SELECT s.stage, s.created_at AS session_created_at, s.last_seen_at,
                u.id, u.email, u.name, u.active, u.totp_enabled, u.time_zone, u.locked_until, u.created_at
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1"
    )
    .bind(&id_hash)
    .fetch_optional(c)
    .await)?;
    let Some(row) = row else { return Ok(None) };
    let t = now();
    let idle = store.settings.session_idle;
    let expired = t - row.last_seen_at > idle || t - row.session_created_at > store.settings.session_absolute;
    let user_id = row.user.id;
    if expired || !row.user.active {
        let h = id_hash.clone();
        store
            .write(&Acting::user(user_id, None), move |tx| {
                Box::pin(async move {
                    let gone = exec!(tx, "DELETE FROM sessions WHERE id_hash = $1", &h)?;
                    if gone > 0 {
                        tx.audit(
                            AuditEvent::new(AuditAction::Logout, "user", user_id)
                                .new_value(serde_json::json!({"cause": "session timed out"})),
                        );
                    }
                    Ok(())
                })
            })
            .await?;
        return Ok(None);
    }
    let touch_every = std::cmp::min(chrono::Duration::seconds(60), idle / 10);
    if t - row.last_seen_at > touch_every {
        let h = id_hash.clone();
        store
            .write(&Acting::user(user_id, None), move |tx| {
                Box::pin(async move {
                    exec!(tx, "UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2", t, &h)?;
                    Ok(())
                })
            })
            .await?;
    }
    Ok(Some(SessionInfo { stage: SessionStage::parse(&row.stage), created_at: row.session_created_at, user: row.user }))
}

/// Signs out: the session is removed server-side.
pub async fn logout(store: &Store, acting: &Acting, token: &str) -> Result<()> {
    let h = sha256_hex(token);
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let gone = exec!(tx, "DELETE FROM sessions WHERE id_hash = $1", &h)?;
                if gone > 0
                    && let Some(u) = tx.acting().user
                {
                    tx.audit(AuditEvent::new(AuditAction::Logout, "user", u));
                }
                Ok(())
            })
        })
        .await
}

/// Moves a session on after its second factor was checked or enrolled.
async fn promote_session(tx: &mut Tx, token_hash: &str) -> Result<()> {
    exec!(tx, "UPDATE sessions SET stage = 'full' WHERE id_hash = $1", token_hash)?;
    Ok(())
}

// ---------------------------------------------------------------- second factor (TOTP)

fn totp_for(secret_b32: &str, account: &str) -> Option<totp_rs::TOTP> {
    let secret = totp_rs::Secret::Encoded(secret_b32.to_string()).to_bytes().ok()?;
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, secret, Some("Clinbridge".into()), account.to_string()).ok()
}

fn totp_matches(secret: Option<&str>, code: &str, account: &str) -> bool {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    secret.and_then(|s| totp_for(s, account)).is_some_and(|t| t.check_current(&code).unwrap_or(false))
}

/// Starts enrolment: a new secret (not yet active) and its `otpauth://` URI for the QR code.
pub async fn totp_begin(store: &Store, acting: &Acting, user_id: Uuid) -> Result<String> {
    let u = user(store, user_id).await?;
    if u.totp_enabled {
        return Err(StoreError::Refused("a second factor is already enrolled; remove it first".into()));
    }
    let bytes = crate::secrets::random_bytes::<20>()?;
    let secret = totp_rs::Secret::Raw(bytes.to_vec()).to_encoded().to_string();
    let totp = totp_for(&secret, &u.email).ok_or_else(|| StoreError::Internal("could not build a TOTP".into()))?;
    let s = secret.clone();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                exec!(tx, "UPDATE users SET totp_secret = $1, totp_enabled = $2 WHERE id = $3", &s, false, user_id)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "user", user_id)
                        .new_value(serde_json::json!({"totp": "enrolment started"})),
                );
                Ok(())
            })
        })
        .await?;
    Ok(totp.get_url())
}

/// The pending secret's URI, to show the QR code again.
pub async fn totp_pending_uri(store: &Store, user_id: Uuid) -> Result<Option<String>> {
    let (secret, enabled, email): (Option<String>, bool, String) =
        on!(store.db.read(), |c| sqlx::query_as("SELECT totp_secret, totp_enabled, email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(c)
            .await)?;
    if enabled {
        return Ok(None);
    }
    Ok(secret.and_then(|s| totp_for(&s, &email)).map(|t| t.get_url()))
}

/// Confirms enrolment with a code from the authenticator; returns ten one-time recovery codes
/// (shown once, stored hashed). The session, if given, is promoted to a full sign-in.
pub async fn totp_confirm(
    store: &Store,
    acting: &Acting,
    user_id: Uuid,
    code: &str,
    session_token: Option<String>,
) -> Result<Vec<String>> {
    let (secret, email): (Option<String>, String) =
        on!(store.db.read(), |c| sqlx::query_as("SELECT totp_secret, email FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(c)
            .await)?;
    if !totp_matches(secret.as_deref(), code, &email) {
        return Err(clinbridge_core::Invalid::one(
            "code",
            "does not match; check the time on your device and try the next code",
        )
        .into());
    }
    let mut codes = Vec::new();
    for _ in 0..10 {
        let b = crate::secrets::random_bytes::<5>()?;
        let h = hex::encode(b);
        codes.push(format!("{}-{}", &h[..5], &h[5..]));
    }
    let hashes: Vec<String> = codes.iter().map(|c| sha256_hex(c)).collect();
    let sess = session_token.map(|s| sha256_hex(&s));
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                exec!(tx, "UPDATE users SET totp_enabled = $1 WHERE id = $2", true, user_id)?;
                exec!(tx, "DELETE FROM recovery_codes WHERE user_id = $1", user_id)?;
                for h in &hashes {
                    exec!(
                        tx,
                        "INSERT INTO recovery_codes (id, user_id, code_hash) VALUES ($1, $2, $3)",
                        new_id(),
                        user_id,
                        h
                    )?;
                }
                if let Some(s) = sess {
                    promote_session(tx, &s).await?;
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "user", user_id)
                        .new_value(serde_json::json!({"totp": "enabled"})),
                );
                Ok(())
            })
        })
        .await?;
    Ok(codes)
}

/// Completes a sign-in waiting for its second factor, with a TOTP code or a recovery code.
pub async fn totp_complete(store: &Store, request_id: Option<String>, session_token: &str, code: &str) -> Result<bool> {
    let Some(info) = session(store, session_token).await? else {
        return Ok(false);
    };
    if info.stage != SessionStage::Mfa {
        return Ok(info.stage == SessionStage::Full);
    }
    let user_id = info.user.id;
    let secret: Option<String> =
        on!(store.db.read(), |c| sqlx::query_scalar("SELECT totp_secret FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(c)
            .await)?;
    let by_totp = totp_matches(secret.as_deref(), code, &info.user.email);
    let recovery_hash = sha256_hex(code.trim());
    let h = sha256_hex(session_token);
    let acting = Acting::user(user_id, request_id);
    store
        .write(&acting, move |tx| {
            Box::pin(async move {
                let mut ok = by_totp;
                let mut used_recovery = false;
                if !ok {
                    let used = exec!(tx, "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL", now(), user_id, &recovery_hash)?;
                    ok = used == 1;
                    used_recovery = ok;
                }
                if ok {
                    promote_session(tx, &h).await?;
                    tx.audit(AuditEvent::new(AuditAction::Login, "user", user_id).new_value(serde_json::json!({
                        "stage": "full", "second_factor": if used_recovery { "recovery code" } else { "totp" }
                    })));
                } else {
                    tx.audit(AuditEvent::new(AuditAction::LoginFailed, "user", user_id).new_value(serde_json::json!({
                        "cause": "wrong second-factor code"
                    })));
                }
                Ok(ok)
            })
        })
        .await
}

/// Removes the second factor (by the user with their password, or by an admin).
pub async fn totp_disable(store: &Store, acting: &Acting, user_id: Uuid, reason: Option<String>) -> Result<()> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                exec!(tx, "UPDATE users SET totp_enabled = $1, totp_secret = NULL WHERE id = $2", false, user_id)?;
                exec!(tx, "DELETE FROM recovery_codes WHERE user_id = $1", user_id)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "user", user_id)
                        .new_value(serde_json::json!({"totp": "disabled"}))
                        .reason(reason),
                );
                Ok(())
            })
        })
        .await
}

/// The current code for a secret (tests and the CLI use it to play the authenticator).
pub fn totp_code_now(otpauth_uri: &str) -> Option<String> {
    totp_rs::TOTP::from_url(otpauth_uri).ok().and_then(|t| t.generate_current().ok())
}

// ---------------------------------------------------------------- API tokens

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates a token; the secret is returned once and only its hash is kept.
pub async fn create_token(store: &Store, acting: &Acting, user_id: Uuid, name: &str) -> Result<(ApiToken, String)> {
    let name = clinbridge_core::required_text("name", name, 100)?;
    let secret = format!("cbt_{}", random_token(32)?);
    let hash = sha256_hex(&secret);
    let prefix: String = secret.chars().take(10).collect();
    let token = store
        .write(acting, move |tx| {
            Box::pin(async move {
                user_in(tx, user_id).await?;
                let t = ApiToken { id: new_id(), user_id, name, prefix, created_at: now(), last_used_at: None, revoked_at: None };
                exec!(tx, "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)", t.id, user_id, &t.name, &hash, &t.prefix, t.created_at)?;
                tx.audit(AuditEvent::new(AuditAction::Create, "api_token", t.id).new_value(serde_json::json!({
                    "user_id": user_id, "name": t.name, "prefix": t.prefix
                })));
                Ok(t)
            })
        })
        .await?;
    Ok((token, secret))
}

pub async fn tokens_of(store: &Store, user_id: Uuid) -> Result<Vec<ApiToken>> {
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as::<_, ApiToken>(
        "SELECT id, user_id, name, prefix, created_at, last_used_at, revoked_at FROM api_tokens WHERE user_id = $1 AND study_id IS NULL ORDER BY created_at DESC"
    )
    .bind(user_id)
    .fetch_all(c)
    .await
    })?)
}

pub async fn token(store: &Store, id: Uuid) -> Result<ApiToken> {
    on!(store.db.read(), |c| sqlx::query_as::<_, ApiToken>(
        "SELECT id, user_id, name, prefix, created_at, last_used_at, revoked_at FROM api_tokens WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await)?
    .ok_or(StoreError::NotFound("token"))
}

pub async fn revoke_token(store: &Store, acting: &Acting, id: Uuid) -> Result<()> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let r =
                    exec!(tx, "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL", now(), id)?;
                if r == 0 {
                    return Err(StoreError::NotFound("token"));
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "api_token", id)
                        .new_value(serde_json::json!({"revoked": true})),
                );
                Ok(())
            })
        })
        .await
}

/// The active user a bearer token belongs to.
pub async fn authenticate_token(store: &Store, secret: &str) -> Result<Option<User>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        token_id: Uuid,
        last_used_at: Option<DateTime<Utc>>,
        #[sqlx(flatten)]
        user: User,
    }
    let hash = sha256_hex(secret.trim());
    let row: Option<Row> = on!(store.db.read(), |c| {
        sqlx::query_as(
        "SELECT t.id AS token_id, t.last_used_at, u.id, u.email, u.name, u.active, u.totp_enabled, u.time_zone, u.locked_until, u.created_at
         FROM api_tokens t JOIN users u ON u.id = t.user_id
         WHERE t.token_hash = $1 AND t.study_id IS NULL AND t.revoked_at IS NULL AND u.active = $2"
    )
    .bind(&hash)
    .bind(true)
    .fetch_optional(c)
    .await
    })?;
    let Some(row) = row else { return Ok(None) };
    let t = now();
    // Last use is informational; recording it at most hourly keeps reads from becoming writes.
    if row.last_used_at.is_none_or(|l| t - l > chrono::Duration::hours(1)) {
        let (token_id, user_id) = (row.token_id, row.user.id);
        store
            .write(&Acting::user(user_id, None), move |tx| {
                Box::pin(async move {
                    exec!(tx, "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", t, token_id)?;
                    Ok(())
                })
            })
            .await?;
    }
    Ok(Some(row.user))
}

/// Creates the organization on a fresh database (first start, or first user from the CLI).
pub async fn ensure_organization(store: &Store, name: &str) -> Result<Organization> {
    match organization(store).await {
        Ok(o) => Ok(o),
        Err(StoreError::NotFound(_)) => {
            create_organization(store, &Acting::system(), name).await?;
            organization(store).await
        }
        Err(e) => Err(e),
    }
}
