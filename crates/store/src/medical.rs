//! Field medical affairs: institutions and healthcare professionals (HCPs), the trial activity
//! of an HCP who is a Clinbridge investigator, KOL profiles with publications and engagement
//! plans. Interactions, insights and events are in `medical/field.rs`, medical information
//! requests in `medical/requests.rs`, safety intake in `medical/safety.rs`; all are re-exported
//! here so callers see one `medical` module.
//!
//! Access is the web layer's to check (`Context::Medical`, walled off from commercial roles);
//! every mutation here takes the acting user and writes its audit rows in its transaction.

use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::medical::{
    CheckedPublication, HcpInput, InstitutionInput, KolInput, ObjectiveInput, PlanPeriod, PublicationInput,
    objective_status_from_counts, parse_publications_csv,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

mod field;
mod requests;
mod safety;

pub use field::*;
pub use requests::*;
pub use safety::*;

/// A list kept as JSON text in one column (labels, materials, documents).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct Listed<T>(pub Vec<T>);

impl<T: DeserializeOwned> TryFrom<String> for Listed<T> {
    type Error = serde_json::Error;
    fn try_from(s: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str(&s).map(Listed)
    }
}

impl<T> std::ops::Deref for Listed<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

pub(crate) use crate::json;

/// A LIKE pattern matching `text` anywhere, with the wildcards in it taken literally.
pub(crate) fn contains_pattern(text: &str) -> String {
    let escaped = text.trim().to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

// ---------------------------------------------------------------- institutions

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Institution {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub address: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    #[sqlx(try_from = "String")]
    pub departments: Listed<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const INSTITUTION_SELECT: &str = "SELECT id, name, kind, address, city, state, postal_code, departments, latitude, longitude, created_at, updated_at FROM medical_institutions";

pub async fn institutions(store: &Store) -> Result<Vec<Institution>> {
    let sql = format!("{INSTITUTION_SELECT} ORDER BY name, city");
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Institution>(sqlx::AssertSqlSafe(sql.clone())).fetch_all(c).await)?)
}

pub async fn institution(store: &Store, id: Uuid) -> Result<Institution> {
    let sql = format!("{INSTITUTION_SELECT} WHERE id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Institution>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("institution"))
}

async fn institution_in(tx: &mut Tx, id: Uuid) -> Result<Institution> {
    let sql = format!("{INSTITUTION_SELECT} WHERE id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, Institution>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?
    .ok_or(StoreError::NotFound("institution"))
}

pub async fn create_institution(store: &Store, acting: &Acting, input: InstitutionInput) -> Result<Institution> {
    let i = input.check()?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO medical_institutions (id, name, kind, address, city, state, postal_code, departments, latitude, longitude, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                    id,
                    &i.name,
                    i.kind.as_str(),
                    &i.address,
                    &i.city,
                    &i.state,
                    &i.postal_code,
                    json(&i.departments)?,
                    i.latitude,
                    i.longitude,
                    t
                )
                .map_err(|e| StoreError::from(e).unique_as("name", "an institution of that name is already listed in that city"))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "medical_institution", id).new_value(&i));
                institution_in(tx, id).await
            })
        })
        .await
}

pub async fn update_institution(
    store: &Store,
    acting: &Acting,
    id: Uuid,
    input: InstitutionInput,
) -> Result<Institution> {
    let i = input.check()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = institution_in(tx, id).await?;
                exec!(
                    tx,
                    "UPDATE medical_institutions SET name = $1, kind = $2, address = $3, city = $4, state = $5, postal_code = $6,
                        departments = $7, latitude = $8, longitude = $9, updated_at = $10 WHERE id = $11",
                    &i.name,
                    i.kind.as_str(),
                    &i.address,
                    &i.city,
                    &i.state,
                    &i.postal_code,
                    json(&i.departments)?,
                    i.latitude,
                    i.longitude,
                    now(),
                    id
                )
                .map_err(|e| StoreError::from(e).unique_as("name", "an institution of that name is already listed in that city"))?;
                tx.audit(AuditEvent::new(AuditAction::Update, "medical_institution", id).old(&old).new_value(&i));
                institution_in(tx, id).await
            })
        })
        .await
}

