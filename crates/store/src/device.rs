//! Device field support for the clinical specialists of a medical device maker: products and
//! the installed base at accounts (the medical context's institutions and their departments),
//! facility credentials with their renewal tasks, and case coverage with its assignment rules.
//! Support tickets and complaints are in `device/support.rs`, in-service training and product
//! feedback in `device/training.rs`, courses in `device/courses.rs`, territories, the week plan and the dashboard in
//! `device/field.rs`; all are re-exported here so callers see one `device` module.
//!
//! Access is checked here with the policy (`Context::Device`: clinical specialists read and
//! write, commercial users read). Every row carries its organization and every read is
//! narrowed to the reader's, so a user of another organization sees nothing. Every mutation
//! takes the acting user, checks them inside its transaction and writes its audit rows there.

use crate::medical::{Listed, user_zone};
use crate::tasks::{NewTask, raise_in, resolve_in};
use crate::{Acting, Result, Store, StoreError, Tx, exec, json, new_id, now, on, tx_on};
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::device::{
    CaseInput, CaseStatus, CheckedCase, CredentialInput, CredentialProblem, InstallInput, InstallStatus, ProductInput,
    RequiredDocument, cases_conflict, credential_covers, renewal_due, travel_buffer,
};
use clinbridge_core::identity::{Grant, Role, Scope};
use clinbridge_core::policy::{Action, Actor, Context, Op, Target, authorize};
use clinbridge_core::tasks::{Assignee, TaskStatus};
use serde::Serialize;
use uuid::Uuid;

/// Fetches all rows of a query on the read pool.
macro_rules! rows {
    ($store:expr, $ty:ty, $sql:expr $(, $b:expr)* $(,)?) => {
        $crate::on!($store.db.read(), |c| sqlx::query_as::<_, $ty>(sqlx::AssertSqlSafe(String::from($sql)))$(.bind($b))*.fetch_all(c).await)
    };
}

/// Fetches at most one row inside a transaction.
macro_rules! row_in {
    ($tx:expr, $ty:ty, $sql:expr $(, $b:expr)* $(,)?) => {
        $crate::tx_on!($tx, |c| sqlx::query_as::<_, $ty>(sqlx::AssertSqlSafe(String::from($sql)))$(.bind($b))*.fetch_optional(&mut *c).await)
    };
}

mod courses;
mod field;
mod support;
mod training;

pub use courses::*;
pub use field::*;
pub use support::*;
pub use training::*;

// ---------------------------------------------------------------- access

const NO_READ: &str = "device records are open to clinical specialists and commercial users only";
const NO_WRITE: &str = "only clinical specialists change device records";

/// Checks that the actor may read device records; gives their organization.
pub(crate) async fn reader(store: &Store, actor: &Actor) -> Result<Uuid> {
    if !authorize(actor, Action::new(Context::Device, Op::Read), Target::ORG).allowed() {
        return Err(StoreError::Refused(NO_READ.into()));
    }
    let org: Option<Uuid> = on!(store.db.read(), |c| sqlx::query_scalar("SELECT org_id FROM users WHERE id = $1")
        .bind(actor.user_id)
        .fetch_optional(c)
        .await)?;
    org.ok_or(StoreError::NotFound("user"))
}

/// Checks, inside the write, that the acting user may change device records (their grants
/// as they are now); gives the organization the write belongs to. The system (seeding, the
/// deadline ticker) writes for the deployment's organization.
pub(crate) async fn writer(tx: &mut Tx) -> Result<Uuid> {
    let Some(user) = tx.acting().user else {
        let org: Option<Uuid> =
            tx_on!(tx, |c| sqlx::query_scalar("SELECT id FROM organizations ORDER BY created_at LIMIT 1")
                .fetch_optional(&mut *c)
                .await)?;
        return org.ok_or(StoreError::NotFound("organization"));
    };
    let grants: Vec<(String, String, Uuid)> =
        tx_on!(tx, |c| sqlx::query_as("SELECT role, scope_kind, scope_id FROM grants WHERE user_id = $1")
            .bind(user)
            .fetch_all(&mut *c)
            .await)?;
    let actor = Actor {
        user_id: user,
        grants: grants
            .iter()
            .filter_map(|(r, k, s)| Some(Grant { role: Role::parse(r).ok()?, scope: Scope::from_parts(k, Some(*s))? }))
            .collect(),
    };
    if !authorize(&actor, Action::new(Context::Device, Op::Write), Target::ORG).allowed() {
        return Err(StoreError::Refused(NO_WRITE.into()));
    }
    org_of(tx, user).await
}

