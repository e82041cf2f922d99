//! The demo world: one seeding entry point that builds a realistic organization (three sites
//! in different time zones, one study, one user per role, tasks on the work queues). Each
//! context adds its own demo data by adding a step to [`seed`] that builds on [`DemoWorld`].

use crate::identity::{NewUser, Site, SiteInput};
use crate::tasks::NewTask;
use crate::trials::Study;
use crate::{Acting, Result, Store, StoreError};
use clinbridge_core::identity::{Code, Email, Grant, NewPassword, Role, Scope, TimeZone};
use clinbridge_core::tasks::Assignee;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The password every demo account shares. A demo database is for training, never for data.
pub const DEMO_PASSWORD: &str = "clinbridge-demo-2026";

#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub role: Role,
    pub email: String,
    pub name: String,
    pub scope: String,
}

/// What later seeding steps build on.
#[derive(Debug, Clone)]
pub struct DemoWorld {
    pub admin: Acting,
    pub sites: Vec<Site>,
    pub study: Study,
    pub users: BTreeMap<Role, Uuid>,
    pub logins: Vec<DemoLogin>,
}

fn coordinator_id(users: &BTreeMap<Role, Uuid>) -> Uuid {
    users.get(&Role::Coordinator).copied().unwrap_or_default()
}

/// Builds the demo world into an empty database.
pub async fn seed(store: &Store) -> Result<DemoWorld> {
    if crate::identity::organization(store).await.is_ok() {
        return Err(StoreError::Refused(
            "the database already has an organization; the demo needs an empty database".into(),
        ));
    }
    let world = foundation(store).await?;
    // Later contexts add their steps here, in dependency order.
    crate::audit::checkpoint(store).await?;
    Ok(world)
}