// ---------------------------------------------------------------- healthcare professionals

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Hcp {
    pub id: Uuid,
    pub npi: String,
    pub first_name: String,
    pub last_name: String,
    #[sqlx(try_from = "String")]
    pub credentials: Listed<String>,
    pub specialty: String,
    pub email: String,
    pub phone: String,
    /// The Clinbridge user this person is (an investigator), when linked.
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Hcp {
    /// "Amelia Hart, MD, PhD".
    pub fn display_name(&self) -> String {
        let mut s = format!("{} {}", self.first_name, self.last_name);
        for c in self.credentials.iter() {
            s.push_str(", ");
            s.push_str(c);
        }
        s
    }
}

const HCP_COLUMNS: &str = "h.id, h.npi, h.first_name, h.last_name, h.credentials, h.specialty, h.email, h.phone, h.user_id, h.created_at, h.updated_at";

pub async fn hcp(store: &Store, id: Uuid) -> Result<Hcp> {
    let sql = format!("SELECT {HCP_COLUMNS} FROM medical_hcps h WHERE h.id = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Hcp>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(id)
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("healthcare professional"))
}

pub async fn hcp_by_npi(store: &Store, npi: &str) -> Result<Hcp> {
    let npi = clinbridge_core::medical::Npi::parse(npi)?;
    let sql = format!("SELECT {HCP_COLUMNS} FROM medical_hcps h WHERE h.npi = $1");
    on!(store.db.read(), |c| sqlx::query_as::<_, Hcp>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(npi.as_str())
        .fetch_optional(c)
        .await)?
    .ok_or(StoreError::NotFound("healthcare professional"))
}

pub(crate) async fn hcp_in(tx: &mut Tx, id: Uuid) -> Result<Hcp> {
    let sql = format!("SELECT {HCP_COLUMNS} FROM medical_hcps h WHERE h.id = $1");
    tx_on!(tx, |c| sqlx::query_as::<_, Hcp>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(&mut *c).await)?
        .ok_or(StoreError::NotFound("healthcare professional"))
}

pub(crate) async fn require_user(tx: &mut Tx, field: &str, id: Uuid) -> Result<()> {
    let found: Option<Uuid> = tx_on!(tx, |c| sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *c)
        .await)?;
    if found.is_none() {
        return Err(Invalid::one(field, "is not a Clinbridge user").into());
    }
    Ok(())
}

const HCP_TAKEN: &str = "a healthcare professional with this NPI is already listed";

pub async fn create_hcp(store: &Store, acting: &Acting, input: HcpInput) -> Result<Hcp> {
    let h = input.check()?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO medical_hcps (id, npi, first_name, last_name, credentials, specialty, email, phone, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
                    id,
                    h.npi.as_str(),
                    &h.first_name,
                    &h.last_name,
                    json(&h.credentials)?,
                    &h.specialty,
                    &h.email,
                    &h.phone,
                    t
                )
                .map_err(|e| StoreError::from(e).unique_as("npi", HCP_TAKEN))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "medical_hcp", id).new_value(&h));
                hcp_in(tx, id).await
            })
        })
        .await
}

pub async fn update_hcp(store: &Store, acting: &Acting, id: Uuid, input: HcpInput) -> Result<Hcp> {
    let h = input.check()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = hcp_in(tx, id).await?;
                exec!(
                    tx,
                    "UPDATE medical_hcps SET npi = $1, first_name = $2, last_name = $3, credentials = $4, specialty = $5, email = $6,
                        phone = $7, updated_at = $8 WHERE id = $9",
                    h.npi.as_str(),
                    &h.first_name,
                    &h.last_name,
                    json(&h.credentials)?,
                    &h.specialty,
                    &h.email,
                    &h.phone,
                    now(),
                    id
                )
                .map_err(|e| StoreError::from(e).unique_as("npi", HCP_TAKEN))?;
                tx.audit(AuditEvent::new(AuditAction::Update, "medical_hcp", id).old(&old).new_value(&h));
                hcp_in(tx, id).await
            })
        })
        .await
}

/// Links an HCP to the Clinbridge user they are (or unlinks with `None`), so their trial
/// activity shows on their profile. A user is linked to one HCP at most.
pub async fn link_user(store: &Store, acting: &Acting, hcp_id: Uuid, user_id: Option<Uuid>) -> Result<Hcp> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old = hcp_in(tx, hcp_id).await?;
                if let Some(u) = user_id {
                    require_user(tx, "user_id", u).await?;
                }
                exec!(
                    tx,
                    "UPDATE medical_hcps SET user_id = $1, updated_at = $2 WHERE id = $3",
                    user_id,
                    now(),
                    hcp_id
                )
                .map_err(|e| {
                    StoreError::from(e)
                        .unique_as("user_id", "this user is already linked to another healthcare professional")
                })?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "medical_hcp", hcp_id)
                        .old(serde_json::json!({ "user_id": old.user_id }))
                        .new_value(serde_json::json!({ "user_id": user_id })),
                );
                hcp_in(tx, hcp_id).await
            })
        })
        .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Affiliation {
    pub id: Uuid,
    pub hcp_id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub department: String,
    pub role: String,
    pub is_primary: bool,
}

/// An affiliation as entered: the institution, a department (one the institution lists, or
/// empty) and the person's role there ("Director, Heart Failure Program").
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AffiliationInput {
    pub institution_id: Uuid,
    pub department: String,
    pub role: String,
    pub is_primary: bool,
}