async fn org_of(tx: &mut Tx, user: Uuid) -> Result<Uuid> {
    let org: Option<Uuid> = tx_on!(tx, |c| sqlx::query_scalar("SELECT org_id FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(&mut *c)
        .await)?;
    org.ok_or(StoreError::NotFound("user"))
}

/// A user of the organization, by name; refuses anyone else naming the field.
pub(crate) async fn member(tx: &mut Tx, org: Uuid, field: &str, user: Uuid) -> Result<String> {
    let name: Option<String> =
        tx_on!(tx, |c| sqlx::query_scalar("SELECT name FROM users WHERE id = $1 AND org_id = $2 AND active = $3")
            .bind(user)
            .bind(org)
            .bind(true)
            .fetch_optional(&mut *c)
            .await)?;
    name.ok_or_else(|| Invalid::one(field, "is not an active user of this organization").into())
}

/// An institution's name and departments.
pub(crate) async fn account(tx: &mut Tx, field: &str, id: Uuid) -> Result<(String, Vec<String>)> {
    let row: Option<(String, String)> =
        tx_on!(tx, |c| sqlx::query_as("SELECT name, departments FROM medical_institutions WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *c)
            .await)?;
    let (name, departments) = row.ok_or_else(|| Invalid::one(field, "is not a listed institution"))?;
    Ok((name, serde_json::from_str(&departments).unwrap_or_default()))
}

/// Checks a department is one the institution lists (when it lists any).
pub(crate) fn department_of(field: &str, department: &str, listed: &[String], account: &str) -> Result<()> {
    if !department.is_empty() && !listed.is_empty() && !listed.iter().any(|d| d == department) {
        return Err(Invalid::one(field, format!("{account} lists no department {department:?}")).into());
    }
    Ok(())
}

/// A product of the organization, by name.
pub(crate) async fn product_name(tx: &mut Tx, org: Uuid, field: &str, id: Uuid) -> Result<String> {
    let name: Option<String> =
        tx_on!(tx, |c| sqlx::query_scalar("SELECT name FROM device_products WHERE id = $1 AND org_id = $2")
            .bind(id)
            .bind(org)
            .fetch_optional(&mut *c)
            .await)?;
    name.ok_or_else(|| Invalid::one(field, "is not a product of this organization").into())
}

/// Noon UTC of a day: a task due "on" a day stays on that day across the Americas and Europe.
pub(crate) fn due_on(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default()).and_utc()
}

/// A clinical specialist of the organization, as assignment lists show them.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Specialist {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub time_zone: String,
}

/// The active clinical specialists of the reader's organization, by name.
pub async fn specialists(store: &Store, actor: &Actor) -> Result<Vec<Specialist>> {
    let org = reader(store, actor).await?;
    Ok(rows!(
        store,
        Specialist,
        "SELECT u.id, u.name, u.email, u.time_zone FROM users u
         WHERE u.org_id = $1 AND u.active = $2
           AND EXISTS (SELECT 1 FROM grants g WHERE g.user_id = u.id AND g.role = $3)
         ORDER BY u.name",
        org,
        true,
        Role::ClinicalSpecialist.as_str()
    )?)
}

/// The minutes kept free between two cases of one specialist in the reader's organization.
pub async fn travel_buffer_minutes(store: &Store, actor: &Actor) -> Result<i64> {
    let org = reader(store, actor).await?;
    let m: Option<i64> = on!(store.db.read(), |c| sqlx::query_scalar(
        "SELECT case_travel_buffer_minutes FROM organizations WHERE id = $1"
    )
    .bind(org)
    .fetch_optional(c)
    .await)?;
    m.ok_or(StoreError::NotFound("organization"))
}

/// Sets the travel buffer between cases (0 to 720 minutes).
pub async fn set_travel_buffer(store: &Store, acting: &Acting, minutes: i64) -> Result<i64> {
    let minutes = travel_buffer(minutes)?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = buffer_in(tx, org).await?;
                exec!(tx, "UPDATE organizations SET case_travel_buffer_minutes = $1 WHERE id = $2", minutes, org)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "organization", org)
                        .old(serde_json::json!({ "case_travel_buffer_minutes": old }))
                        .new_value(serde_json::json!({ "case_travel_buffer_minutes": minutes })),
                );
                Ok(minutes)
            })
        })
        .await
}

