//! Courses for hospital staff: modules in order and the continuing-education credits a course
//! earns. Staff are enrolled by name at their account; each module completion is recorded,
//! and an enrollment is complete, earning the course's credits, once every module is.

use super::{account, product_name, reader, writer};
use crate::{Acting, Result, Store, StoreError, Tx, exec, new_id, now, on, tx_on};
use chrono::{DateTime, Utc};
use clinbridge_core::Invalid;
use clinbridge_core::audit::{AuditAction, AuditEvent};
use clinbridge_core::device::{AttendeeInput, CourseInput};
use clinbridge_core::policy::Actor;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Course {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub product_id: Option<Uuid>,
    pub credits: f64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct CourseModule {
    pub id: Uuid,
    pub course_id: Uuid,
    pub position: i64,
    pub title: String,
    pub minutes: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct Enrollment {
    pub id: Uuid,
    pub course_id: Uuid,
    pub institution_id: Uuid,
    pub institution_name: String,
    pub name: String,
    pub role: String,
    pub email: String,
    pub enrolled_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub modules_done: i64,
    pub modules_total: i64,
    /// The course's credits once complete, 0 before.
    pub credits_earned: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CourseDetail {
    pub course: Course,
    pub modules: Vec<CourseModule>,
    pub enrollments: Vec<Enrollment>,
}

const COURSE_SELECT: &str =
    "SELECT id, title, description, product_id, credits, created_at, updated_at FROM device_courses";
const MODULE_SELECT: &str = "SELECT id, course_id, position, title, minutes FROM device_course_modules";
const ENROLLMENT_SELECT: &str = "SELECT e.id, e.course_id, e.institution_id, i.name AS institution_name, e.name, e.role, e.email, e.enrolled_at, e.completed_at,
        (SELECT COUNT(*) FROM device_module_completions m WHERE m.enrollment_id = e.id) AS modules_done,
        (SELECT COUNT(*) FROM device_course_modules m WHERE m.course_id = e.course_id) AS modules_total,
        CASE WHEN e.completed_at IS NULL THEN 0.0 ELSE c.credits END AS credits_earned
     FROM device_enrollments e JOIN medical_institutions i ON i.id = e.institution_id JOIN device_courses c ON c.id = e.course_id";

/// Courses of the reader's organization, by title.
pub async fn courses(store: &Store, actor: &Actor) -> Result<Vec<Course>> {
    let org = reader(store, actor).await?;
    Ok(rows!(store, Course, format!("{COURSE_SELECT} WHERE org_id = $1 ORDER BY title"), org)?)
}

/// A course with its modules in order and its enrollments.
pub async fn course(store: &Store, actor: &Actor, id: Uuid) -> Result<CourseDetail> {
    let org = reader(store, actor).await?;
    let course = rows!(store, Course, format!("{COURSE_SELECT} WHERE id = $1 AND org_id = $2"), id, org)?
        .pop()
        .ok_or(StoreError::NotFound("course"))?;
    let modules = rows!(store, CourseModule, format!("{MODULE_SELECT} WHERE course_id = $1 ORDER BY position"), id)?;
    let enrollments =
        rows!(store, Enrollment, format!("{ENROLLMENT_SELECT} WHERE e.course_id = $1 ORDER BY i.name, e.name"), id)?;
    Ok(CourseDetail { course, modules, enrollments })
}

/// Enrollments of the reader's organization at one account (or all), with credits earned.
pub async fn enrollments(store: &Store, actor: &Actor, institution_id: Option<Uuid>) -> Result<Vec<Enrollment>> {
    let org = reader(store, actor).await?;
    Ok(rows!(
        store,
        Enrollment,
        format!(
            "{ENROLLMENT_SELECT} WHERE c.org_id = $1 AND ($2 IS NULL OR e.institution_id = $2) ORDER BY i.name, e.name, c.title"
        ),
        org,
        institution_id
    )?)
}

async fn course_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Course> {
    row_in!(tx, Course, format!("{COURSE_SELECT} WHERE id = $1 AND org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("course"))
}

async fn enrollment_in(tx: &mut Tx, org: Uuid, id: Uuid) -> Result<Enrollment> {
    row_in!(tx, Enrollment, format!("{ENROLLMENT_SELECT} WHERE e.id = $1 AND c.org_id = $2"), id, org)?
        .ok_or(StoreError::NotFound("enrollment"))
}

/// Creates a course with its modules.
pub async fn create_course(store: &Store, acting: &Acting, input: CourseInput) -> Result<Course> {
    let k = input.check()?;
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                if let Some(p) = input.product_id {
                    product_name(tx, org, "product_id", p).await?;
                }
                let t = now();
                exec!(
                    tx,
                    "INSERT INTO device_courses (id, org_id, title, description, product_id, credits, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                    id,
                    org,
                    &k.title,
                    &k.description,
                    input.product_id,
                    k.credits,
                    t
                )
                .map_err(|e| StoreError::from(e).unique_as("title", "a course of that title already exists"))?;
                for (n, m) in k.modules.iter().enumerate() {
                    exec!(
                        tx,
                        "INSERT INTO device_course_modules (id, course_id, position, title, minutes) VALUES ($1, $2, $3, $4, $5)",
                        new_id(),
                        id,
                        n as i64 + 1,
                        &m.title,
                        m.minutes
                    )?;
                }
                tx.audit(
                    AuditEvent::new(AuditAction::Create, "device_course", id)
                        .new_value(serde_json::json!({ "product_id": input.product_id, "course": k })),
                );
                course_in(tx, org, id).await
            })
        })
        .await
}

/// Enrolls a member of an account's staff in a course.
pub async fn enroll(
    store: &Store,
    acting: &Acting,
    course_id: Uuid,
    institution_id: Uuid,
    person: AttendeeInput,
) -> Result<Enrollment> {
    let mut c = clinbridge_core::Checks::new();
    let name = c.take("name", clinbridge_core::required_text("name", &person.name, 200));
    let role = c.take("role", clinbridge_core::medical::optional_text("role", &person.role, 120));
    let email = if person.email.trim().is_empty() {
        Some(String::new())
    } else {
        c.take("email", clinbridge_core::identity::Email::parse(&person.email).map(|e| e.to_string()))
    };
    c.finish()?;
    let (name, role, email) = (name.unwrap_or_default(), role.unwrap_or_default(), email.unwrap_or_default());
    let id = new_id();
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                course_in(tx, org, course_id).await?;
                account(tx, "institution_id", institution_id).await?;
                exec!(
                    tx,
                    "INSERT INTO device_enrollments (id, course_id, institution_id, name, role, email, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    id,
                    course_id,
                    institution_id,
                    &name,
                    &role,
                    &email,
                    now()
                )
                .map_err(|e| StoreError::from(e).unique_as("name", &format!("{name} is already enrolled from this account")))?;
                tx.audit(AuditEvent::new(AuditAction::Create, "device_enrollment", id).new_value(serde_json::json!({
                    "course_id": course_id, "institution_id": institution_id, "name": name, "role": role, "email": email,
                })));
                enrollment_in(tx, org, id).await
            })
        })
        .await
}