pub async fn affiliations(store: &Store, hcp_id: Uuid) -> Result<Vec<Affiliation>> {
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, Affiliation>(
        "SELECT a.id, a.hcp_id, a.institution_id, i.name AS institution_name, a.department, a.role, a.is_primary
         FROM medical_affiliations a JOIN medical_institutions i ON i.id = a.institution_id
         WHERE a.hcp_id = $1 ORDER BY a.is_primary DESC, i.name, a.department"
    )
    .bind(hcp_id)
    .fetch_all(c)
    .await)?)
}

/// Replaces an HCP's affiliations. Each department must be one its institution lists (when
/// the institution lists any); at most one affiliation is primary (the first is, if none is).
pub async fn set_affiliations(
    store: &Store,
    acting: &Acting,
    hcp_id: Uuid,
    input: Vec<AffiliationInput>,
) -> Result<Vec<Affiliation>> {
    if input.len() > 20 {
        return Err(Invalid::one("affiliations", "at most 20 affiliations").into());
    }
    if input.iter().filter(|a| a.is_primary).count() > 1 {
        return Err(Invalid::one("affiliations", "only one affiliation can be primary").into());
    }
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                hcp_in(tx, hcp_id).await?;
                let mut checks = clinbridge_core::Checks::new();
                let mut rows = Vec::new();
                for (n, a) in input.iter().enumerate() {
                    let f = |x: &str| format!("affiliations[{}].{x}", n + 1);
                    let inst = match institution_in(tx, a.institution_id).await {
                        Ok(i) => i,
                        Err(StoreError::NotFound(_)) => {
                            checks.push(&f("institution_id"), "is not a listed institution");
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let department = checks.take(&f("department"), clinbridge_core::medical::optional_text(&f("department"), &a.department, 120));
                    let role = checks.take(&f("role"), clinbridge_core::medical::optional_text(&f("role"), &a.role, 120));
                    if let Some(d) = &department
                        && !d.is_empty()
                        && !inst.departments.is_empty()
                        && !inst.departments.iter().any(|x| x.eq_ignore_ascii_case(d))
                    {
                        checks.push(&f("department"), format!("{} lists no department {d:?}", inst.name));
                    }
                    let department = inst
                        .departments
                        .iter()
                        .find(|x| department.as_deref().is_some_and(|d| x.eq_ignore_ascii_case(d)))
                        .cloned()
                        .or(department)
                        .unwrap_or_default();
                    if rows.iter().any(|(i, d, _, _): &(Uuid, String, String, bool)| *i == inst.id && d.eq_ignore_ascii_case(&department)) {
                        checks.push(&f("department"), "is listed twice");
                    }
                    rows.push((inst.id, department, role.unwrap_or_default(), a.is_primary));
                }
                checks.finish()?;
                if !rows.is_empty() && !rows.iter().any(|r| r.3) {
                    rows[0].3 = true;
                }
                let old: Vec<(Uuid, String, String, bool)> = tx_on!(tx, |c| sqlx::query_as(
                    "SELECT institution_id, department, role, is_primary FROM medical_affiliations WHERE hcp_id = $1 ORDER BY institution_id, department"
                )
                .bind(hcp_id)
                .fetch_all(&mut *c)
                .await)?;
                exec!(tx, "DELETE FROM medical_affiliations WHERE hcp_id = $1", hcp_id)?;
                for (inst, dept, role, primary) in &rows {
                    exec!(
                        tx,
                        "INSERT INTO medical_affiliations (id, hcp_id, institution_id, department, role, is_primary) VALUES ($1, $2, $3, $4, $5, $6)",
                        new_id(),
                        hcp_id,
                        inst,
                        dept,
                        role,
                        *primary
                    )?;
                }
                let shape = |r: &[(Uuid, String, String, bool)]| {
                    r.iter()
                        .map(|(i, d, ro, p)| serde_json::json!({"institution_id": i, "department": d, "role": ro, "primary": p}))
                        .collect::<Vec<_>>()
                };
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "medical_hcp", hcp_id)
                        .old(serde_json::json!({ "affiliations": shape(&old) }))
                        .new_value(serde_json::json!({ "affiliations": shape(&rows) })),
                );
                Ok(())
            })
        })
        .await?;
    affiliations(store, hcp_id).await
}

/// Filters for the one HCP search: free text matches a name (either order) or an NPI; the
/// others narrow by institution, specialty (exact, ignoring case) and KOL tier.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct HcpSearch {
    pub text: String,
    pub institution_id: Option<Uuid>,
    pub specialty: String,
    pub tier: Option<i64>,
    /// Defaults to 50, at most 500.
    pub limit: Option<i64>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct HcpListing {
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub hcp: Hcp,
    pub tier: Option<i64>,
    /// The primary affiliation's institution.
    pub institution: Option<String>,
}