async fn buffer_in(tx: &mut Tx, org: Uuid) -> Result<i64> {
    let m: Option<i64> =
        tx_on!(tx, |c| sqlx::query_scalar("SELECT case_travel_buffer_minutes FROM organizations WHERE id = $1")
            .bind(org)
            .fetch_optional(&mut *c)
            .await)?;
    m.ok_or(StoreError::NotFound("organization"))
}

// ---------------------------------------------------------------- products

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Product {
    pub id: Uuid,
    pub name: String,
    pub model: String,
    pub software_version: String,
    pub udi_di: String,
    pub udi_issuer: String,
    pub certificate_months: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const PRODUCT_SELECT: &str = "SELECT id, name, model, software_version, udi_di, udi_issuer, certificate_months, created_at, updated_at FROM device_products";
const PRODUCT_TAKEN: &str = "a product with this UDI-DI is already listed";

pub async fn products(store: &Store, actor: &Actor) -> Result<Vec<Product>> {
    let org = reader(store, actor).await?;
    Ok(rows!(store, Product, format!("{PRODUCT_SELECT} WHERE org_id = $1 ORDER BY name, model"), org)?)
}

pub async fn product(store: &Store, actor: &Actor, id: Uuid) -> Result<Product> {
    let org = reader(store, actor).await?;
    rows!(store, Product, format!("{PRODUCT_SELECT} WHERE id = $1 AND org_id = $2"), id, org)?
        .pop()
        .ok_or(StoreError::NotFound("product"))
}

async fn product_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Product> {
    row_in!(tx, Product, format!("{PRODUCT_SELECT} WHERE id = $1 AND org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("product"))
}

pub async fn create_product(store: &Store, acting: &Acting, input: ProductInput) -> Result<Product> {
    let p = input.check()?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                exec!(
                    tx,
                    "INSERT INTO device_products (id, org_id, name, model, software_version, udi_di, udi_issuer, certificate_months, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    id,
                    org,
                    &p.name,
                    &p.model,
                    &p.software_version,
                    p.udi_di.as_str(),
                    p.udi_di.issuer.as_str(),
                    p.certificate_months,
                    now()
                )
                .map_err(|e| StoreError::from(e).unique_as("udi_di", PRODUCT_TAKEN))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "device_product", id).new_value(&p));
                product_in(tx, org, id).await
            })
        })
        .await
}

pub async fn update_product(store: &Store, acting: &Acting, id: Uuid, input: ProductInput) -> Result<Product> {
    let p = input.check()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = product_in(tx, org, id).await?;
                exec!(
                    tx,
                    "UPDATE device_products SET name = $1, model = $2, software_version = $3, udi_di = $4, udi_issuer = $5,
                        certificate_months = $6, updated_at = $7 WHERE id = $8",
                    &p.name,
                    &p.model,
                    &p.software_version,
                    p.udi_di.as_str(),
                    p.udi_di.issuer.as_str(),
                    p.certificate_months,
                    now(),
                    id
                )
                .map_err(|e| StoreError::from(e).unique_as("udi_di", PRODUCT_TAKEN))?;
                tx.audit(AuditEvent::new(AuditAction::Update, "device_product", id).old(&old).new_value(&p));
                product_in(tx, org, id).await
            })
        })
        .await
}

// ---------------------------------------------------------------- installed base

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Installed {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub department: String,
    pub product_id: Uuid,
    pub product_name: String,
    pub serial: String,
    pub installed_on: NaiveDate,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const INSTALLED_SELECT: &str = "SELECT u.id, u.institution_id, i.name AS institution_name, u.department, u.product_id, p.name AS product_name,
        u.serial, u.installed_on, u.status, u.created_at, u.updated_at
     FROM device_installed u JOIN medical_institutions i ON i.id = u.institution_id JOIN device_products p ON p.id = u.product_id";

/// The installed base of the reader's organization, at one account or everywhere.
pub async fn installed_base(store: &Store, actor: &Actor, institution_id: Option<Uuid>) -> Result<Vec<Installed>> {
    let org = reader(store, actor).await?;
    Ok(rows!(
        store,
        Installed,
        format!(
            "{INSTALLED_SELECT} WHERE u.org_id = $1 AND ($2 IS NULL OR u.institution_id = $2) ORDER BY i.name, u.department, p.name, u.serial"
        ),
        org,
        institution_id
    )?)
}

async fn installed_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Installed> {
    row_in!(tx, Installed, format!("{INSTALLED_SELECT} WHERE u.id = $1 AND u.org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("installed unit"))
}

/// Records a unit installed at an account (institution and department).
pub async fn install(store: &Store, acting: &Acting, input: InstallInput) -> Result<Installed> {
    let u = input.check(now().date_naive())?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let (account_name, departments) = account(tx, "institution_id", input.institution_id).await?;
                department_of("department", &u.department, &departments, &account_name)?;
                product_name(tx, org, "product_id", input.product_id).await?;
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO device_installed (id, org_id, institution_id, department, product_id, serial, installed_on, status, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    id,
                    org,
                    input.institution_id,
                    &u.department,
                    input.product_id,
                    &u.serial,
                    u.installed_on,
                    u.status.as_str(),
                    t
                )
                .map_err(|e| StoreError::from(e).unique_as("serial", "a unit of this product with this serial is already installed"))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "device_installed", id).new_value(serde_json::json!({
                    "institution_id": input.institution_id, "product_id": input.product_id, "unit": u
                })));
                installed_in(tx, org, id).await
            })
        })
        .await
}