/// Records a module completed; the enrollment completes with the last module.
pub async fn complete_module(
    store: &Store,
    acting: &Acting,
    enrollment_id: Uuid,
    module_id: Uuid,
) -> Result<Enrollment> {
    store
        .write(acting, move |tx| {
            Box::pin(async move {
                let org = writer(tx).await?;
                let e = enrollment_in(tx, org, enrollment_id).await?;
                let module: Option<String> = tx_on!(tx, |c| sqlx::query_scalar(
                    "SELECT title FROM device_course_modules WHERE id = $1 AND course_id = $2"
                )
                .bind(module_id)
                .bind(e.course_id)
                .fetch_optional(&mut *c)
                .await)?;
                let Some(title) = module else {
                    return Err(Invalid::one("module_id", "is not a module of this course").into());
                };
                let t = now();
                let by = tx.acting().user;
                exec!(
                    tx,
                    "INSERT INTO device_module_completions (enrollment_id, module_id, completed_at, recorded_by) VALUES ($1, $2, $3, $4)",
                    enrollment_id,
                    module_id,
                    t,
                    by
                )
                .map_err(|err| StoreError::from(err).unique_as("module_id", &format!("{} already completed {title}", e.name)))?;
                let after = enrollment_in(tx, org, enrollment_id).await?;
                let complete = after.completed_at.is_none() && after.modules_done == after.modules_total;
                if complete {
                    exec!(tx, "UPDATE device_enrollments SET completed_at = $1 WHERE id = $2", t, enrollment_id)?;
                }
                tx.audit(AuditEvent::new(AuditAction::Update, "device_enrollment", enrollment_id).new_value(
                    serde_json::json!({ "module_id": module_id, "module": title, "completed_at": t, "course_complete": complete }),
                ));
                enrollment_in(tx, org, enrollment_id).await
            })
        })
        .await
}

/// The modules an enrollment has completed.
pub async fn completed_modules(store: &Store, actor: &Actor, enrollment_id: Uuid) -> Result<Vec<Uuid>> {
    let org = reader(store, actor).await?;
    Ok(on!(store.db.read(), |c| sqlx::query_scalar(
        "SELECT m.module_id FROM device_module_completions m JOIN device_enrollments e ON e.id = m.enrollment_id
         JOIN device_courses c ON c.id = e.course_id WHERE m.enrollment_id = $1 AND c.org_id = $2"
    )
    .bind(enrollment_id)
    .bind(org)
    .fetch_all(c)
    .await)?)
}