pub async fn search_hcps(store: &Store, q: &HcpSearch) -> Result<Vec<HcpListing>> {
    let text = q.text.trim();
    let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let npi_pattern = if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        format!("{digits}%")
    } else {
        String::new()
    };
    let name_pattern = if text.is_empty() || !npi_pattern.is_empty() { String::new() } else { contains_pattern(text) };
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let sql = format!(
        "SELECT {HCP_COLUMNS}, k.tier,
            (SELECT i.name FROM medical_affiliations a JOIN medical_institutions i ON i.id = a.institution_id
              WHERE a.hcp_id = h.id ORDER BY a.is_primary DESC, i.name LIMIT 1) AS institution
         FROM medical_hcps h LEFT JOIN medical_kol_profiles k ON k.hcp_id = h.id
         WHERE ($1 = '' OR LOWER(h.first_name || ' ' || h.last_name) LIKE $1 ESCAPE '\\'
                        OR LOWER(h.last_name || ', ' || h.first_name) LIKE $1 ESCAPE '\\'
                        OR LOWER(h.last_name || ' ' || h.first_name) LIKE $1 ESCAPE '\\')
           AND ($2 = '' OR h.npi LIKE $2)
           AND ($3 = '' OR LOWER(h.specialty) = $3)
           AND ($4 IS NULL OR k.tier = $4)
           AND ($5 IS NULL OR EXISTS (SELECT 1 FROM medical_affiliations a WHERE a.hcp_id = h.id AND a.institution_id = $5))
         ORDER BY h.last_name, h.first_name, h.npi LIMIT $6"
    );
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, HcpListing>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(&name_pattern)
        .bind(&npi_pattern)
        .bind(q.specialty.trim().to_lowercase())
        .bind(q.tier)
        .bind(q.institution_id)
        .bind(limit)
        .fetch_all(c)
        .await)?)
}

/// The specialties on file, for a search filter.
pub async fn specialties(store: &Store) -> Result<Vec<String>> {
    Ok(on!(store.db.read(), |c| sqlx::query_scalar("SELECT DISTINCT specialty FROM medical_hcps ORDER BY specialty")
        .fetch_all(c)
        .await)?)
}

// ---------------------------------------------------------------- trial activity

/// One participating site where the HCP, as a Clinbridge user, is principal investigator or
/// holds an investigator grant on the study or the site.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrialActivity {
    pub study_id: Uuid,
    pub study_code: String,
    pub study_title: String,
    pub study_status: String,
    pub site_id: Uuid,
    pub site_name: String,
    /// `principal_investigator` or `investigator`.
    pub role: &'static str,
    pub activated_on: Option<NaiveDate>,
    pub target_enrollment: i64,
    /// Participants enrolled (enrolled, randomized, active or completed).
    pub enrolled: i64,
}

#[derive(sqlx::FromRow)]
struct ActivityRow {
    study_id: Uuid,
    code: String,
    title: String,
    status: String,
    site_id: Uuid,
    site_name: String,
    pi_user_id: Option<Uuid>,
    activated_on: Option<NaiveDate>,
    target_enrollment: i64,
    enrolled: i64,
}

/// The Clinbridge user an HCP is: the linked user, or else the active user with the same
/// e-mail address.
pub async fn hcp_user(store: &Store, hcp_id: Uuid) -> Result<Option<Uuid>> {
    let h = hcp(store, hcp_id).await?;
    if h.user_id.is_some() {
        return Ok(h.user_id);
    }
    if h.email.is_empty() {
        return Ok(None);
    }
    Ok(on!(store.db.read(), |c| sqlx::query_scalar("SELECT id FROM users WHERE LOWER(email) = $1 AND active = $2")
        .bind(&h.email)
        .bind(true)
        .fetch_optional(c)
        .await)?)
}