/// Changes an installed unit's status (in use, loaner, out for service, decommissioned).
pub async fn set_install_status(store: &Store, acting: &Acting, id: Uuid, status: &str) -> Result<Installed> {
    let status = InstallStatus::parse(status)?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = installed_in(tx, org, id).await?;
                exec!(
                    tx,
                    "UPDATE device_installed SET status = $1, updated_at = $2 WHERE id = $3",
                    status.as_str(),
                    now(),
                    id
                )?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_installed", id)
                        .old(serde_json::json!({ "status": old.status }))
                        .new_value(serde_json::json!({ "status": status.as_str() })),
                );
                installed_in(tx, org, id).await
            })
        })
        .await
}

// ---------------------------------------------------------------- facility credentials

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Credential {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_name: String,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub documents: Listed<RequiredDocument>,
    pub issued_on: NaiveDate,
    pub expires_on: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a credential stands on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialState {
    Valid,
    /// Valid, but inside the renewal window.
    Expiring,
    Expired,
    /// Valid dates, but a required document is not received.
    Incomplete,
}

impl Credential {
    pub fn state(&self, today: NaiveDate) -> CredentialState {
        if today > self.expires_on {
            CredentialState::Expired
        } else if self.documents.iter().any(|d| !d.received) {
            CredentialState::Incomplete
        } else if today >= renewal_due(self.expires_on) {
            CredentialState::Expiring
        } else {
            CredentialState::Valid
        }
    }
}

const CREDENTIAL_SELECT: &str =
    "SELECT c.id, c.user_id, u.name AS user_name, c.institution_id, i.name AS institution_name, c.name, c.documents,
        c.issued_on, c.expires_on, c.created_at, c.updated_at
     FROM device_credentials c JOIN users u ON u.id = c.user_id JOIN medical_institutions i ON i.id = c.institution_id";

pub fn credential_renewal_rule(id: Uuid) -> String {
    format!("device.credential_renewal:{id}")
}

/// Credentials of the reader's organization, of one specialist or all, soonest expiry first.
pub async fn credentials(store: &Store, actor: &Actor, user_id: Option<Uuid>) -> Result<Vec<Credential>> {
    let org = reader(store, actor).await?;
    Ok(rows!(
        store,
        Credential,
        format!(
            "{CREDENTIAL_SELECT} WHERE c.org_id = $1 AND ($2 IS NULL OR c.user_id = $2) ORDER BY c.expires_on, i.name"
        ),
        org,
        user_id
    )?)
}

async fn credential_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Credential> {
    row_in!(tx, Credential, format!("{CREDENTIAL_SELECT} WHERE c.id = $1 AND c.org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("credential"))
}

async fn raise_renewal(tx: &mut Tx, c: &Credential) -> Result<Uuid> {
    raise_in(
        tx,
        NewTask {
            kind: "device_credential_renewal".into(),
            title: format!("Renew credential at {}: {}", c.institution_name, c.name),
            detail: format!("{}'s credential expires on {}.", c.user_name, c.expires_on),
            subject_type: "device_credential".into(),
            subject_id: c.id.to_string(),
            study_id: None,
            site_id: None,
            assignee: Assignee::User { user_id: c.user_id },
            due_at: due_on(renewal_due(c.expires_on)),
            rule: "device.credential_renewal".into(),
            rule_key: credential_renewal_rule(c.id),
        },
    )
    .await
}

/// Records a specialist's credential at a facility, with its renewal task 30 days before
/// expiry on the specialist's queue. A credential recorded for the same facility and name
/// replaces the older one as far as renewal goes: the older one's renewal task is closed.
pub async fn add_credential(store: &Store, acting: &Acting, input: CredentialInput) -> Result<Credential> {
    let c = input.check()?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                member(tx, org, "user_id", input.user_id).await?;
                account(tx, "institution_id", input.institution_id).await?;
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO device_credentials (id, org_id, user_id, institution_id, name, documents, issued_on, expires_on, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    id,
                    org,
                    input.user_id,
                    input.institution_id,
                    &c.name,
                    json(&c.documents)?,
                    c.issued_on,
                    c.expires_on,
                    t
                )?;
                tx.audit(AuditEvent::new(AuditAction::Create, "device_credential", id).new_value(serde_json::json!({
                    "user_id": input.user_id, "institution_id": input.institution_id, "credential": c
                })));
                let older: Vec<Uuid> = tx_on!(tx, |c2| sqlx::query_scalar(
                    "SELECT id FROM device_credentials WHERE user_id = $1 AND institution_id = $2 AND lower(name) = lower($3) AND id <> $4 AND expires_on < $5"
                )
                .bind(input.user_id)
                .bind(input.institution_id)
                .bind(&c.name)
                .bind(id)
                .bind(c.expires_on)
                .fetch_all(&mut *c2)
                .await)?;
                for o in older {
                    resolve_in(tx, &credential_renewal_rule(o), TaskStatus::Done).await?;
                }
                let cred = credential_in(tx, org, id).await?;
                raise_renewal(tx, &cred).await?;
                Ok(cred)
            })
        })
        .await
}