async fn foundation(store: &Store) -> Result<DemoWorld> {
    let system = Acting::system();
    crate::identity::create_organization(store, &system, "Lakeshore Clinical Research Network").await?;

    let site_specs = [
        ("BOS", "Harborview Medical Center — Boston", "America/New_York", "55 Fruit Street, Boston, MA 02114"),
        (
            "CHI",
            "Lakeshore University Hospital — Chicago",
            "America/Chicago",
            "251 East Huron Street, Chicago, IL 60611",
        ),
        (
            "SEA",
            "Cascade Heart Institute — Seattle",
            "America/Los_Angeles",
            "1959 NE Pacific Street, Seattle, WA 98195",
        ),
    ];
    let mut sites = Vec::new();
    for (code, name, tz, address) in site_specs {
        let input = SiteInput::parse(code, name, tz, address)?;
        sites.push(crate::identity::create_site(store, &system, input).await?);
    }
    let study = crate::trials::create_study(
        store,
        &system,
        Code::parse("code", "CARDIO-HF3")?,
        clinbridge_core::trials::StudyDetails {
            title: "A phase 3, randomized, double-blind, placebo-controlled trial of an SGLT2 inhibitor in heart failure with preserved ejection fraction".into(),
            short_title: "CARDIO-HF3".into(),
            protocol_number: "LCR-HF-301".into(),
            phase: "phase_3".into(),
            sponsor: "Meridian Cardiometabolic Therapeutics".into(),
            registry_id: "NCT05873214".into(),
            ind_ide: "IND 158734".into(),
            therapeutic_area: "Cardiology".into(),
            target_enrollment: 240,
        },
    )
    .await?;
    for (code, name, ratio) in [("ACTIVE", "Active drug 10 mg once daily", 2), ("PLACEBO", "Matching placebo", 1)] {
        crate::trials::add_arm(store, &system, study.id, code, name, ratio, "").await?;
    }
    let today = crate::now().date_naive();
    crate::trials::add_protocol_version(
        store,
        &system,
        study.id,
        "1.0",
        "",
        today - chrono::Duration::days(400),
        "Original protocol.",
    )
    .await?;
    crate::trials::add_protocol_version(
        store,
        &system,
        study.id,
        "2.0",
        "Amendment 2",
        today - chrono::Duration::days(35),
        "Widens the NT-proBNP inclusion range and adds a week 12 safety visit.",
    )
    .await?;
    crate::trials::set_status(store, &system, study.id, clinbridge_core::trials::StudyStatus::Approved, None).await?;
    let study =
        crate::trials::set_status(store, &system, study.id, clinbridge_core::trials::StudyStatus::Enrolling, None)
            .await?;

    let site = |code: &str| sites.iter().find(|s| s.code == code).map(|s| s.id).unwrap_or_default();
    let people: [(Role, &str, Scope, &str); 12] = [
        (Role::Admin, "Dana Whitfield", Scope::Organization, "America/New_York"),
        (Role::Coordinator, "Maya Okafor", Scope::Site(site("BOS")), "America/New_York"),
        (Role::Investigator, "Dr. Samuel Reyes", Scope::Site(site("BOS")), "America/New_York"),
        (Role::Monitor, "Priya Natarajan", Scope::Study(study.id), "America/Chicago"),
        (Role::DataManager, "Tomás Alvarez", Scope::Study(study.id), "America/Chicago"),
        (Role::SponsorViewer, "Hannah Berg", Scope::Study(study.id), "Europe/Berlin"),
        (Role::Auditor, "Oliver Grant", Scope::Organization, "America/New_York"),
        (Role::Msl, "Dr. Leila Haddad", Scope::Organization, "America/Chicago"),
        (Role::MedicalManager, "Marcus Chen", Scope::Organization, "America/Los_Angeles"),
        (Role::Commercial, "Jordan Ellis", Scope::Organization, "America/Chicago"),
        (Role::ClinicalSpecialist, "Kenji Watanabe", Scope::Organization, "America/Los_Angeles"),
        (Role::Liaison, "Rosa Delgado", Scope::Site(site("CHI")), "America/Chicago"),
    ];
    let mut users = BTreeMap::new();
    let mut logins = Vec::new();
    let mut admin = Acting::system();
    for (role, name, scope, tz) in people {
        let email = Email::parse(&format!("{}@demo.clinbridge.org", role.as_str().replace('_', ".")))?;
        let password = NewPassword::parse(DEMO_PASSWORD, Some(&email))?;
        let by = admin.clone();
        let user = crate::identity::create_user(
            store,
            &by,
            NewUser { email: email.clone(), name: name.to_string(), password, time_zone: TimeZone::parse(tz)? },
            vec![Grant { role, scope }],
        )
        .await?;
        if role == Role::Admin {
            admin = Acting::user(user.id, None);
        }
        let scope_label = match scope {
            Scope::Organization => "organization".to_string(),
            Scope::Site(id) => {
                format!("site {}", sites.iter().find(|s| s.id == id).map(|s| s.code.as_str()).unwrap_or("?"))
            }
            Scope::Study(_) => format!("study {}", study.code),
        };
        logins.push(DemoLogin { role, email: email.to_string(), name: name.to_string(), scope: scope_label });
        users.insert(role, user.id);
    }

    // A few things on the Boston team's work queue: one overdue, one due today, some ahead.
    let now = crate::now();
    let bos = site("BOS");
    let coordinator = users.get(&Role::Coordinator).copied().unwrap_or_default();
    let coordinator_acting = Acting::user(coordinator, None);
    let manual = [
        (
            "Call back the referring cardiologist about a pre-screening candidate",
            -26,
            Assignee::User { user_id: coordinator },
        ),
        (
            "File the IRB acknowledgement letter for protocol amendment 2 in the regulatory binder",
            3,
            Assignee::Role { role: Role::Coordinator, scope: Scope::Site(bos) },
        ),
        (
            "Order ECG electrodes and blood draw kits for next week's visits",
            50,
            Assignee::User { user_id: coordinator },
        ),
        (
            "Confirm the monitoring visit agenda with the CRA",
            120,
            Assignee::Role { role: Role::Coordinator, scope: Scope::Site(bos) },
        ),
    ];
    for (title, hours, assignee) in manual {
        let task = crate::tasks::ManualTask {
            title: title.to_string(),
            detail: String::new(),
            due_at: now + chrono::Duration::hours(hours),
            assignee,
            site_id: Some(bos),
            study_id: Some(study.id),
        };
        crate::tasks::create_manual(store, &coordinator_acting, task).await?;
    }
    let investigator = users.get(&Role::Investigator).copied().unwrap_or_default();
    // Boston's IRB approval runs out in six weeks (its renewal task is on the Boston queue);
    // Chicago is active; Seattle is still waiting for activation.
    let today = crate::now().date_naive();
    let days = chrono::Duration::days;
    let participating = [
        (
            "BOS",
            Some(investigator),
            "Harborview Institutional Review Board",
            Some(today - days(320)),
            Some(today + days(45)),
            Some(today - days(300)),
            100,
        ),
        (
            "CHI",
            None,
            "Lakeshore University IRB",
            Some(today - days(150)),
            Some(today + days(215)),
            Some(today - days(120)),
            80,
        ),
        ("SEA", None, "Cascade Regional IRB", None, None, None, 60),
    ];
    for (code, pi, irb, approved, expires, activated, target) in participating {
        let input = crate::trials::StudySiteInput {
            pi_user_id: pi,
            irb_name: irb.to_string(),
            irb_approved_on: approved,
            irb_expires_on: expires,
            activated_on: activated,
            target_enrollment: target,
        };
        crate::trials::add_study_site(store, &system, study.id, site(code), input).await?;
    }
    // Boston's delegation log: the PI and the coordinator signed off; the data manager's new
    // entry waits for the PI's signature (the task below).
    use clinbridge_core::trials::Duty;
    let team = [
        (investigator, "Principal investigator", Duty::ALL.to_vec(), true),
        (
            coordinator_id(&users),
            "Study coordinator",
            vec![Duty::ObtainConsent, Duty::EnterData, Duty::PerformProcedures, Duty::DispenseProduct],
            true,
        ),
        (users.get(&Role::DataManager).copied().unwrap_or_default(), "Data manager", vec![Duty::EnterData], false),
    ];
    let pi_acting = Acting::user(investigator, None);
    for (user_id, role, duties, sign) in team {
        let entry = crate::trials::add_delegation(
            store,
            &system,
            study.id,
            site("BOS"),
            crate::trials::NewDelegation {
                user_id,
                study_role: role.into(),
                duties,
                start_on: today - days(290),
                end_on: None,
            },
        )
        .await?;
        if sign {
            crate::trials::sign_delegation(store, &pi_acting, entry.id, DEMO_PASSWORD).await?;
        }
    }
    crate::tasks::raise(
        store,
        &system,
        NewTask {
            kind: "delegation_review".into(),
            title: "Review and sign the updated delegation log for CARDIO-HF3".into(),
            detail: "Two new sub-investigators were added at Boston.".into(),
            subject_type: "study".into(),
            subject_id: study.id.to_string(),
            study_id: Some(study.id),
            site_id: Some(bos),
            assignee: Assignee::User { user_id: investigator },
            due_at: now + chrono::Duration::hours(30),
            rule: "demo".into(),
            rule_key: format!("demo:delegation:{}", study.id),
        },
    )
    .await?;
    Ok(DemoWorld { admin, sites, study, users, logins })
}