/// The HCP's trial activity in Clinbridge: study, site, status, activation and enrollment for
/// every participating site where they are PI or an investigator. Empty when the HCP is not a
/// Clinbridge user.
pub async fn trial_activity(store: &Store, hcp_id: Uuid) -> Result<Vec<TrialActivity>> {
    let Some(user) = hcp_user(store, hcp_id).await? else { return Ok(Vec::new()) };
    let rows: Vec<ActivityRow> = on!(store.db.read(), |c| {
        sqlx::query_as::<_, ActivityRow>(
        "SELECT s.id AS study_id, s.code, s.title, s.status, si.id AS site_id, si.name AS site_name, ss.pi_user_id,
                ss.activated_on, ss.target_enrollment,
                (SELECT COUNT(*) FROM participants p WHERE p.study_id = ss.study_id AND p.site_id = ss.site_id
                   AND p.status IN ('enrolled', 'randomized', 'active', 'completed')) AS enrolled
         FROM study_sites ss JOIN studies s ON s.id = ss.study_id JOIN sites si ON si.id = ss.site_id
         WHERE ss.pi_user_id = $1
            OR EXISTS (SELECT 1 FROM grants g WHERE g.user_id = $1 AND g.role = 'investigator'
                       AND ((g.scope_kind = 'study' AND g.scope_id = ss.study_id) OR (g.scope_kind = 'site' AND g.scope_id = ss.site_id)))
         ORDER BY s.code, si.name"
    )
    .bind(user)
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| TrialActivity {
            study_id: r.study_id,
            study_code: r.code,
            study_title: r.title,
            study_status: r.status,
            site_id: r.site_id,
            site_name: r.site_name,
            role: if r.pi_user_id == Some(user) { "principal_investigator" } else { "investigator" },
            activated_on: r.activated_on,
            target_enrollment: r.target_enrollment,
            enrolled: r.enrolled,
        })
        .collect())
}

// ---------------------------------------------------------------- KOL profiles

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct KolProfile {
    pub hcp_id: Uuid,
    pub tier: i64,
    #[sqlx(try_from = "String")]
    pub therapeutic_areas: Listed<String>,
    #[sqlx(try_from = "String")]
    pub topics: Listed<String>,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const KOL_SELECT: &str = "SELECT hcp_id, tier, therapeutic_areas, topics, notes, created_at, updated_at FROM medical_kol_profiles WHERE hcp_id = $1";

pub async fn kol_profile(store: &Store, hcp_id: Uuid) -> Result<Option<KolProfile>> {
    Ok(on!(store.db.read(), |c| sqlx::query_as::<_, KolProfile>(KOL_SELECT).bind(hcp_id).fetch_optional(c).await)?)
}

async fn kol_in(tx: &mut Tx, hcp_id: Uuid) -> Result<Option<KolProfile>> {
    Ok(tx_on!(tx, |c| sqlx::query_as::<_, KolProfile>(KOL_SELECT).bind(hcp_id).fetch_optional(&mut *c).await)?)
}

/// Makes an HCP a KOL or updates their profile (tier, therapeutic areas, topics, notes).
pub async fn set_kol_profile(store: &Store, acting: &Acting, hcp_id: Uuid, input: KolInput) -> Result<KolProfile> {
    let k = input.check()?;
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                hcp_in(tx, hcp_id).await?;
                let old = kol_in(tx, hcp_id).await?;
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO medical_kol_profiles (hcp_id, tier, therapeutic_areas, topics, notes, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $6)
                     ON CONFLICT (hcp_id) DO UPDATE SET tier = $2, therapeutic_areas = $3, topics = $4, notes = $5, updated_at = $6",
                    hcp_id,
                    i64::from(k.tier.number()),
                    json(&k.therapeutic_areas)?,
                    json(&k.topics)?,
                    &k.notes,
                    t
                )?;
                let action = if old.is_some() { AuditAction::Update } else { AuditAction::Create };
                let mut e = AuditEvent::new(action, "medical_kol", hcp_id).new_value(&k);
                if let Some(o) = &old {
                    e = e.old(o);
                }
                tx.audit(e);
                kol_in(tx, hcp_id).await?.ok_or(StoreError::NotFound("KOL profile"))
            })
        })
        .await
}

// ---------------------------------------------------------------- publications

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Publication {
    pub id: Uuid,
    pub hcp_id: Uuid,
    pub title: String,
    pub journal: String,
    pub year: i64,
    pub pmid: String,
    pub doi: String,
    pub created_at: DateTime<Utc>,
}

/// An HCP's publications, newest first.
pub async fn publications(store: &Store, hcp_id: Uuid) -> Result<Vec<Publication>> {
    Ok(on!(store.db.read(), |c| {
        sqlx::query_as::<_, Publication>(
        "SELECT id, hcp_id, title, journal, year, pmid, doi, created_at FROM medical_publications WHERE hcp_id = $1 ORDER BY year DESC, title"
    )
    .bind(hcp_id)
    .fetch_all(c)
    .await
    })?)
}