/// Corrects a credential (its name, documents and dates); its open renewal task moves with
/// the expiry.
pub async fn update_credential(store: &Store, acting: &Acting, id: Uuid, input: CredentialInput) -> Result<Credential> {
    let c = input.check()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = credential_in(tx, org, id).await?;
                if old.user_id != input.user_id || old.institution_id != input.institution_id {
                    return Err(Invalid::one(
                        "institution_id",
                        "a credential stays with its specialist and facility: record a new one instead",
                    )
                    .into());
                }
                exec!(
                    tx,
                    "UPDATE device_credentials SET name = $1, documents = $2, issued_on = $3, expires_on = $4, updated_at = $5 WHERE id = $6",
                    &c.name,
                    json(&c.documents)?,
                    c.issued_on,
                    c.expires_on,
                    now(),
                    id
                )?;
                tx.audit(AuditEvent::new(AuditAction::Update, "device_credential", id).old(&old).new_value(&c));
                let cred = credential_in(tx, org, id).await?;
                raise_renewal(tx, &cred).await?;
                Ok(cred)
            })
        })
        .await
}

/// Marks a required document of a credential received (or not).
pub async fn set_document_received(
    store: &Store,
    acting: &Acting,
    credential_id: Uuid,
    document: &str,
    received: bool,
) -> Result<Credential> {
    let document = document.trim().to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = credential_in(tx, org, credential_id).await?;
                let mut docs = old.documents.0.clone();
                let Some(d) = docs.iter_mut().find(|d| d.name.eq_ignore_ascii_case(&document)) else {
                    return Err(Invalid::one(
                        "document",
                        format!("{document:?} is not a document this credential requires"),
                    )
                    .into());
                };
                d.received = received;
                exec!(
                    tx,
                    "UPDATE device_credentials SET documents = $1, updated_at = $2 WHERE id = $3",
                    json(&docs)?,
                    now(),
                    credential_id
                )?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_credential", credential_id)
                        .old(serde_json::json!({ "documents": old.documents }))
                        .new_value(serde_json::json!({ "documents": docs })),
                );
                credential_in(tx, org, credential_id).await
            })
        })
        .await
}

/// Checks, inside a write, that a specialist holds a credential at a facility valid on the
/// procedure day; the message names the facility and the credential and says why not.
async fn check_credential(
    tx: &mut Tx,
    org: Uuid,
    specialist: Uuid,
    who: &str,
    institution: Uuid,
    on: NaiveDate,
) -> Result<()> {
    let held: Vec<(String, NaiveDate, NaiveDate, String)> = tx_on!(tx, |c| {
        sqlx::query_as(
        "SELECT name, issued_on, expires_on, documents FROM device_credentials WHERE org_id = $1 AND user_id = $2 AND institution_id = $3 ORDER BY expires_on DESC"
    )
    .bind(org)
    .bind(specialist)
    .bind(institution)
    .fetch_all(&mut *c)
    .await
    })?;
    let list: Vec<(NaiveDate, NaiveDate, Vec<RequiredDocument>)> =
        held.iter().map(|(_, i, e, d)| (*i, *e, serde_json::from_str(d).unwrap_or_default())).collect();
    let Err(problem) = credential_covers(&list, on) else { return Ok(()) };
    let (facility, _) = account(tx, "institution_id", institution).await?;
    let name =
        |exp: NaiveDate| held.iter().find(|h| h.2 == exp).map(|h| h.0.clone()).unwrap_or_else(|| "credential".into());
    let message = match problem {
        CredentialProblem::Missing => {
            format!("{who} holds no credential at {facility}: the facility admits credentialed vendor staff only")
        }
        CredentialProblem::Expired { expires_on } => format!(
            "{who}'s credential {:?} at {facility} expired on {expires_on}, before the procedure on {on}",
            name(expires_on)
        ),
        CredentialProblem::NotYetIssued { issued_on } => {
            format!("{who}'s credential at {facility} is only valid from {issued_on}, after the procedure on {on}")
        }
        CredentialProblem::DocumentsMissing { documents } => {
            format!("{who}'s credential at {facility} lacks required documents: {}", documents.join(", "))
        }
    };
    Err(StoreError::conflict("specialist_user_id", &message))
}

// ---------------------------------------------------------------- case coverage

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Case {
    pub id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub department: String,
    pub surgeon_hcp_id: Option<Uuid>,
    pub procedure_type: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: i64,
    #[sqlx(try_from = "String")]
    pub product_ids: Listed<Uuid>,
    pub specialist_user_id: Option<Uuid>,
    pub status: String,
    pub notes: String,
    pub outcome_notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CASE_SELECT: &str = "SELECT k.id, k.institution_id, i.name AS institution_name, k.department, k.surgeon_hcp_id, k.procedure_type,
        k.starts_at, k.ends_at, k.duration_minutes, k.product_ids, k.specialist_user_id, k.status, k.notes, k.outcome_notes,
        k.created_at, k.updated_at
     FROM device_cases k JOIN medical_institutions i ON i.id = k.institution_id";

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub specialist_user_id: Option<Uuid>,
    pub institution_id: Option<Uuid>,
    pub status: Option<String>,
    /// Cases starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Cases starting before.
    pub to: Option<DateTime<Utc>>,
}

/// Cases of the reader's organization, in time order.
pub async fn cases(store: &Store, actor: &Actor, f: &CaseFilter) -> Result<Vec<Case>> {
    let org = reader(store, actor).await?;
    let mut all = rows!(
        store,
        Case,
        format!(
            "{CASE_SELECT} WHERE k.org_id = $1 AND ($2 IS NULL OR k.specialist_user_id = $2) AND ($3 IS NULL OR k.institution_id = $3)
             AND ($4 IS NULL OR k.status = $4) ORDER BY k.starts_at"
        ),
        org,
        f.specialist_user_id,
        f.institution_id,
        f.status.clone()
    )?;
    all.retain(|k| f.from.is_none_or(|t| k.starts_at >= t) && f.to.is_none_or(|t| k.starts_at < t));
    Ok(all)
}

pub async fn case(store: &Store, actor: &Actor, id: Uuid) -> Result<Case> {
    let org = reader(store, actor).await?;
    rows!(store, Case, format!("{CASE_SELECT} WHERE k.id = $1 AND k.org_id = $2"), id, org)?
        .pop()
        .ok_or(StoreError::NotFound("case"))
}