async fn insert_publications(
    tx: &mut Tx,
    hcp_id: Uuid,
    pubs: &[CheckedPublication],
    first_row: Option<usize>,
) -> Result<Vec<Uuid>> {
    hcp_in(tx, hcp_id).await?;
    let existing: Vec<(String, String)> =
        tx_on!(tx, |c| sqlx::query_as("SELECT pmid, doi FROM medical_publications WHERE hcp_id = $1")
            .bind(hcp_id)
            .fetch_all(&mut *c)
            .await)?;
    let mut pmids: std::collections::BTreeSet<String> =
        existing.iter().map(|e| e.0.clone()).filter(|p| !p.is_empty()).collect();
    let mut dois: std::collections::BTreeSet<String> =
        existing.iter().map(|e| e.1.to_lowercase()).filter(|p| !p.is_empty()).collect();
    let mut errors = Vec::new();
    let name = |n: usize, f: &str| match first_row {
        Some(r) => format!("row {}: {f}", r + n),
        None => f.to_string(),
    };
    for (n, p) in pubs.iter().enumerate() {
        if !p.pmid.is_empty() && !pmids.insert(p.pmid.clone()) {
            errors.push(clinbridge_core::FieldError::new(
                name(n, "pmid"),
                format!("PMID {} is already listed for this person", p.pmid),
            ));
        }
        if !p.doi.is_empty() && !dois.insert(p.doi.to_lowercase()) {
            errors.push(clinbridge_core::FieldError::new(
                name(n, "doi"),
                format!("DOI {} is already listed for this person", p.doi),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Invalid(errors).into());
    }
    let mut ids = Vec::new();
    for p in pubs {
        let id = new_id();
        exec!(
            tx,
            "INSERT INTO medical_publications (id, hcp_id, title, journal, year, pmid, doi, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            id,
            hcp_id,
            &p.title,
            &p.journal,
            i64::from(p.year),
            &p.pmid,
            &p.doi,
            now()
        )?;
        tx.audit(
            AuditEvent::new(AuditAction::Create, "medical_publication", id)
                .new_value(serde_json::json!({ "hcp_id": hcp_id, "publication": p })),
        );
        ids.push(id);
    }
    Ok(ids)
}

pub async fn add_publication(
    store: &Store,
    acting: &Acting,
    hcp_id: Uuid,
    input: PublicationInput,
) -> Result<Publication> {
    let p = input.check(now().year())?;
    let ids = store
        .write(acting, move |tx| Box::pin(async move { insert_publications(tx, hcp_id, &[p], None).await }))
        .await?;
    publications(store, hcp_id)
        .await?
        .into_iter()
        .find(|x| ids.contains(&x.id))
        .ok_or(StoreError::NotFound("publication"))
}

/// Adds several publications at once. All or nothing: a bad entry is named by its place in
/// the list (`publications[2].year`), a PMID or DOI already listed refuses them all.
pub async fn add_publications(
    store: &Store,
    acting: &Acting,
    hcp_id: Uuid,
    input: Vec<PublicationInput>,
) -> Result<Vec<Publication>> {
    if input.is_empty() {
        return Err(Invalid::one("publications", "list at least one publication").into());
    }
    if input.len() > 500 {
        return Err(Invalid::one("publications", "at most 500 publications at once").into());
    }
    let year = now().year();
    let mut errors = Vec::new();
    let mut pubs = Vec::new();
    for (n, p) in input.iter().enumerate() {
        match p.check(year) {
            Ok(c) => pubs.push(c),
            Err(e) => errors.extend(
                e.0.into_iter()
                    .map(|f| clinbridge_core::FieldError::new(format!("publications[{n}].{}", f.field), f.message)),
            ),
        }
    }
    if !errors.is_empty() {
        return Err(Invalid(errors).into());
    }
    let ids = store
        .write(acting, move |tx| Box::pin(async move { insert_publications(tx, hcp_id, &pubs, None).await }))
        .await?;
    Ok(publications(store, hcp_id).await?.into_iter().filter(|x| ids.contains(&x.id)).collect())
}

/// Imports publications from CSV (header `title,journal,year,pmid,doi`). All or nothing: any
/// bad row, or a PMID or DOI already listed, refuses the file with an error per row.
pub async fn import_publications_csv(
    store: &Store,
    acting: &Acting,
    hcp_id: Uuid,
    csv: &str,
) -> Result<Vec<Publication>> {
    let pubs = parse_publications_csv(csv, now().year())?;
    let ids = store
        .write(acting, move |tx| Box::pin(async move { insert_publications(tx, hcp_id, &pubs, Some(2)).await }))
        .await?;
    Ok(publications(store, hcp_id).await?.into_iter().filter(|x| ids.contains(&x.id)).collect())
}

pub async fn remove_publication(store: &Store, acting: &Acting, id: Uuid) -> Result<()> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old: Option<Publication> = tx_on!(tx, |c| sqlx::query_as::<_, Publication>(
                    "SELECT id, hcp_id, title, journal, year, pmid, doi, created_at FROM medical_publications WHERE id = $1"
                )
                .bind(id)
                .fetch_optional(&mut *c)
                .await)?;
                let old = old.ok_or(StoreError::NotFound("publication"))?;
                exec!(tx, "DELETE FROM medical_publications WHERE id = $1", id)?;
                tx.audit(AuditEvent::new(AuditAction::Delete, "medical_publication", id).old(&old));
                Ok(())
            })
        })
        .await
}