async fn case_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Case> {
    row_in!(tx, Case, format!("{CASE_SELECT} WHERE k.id = $1 AND k.org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("case"))
}

/// Checks, inside a write, that a specialist can take a case: credentialed at the facility on
/// the procedure day, and free of their other cases with the travel buffer around each.
async fn check_assignment(
    tx: &mut Tx,
    org: Uuid,
    specialist: Uuid,
    institution: Uuid,
    window: (DateTime<Utc>, DateTime<Utc>),
    this_case: Uuid,
) -> Result<()> {
    // One assignment at a time per organization: on PostgreSQL this row lock makes a second
    // writer wait until the first has committed, so both never pass the overlap check.
    exec!(tx, "UPDATE organizations SET case_travel_buffer_minutes = case_travel_buffer_minutes WHERE id = $1", org)?;
    let who = member(tx, org, "specialist_user_id", specialist).await?;
    let zone = user_zone(tx, specialist).await?;
    let day = window.0.with_timezone(&zone).date_naive();
    check_credential(tx, org, specialist, &who, institution, day).await?;
    let buffer = buffer_in(tx, org).await?;
    let reach = Duration::minutes(buffer + clinbridge_core::device::MAX_CASE_MINUTES);
    let others = row_list_in(tx, org, specialist, window.0 - reach, window.1 + reach).await?;
    if let Some(k) =
        others.iter().find(|k| k.id != this_case && cases_conflict(window, (k.starts_at, k.ends_at), buffer))
    {
        let fmt = |t: DateTime<Utc>| t.with_timezone(&zone).format("%Y-%m-%d %H:%M %Z").to_string();
        return Err(StoreError::conflict(
            "specialist_user_id",
            &format!(
                "{who} already covers case {} ({} at {}) from {} to {}; with the {buffer}-minute travel buffer the two cases overlap",
                k.id,
                k.procedure_type,
                k.institution_name,
                fmt(k.starts_at),
                fmt(k.ends_at)
            ),
        ));
    }
    Ok(())
}

/// Refuses a guarded status change that found the row already moved by another writer.
pub(crate) fn changed_meanwhile(rows: u64) -> Result<()> {
    if rows == 0 {
        return Err(StoreError::conflict("status", "the record changed meanwhile: reload it and try again"));
    }
    Ok(())
}

/// A specialist's live (not cancelled) cases starting within a window.
async fn row_list_in(
    tx: &mut Tx,
    org: Uuid,
    specialist: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Case>> {
    let sql = format!(
        "{CASE_SELECT} WHERE k.org_id = $1 AND k.specialist_user_id = $2 AND k.status <> 'cancelled' AND k.starts_at >= $3 AND k.starts_at <= $4"
    );
    Ok(tx_on!(tx, |c| sqlx::query_as::<_, Case>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(org)
        .bind(specialist)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *c)
        .await)?)
}

async fn check_case_refs(tx: &mut Tx, org: Uuid, input: &CaseInput, k: &CheckedCase) -> Result<()> {
    let (name, departments) = account(tx, "institution_id", input.institution_id).await?;
    department_of("department", &k.department, &departments, &name)?;
    if let Some(h) = input.surgeon_hcp_id {
        crate::medical::hcp_in(tx, h).await.map_err(|e| match e {
            StoreError::NotFound(_) => Invalid::one("surgeon_hcp_id", "is not a listed healthcare professional").into(),
            e => e,
        })?;
    }
    for (n, p) in k.product_ids.iter().enumerate() {
        product_name(tx, org, &format!("product_ids[{}]", n + 1), *p).await?;
    }
    Ok(())
}

/// Records a case coverage request; when a specialist is named, the assignment rules apply.
pub async fn request_case(store: &Store, acting: &Acting, input: CaseInput) -> Result<Case> {
    let k = input.check()?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                check_case_refs(tx, org, &input, &k).await?;
                if let Some(s) = input.specialist_user_id {
                    check_assignment(tx, org, s, input.institution_id, (k.starts_at, k.ends_at), id).await?;
                }
                let t = now();
                let by = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO device_cases (id, org_id, institution_id, department, surgeon_hcp_id, procedure_type, starts_at, ends_at, duration_minutes,
                        product_ids, specialist_user_id, status, notes, created_by, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'requested', $12, $13, $14, $14)",
                    id,
                    org,
                    input.institution_id,
                    &k.department,
                    input.surgeon_hcp_id,
                    &k.procedure_type,
                    k.starts_at,
                    k.ends_at,
                    k.duration_minutes,
                    json(&k.product_ids)?,
                    input.specialist_user_id,
                    &k.notes,
                    by,
                    t
                )?;
                tx.audit(AuditEvent::new(AuditAction::Create, "device_case", id).new_value(serde_json::json!({
                    "institution_id": input.institution_id, "surgeon_hcp_id": input.surgeon_hcp_id,
                    "specialist_user_id": input.specialist_user_id, "case": k
                })));
                case_in(tx, org, id).await
            })
        })
        .await
}

/// Assigns a specialist to a case (or takes them off with `None`, which sends a confirmed
/// case back to requested). Refused when the specialist lacks a valid credential at the
/// facility on the procedure day, or has another case too close to this one.
pub async fn assign_case(store: &Store, acting: &Acting, case_id: Uuid, specialist: Option<Uuid>) -> Result<Case> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = case_in(tx, org, case_id).await?;
                let status = CaseStatus::parse(&old.status)?;
                if matches!(status, CaseStatus::Covered | CaseStatus::Cancelled) {
                    return Err(Invalid::one(
                        "status",
                        format!("the case is {} and no longer changes", status.label().to_lowercase()),
                    )
                    .into());
                }
                if let Some(s) = specialist {
                    check_assignment(tx, org, s, old.institution_id, (old.starts_at, old.ends_at), case_id).await?;
                }
                let new_status = if specialist.is_none() { CaseStatus::Requested } else { status };
                let n = exec!(
                    tx,
                    "UPDATE device_cases SET specialist_user_id = $1, status = $2, updated_at = $3 WHERE id = $4 AND status = $5",
                    specialist,
                    new_status.as_str(),
                    now(),
                    case_id,
                    &old.status
                )?;
                changed_meanwhile(n)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_case", case_id)
                        .old(serde_json::json!({ "specialist_user_id": old.specialist_user_id, "status": old.status }))
                        .new_value(
                            serde_json::json!({ "specialist_user_id": specialist, "status": new_status.as_str() }),
                        ),
                );
                case_in(tx, org, case_id).await
            })
        })
        .await
}

/// Moves a case to another time (procedures are rescheduled often). A specialist already
/// assigned must still be credentialed on the new day and free with the travel buffer.
pub async fn reschedule_case(
    store: &Store,
    acting: &Acting,
    case_id: Uuid,
    starts_at: DateTime<Utc>,
    duration_minutes: i64,
) -> Result<Case> {
    if !(15..=clinbridge_core::device::MAX_CASE_MINUTES).contains(&duration_minutes) {
        return Err(Invalid::one(
            "duration_minutes",
            format!("must be between 15 and {} minutes", clinbridge_core::device::MAX_CASE_MINUTES),
        )
        .into());
    }
    let starts_at = clinbridge_core::audit::truncate_micros(starts_at);
    let ends_at = starts_at + Duration::minutes(duration_minutes);
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = case_in(tx, org, case_id).await?;
                if matches!(old.status.as_str(), "covered" | "cancelled") {
                    return Err(Invalid::one("status", format!("the case is {} and no longer changes", old.status)).into());
                }
                if let Some(s) = old.specialist_user_id {
                    check_assignment(tx, org, s, old.institution_id, (starts_at, ends_at), case_id).await?;
                }
                let n = exec!(
                    tx,
                    "UPDATE device_cases SET starts_at = $1, ends_at = $2, duration_minutes = $3, updated_at = $4 WHERE id = $5 AND status = $6",
                    starts_at,
                    ends_at,
                    duration_minutes,
                    now(),
                    case_id,
                    &old.status
                )?;
                changed_meanwhile(n)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_case", case_id)
                        .old(serde_json::json!({ "starts_at": old.starts_at, "duration_minutes": old.duration_minutes }))
                        .new_value(serde_json::json!({ "starts_at": starts_at, "duration_minutes": duration_minutes })),
                );
                case_in(tx, org, case_id).await
            })
        })
        .await
}

/// Moves a case: confirmed (a specialist must be assigned; the assignment rules are checked
/// again), covered (once the procedure has started; outcome notes recorded), or cancelled.
pub async fn set_case_status(
    store: &Store,
    acting: &Acting,
    case_id: Uuid,
    status: &str,
    outcome_notes: &str,
) -> Result<Case> {
    let to = CaseStatus::parse(status)?;
    let outcome = clinbridge_core::medical::long_text("outcome_notes", outcome_notes, 8000)?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let old = case_in(tx, org, case_id).await?;
                CaseStatus::parse(&old.status)?.transition(to)?;
                if matches!(to, CaseStatus::Confirmed | CaseStatus::Covered) {
                    let Some(s) = old.specialist_user_id else {
                        return Err(Invalid::one(
                            "specialist_user_id",
                            "assign a specialist before confirming the case",
                        )
                        .into());
                    };
                    if to == CaseStatus::Confirmed {
                        check_assignment(tx, org, s, old.institution_id, (old.starts_at, old.ends_at), case_id).await?;
                    }
                }
                if to == CaseStatus::Covered && old.starts_at > now() {
                    return Err(Invalid::one("status", "a case is covered once the procedure has taken place").into());
                }
                let notes = if outcome.is_empty() { old.outcome_notes.clone() } else { outcome };
                let n = exec!(
                    tx,
                    "UPDATE device_cases SET status = $1, outcome_notes = $2, updated_at = $3 WHERE id = $4 AND status = $5",
                    to.as_str(),
                    &notes,
                    now(),
                    case_id,
                    &old.status
                )?;
                changed_meanwhile(n)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "device_case", case_id)
                        .old(serde_json::json!({ "status": old.status, "outcome_notes": old.outcome_notes }))
                        .new_value(serde_json::json!({ "status": to.as_str(), "outcome_notes": notes })),
                );
                case_in(tx, org, case_id).await
            })
        })
        .await
}