// ---------------------------------------------------------------- engagement plans

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Objective {
    pub id: Uuid,
    pub plan_id: Uuid,
    pub position: i64,
    pub text: String,
    pub target_count: Option<i64>,
    pub done_count: i64,
    pub status: String,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct EngagementPlan {
    pub id: Uuid,
    pub hcp_id: Uuid,
    pub period: String,
    pub owner_user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub objectives: Vec<Objective>,
}

impl EngagementPlan {
    /// Objectives achieved out of those not deferred.
    pub fn progress(&self) -> (usize, usize) {
        let live: Vec<_> = self.objectives.iter().filter(|o| o.status != "deferred").collect();
        (live.iter().filter(|o| o.status == "achieved").count(), live.len())
    }
}

/// An HCP's engagement plans, latest period first, with their objectives.
pub async fn engagement_plans(store: &Store, hcp_id: Uuid) -> Result<Vec<EngagementPlan>> {
    let mut plans: Vec<EngagementPlan> = on!(store.db.read(), |c| {
        sqlx::query_as::<_, EngagementPlan>(
        "SELECT id, hcp_id, period, owner_user_id, created_at, updated_at FROM medical_engagement_plans WHERE hcp_id = $1 ORDER BY period DESC"
    )
    .bind(hcp_id)
    .fetch_all(c)
    .await
    })?;
    let objectives: Vec<Objective> = on!(store.db.read(), |c| sqlx::query_as::<_, Objective>(
        "SELECT o.id, o.plan_id, o.position, o.text, o.target_count, o.done_count, o.status, o.updated_at
         FROM medical_plan_objectives o JOIN medical_engagement_plans p ON p.id = o.plan_id
         WHERE p.hcp_id = $1 ORDER BY o.position"
    )
    .bind(hcp_id)
    .fetch_all(c)
    .await)?;
    for p in &mut plans {
        p.objectives = objectives.iter().filter(|o| o.plan_id == p.id).cloned().collect();
    }
    Ok(plans)
}

/// The HCP an engagement plan is for.
pub async fn plan_hcp(store: &Store, plan_id: Uuid) -> Result<Option<Uuid>> {
    Ok(on!(store.db.read(), |c| sqlx::query_scalar("SELECT hcp_id FROM medical_engagement_plans WHERE id = $1")
        .bind(plan_id)
        .fetch_optional(c)
        .await)?)
}

/// Sets the engagement plan of a KOL for a period (`2026-H2`): its owner and its objectives,
/// replacing the objectives of that period's plan if there is one.
pub async fn set_engagement_plan(
    store: &Store,
    acting: &Acting,
    hcp_id: Uuid,
    period: &str,
    owner_user_id: Option<Uuid>,
    objectives: Vec<ObjectiveInput>,
) -> Result<EngagementPlan> {
    let period = PlanPeriod::parse(period)?;
    let mut checks = clinbridge_core::Checks::new();
    let checked: Vec<_> =
        objectives.iter().enumerate().filter_map(|(i, o)| checks.take("objectives", o.check(i + 1))).collect();
    if objectives.is_empty() {
        checks.push("objectives", "set at least one objective");
    }
    if objectives.len() > 30 {
        checks.push("objectives", "at most 30 objectives");
    }
    checks.finish()?;
    let owner = owner_user_id.or(acting.user);
    let period_text = period.as_str().to_string();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                if kol_in(tx, hcp_id).await?.is_none() {
                    return Err(StoreError::Refused("give this person a KOL profile before planning engagement".into()));
                }
                if let Some(u) = owner {
                    require_user(tx, "owner_user_id", u).await?;
                }
                let t = now();
                let existing: Option<Uuid> = tx_on!(tx, |c| sqlx::query_scalar(
                    "SELECT id FROM medical_engagement_plans WHERE hcp_id = $1 AND period = $2"
                )
                .bind(hcp_id)
                .bind(&period_text)
                .fetch_optional(&mut *c)
                .await)?;
                let (plan_id, action, old) = match existing {
                    Some(id) => {
                        let old: Vec<(String, Option<i64>, i64, String)> = tx_on!(tx, |c| sqlx::query_as(
                            "SELECT text, target_count, done_count, status FROM medical_plan_objectives WHERE plan_id = $1 ORDER BY position"
                        )
                        .bind(id)
                        .fetch_all(&mut *c)
                        .await)?;
                        exec!(tx, "DELETE FROM medical_plan_objectives WHERE plan_id = $1", id)?;
                        exec!(tx, "UPDATE medical_engagement_plans SET owner_user_id = $1, updated_at = $2 WHERE id = $3", owner, t, id)?;
                        (id, AuditAction::Update, Some(old))
                    }
                    None => {
                        let id = new_id();
                        exec!(
                            tx,
                            "INSERT INTO medical_engagement_plans (id, hcp_id, period, owner_user_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
                            id,
                            hcp_id,
                            &period_text,
                            owner,
                            t
                        )?;
                        (id, AuditAction::Create, None)
                    }
                };
                for (i, o) in checked.iter().enumerate() {
                    exec!(
                        tx,
                        "INSERT INTO medical_plan_objectives (id, plan_id, position, text, target_count, done_count, status, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                        new_id(),
                        plan_id,
                        i as i64 + 1,
                        &o.text,
                        o.target_count,
                        o.done_count,
                        o.status.as_str(),
                        t
                    )?;
                }
                let mut e = AuditEvent::new(action, "medical_plan", plan_id).new_value(serde_json::json!({
                    "hcp_id": hcp_id, "period": period_text, "owner_user_id": owner, "objectives": checked,
                }));
                if let Some(old) = old {
                    e = e.old(serde_json::json!({ "objectives": old }));
                }
                tx.audit(e);
                Ok(())
            })
        })
        .await?;
    engagement_plans(store, hcp_id)
        .await?
        .into_iter()
        .find(|p| p.period == period.as_str())
        .ok_or(StoreError::NotFound("engagement plan"))
}

/// Records progress on one objective: the count done and, optionally, a status (otherwise
/// derived from the count against the target).
pub async fn update_objective(
    store: &Store,
    acting: &Acting,
    objective_id: Uuid,
    done_count: i64,
    status: Option<&str>,
) -> Result<Objective> {
    if !(0..=1000).contains(&done_count) {
        return Err(Invalid::one("done_count", "must be between 0 and 1000").into());
    }
    let status = status.map(clinbridge_core::medical::ObjectiveStatus::parse).transpose()?;
    let select = "SELECT id, plan_id, position, text, target_count, done_count, status, updated_at FROM medical_plan_objectives WHERE id = $1";
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let old: Objective = tx_on!(tx, |c| sqlx::query_as::<_, Objective>(select)
                    .bind(objective_id)
                    .fetch_optional(&mut *c)
                    .await)?
                .ok_or(StoreError::NotFound("objective"))?;
                let status = status.unwrap_or_else(|| objective_status_from_counts(old.target_count, done_count));
                exec!(
                    tx,
                    "UPDATE medical_plan_objectives SET done_count = $1, status = $2, updated_at = $3 WHERE id = $4",
                    done_count,
                    status.as_str(),
                    now(),
                    objective_id
                )?;
                exec!(tx, "UPDATE medical_engagement_plans SET updated_at = $1 WHERE id = $2", now(), old.plan_id)?;
                tx.audit(
                    AuditEvent::new(AuditAction::Update, "medical_plan", old.plan_id)
                        .old(serde_json::json!({ "objective": objective_id, "done_count": old.done_count, "status": old.status }))
                        .new_value(serde_json::json!({ "objective": objective_id, "done_count": done_count, "status": status.as_str() })),
                );
                Ok(tx_on!(tx, |c| sqlx::query_as::<_, Objective>(select).bind(objective_id).fetch_one(&mut *c).await)?)
            })
        })
        .await
}

/// Everything the profile page of an HCP shows, read in one call.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HcpProfile {
    pub hcp: Hcp,
    pub affiliations: Vec<Affiliation>,
    pub kol: Option<KolProfile>,
    pub publications: Vec<Publication>,
    pub plans: Vec<EngagementPlan>,
    pub trial_activity: Vec<TrialActivity>,
    /// The latest interactions (up to 20), newest first.
    pub interactions: Vec<Interaction>,
    pub requests: Vec<MedicalRequest>,
}

pub async fn hcp_profile(store: &Store, hcp_id: Uuid) -> Result<HcpProfile> {
    let hcp = hcp(store, hcp_id).await?;
    Ok(HcpProfile {
        affiliations: affiliations(store, hcp_id).await?,
        kol: kol_profile(store, hcp_id).await?,
        publications: publications(store, hcp_id).await?,
        plans: engagement_plans(store, hcp_id).await?,
        trial_activity: trial_activity(store, hcp_id).await?,
        interactions: interactions(
            store,
            &InteractionFilter { hcp_id: Some(hcp_id), limit: Some(20), ..Default::default() },
        )
        .await?,
        requests: requests(store, &RequestFilter { hcp_id: Some(hcp_id), ..Default::default() }).await?,
        hcp,
    })
}

/// The time zone a user works in (for SLA business days), UTC when unknown.
pub(crate) async fn user_zone(tx: &mut Tx, user: Uuid) -> Result<chrono_tz::Tz> {
    let tz: Option<String> = tx_on!(tx, |c| sqlx::query_scalar("SELECT time_zone FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(&mut *c)
        .await)?;
    Ok(tz.and_then(|t| t.parse().ok()).unwrap_or(chrono_tz::UTC))
}
