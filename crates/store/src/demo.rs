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

mod calendar;
mod consent;
mod device;
mod edc;
mod medical;

pub use device::DemoDevice;
pub use medical::DemoMedical;

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
    /// Filled by the field medical step.
    pub medical: DemoMedical,
    /// Filled by the device step.
    pub device: DemoDevice,
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
    let mut world = foundation(store).await?;
    // Later contexts add their steps here, in dependency order.
    site_operations(store, &mut world).await?;
    calendar::seed(store, &world).await?;
    edc::seed(store, &world).await?;
    medical::seed(store, &mut world).await?;
    device::seed(store, &mut world).await?;
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
    Ok(DemoWorld { admin, sites, study, users, logins, medical: DemoMedical::default(), device: DemoDevice::default() })
}

// ---------------------------------------------------------------- site operations

/// Study staff at Chicago and Seattle and Boston's unblinded pharmacist, with their grants.
async fn site_staff(store: &Store, world: &mut DemoWorld) -> Result<BTreeMap<&'static str, Uuid>> {
    let site = |code: &str| world.sites.iter().find(|s| s.code == code).map(|s| s.id).unwrap_or_default();
    let staff: [(&str, &str, Role, &str, &str); 5] = [
        ("amara.osei", "Dr. Amara Osei", Role::Investigator, "CHI", "America/Chicago"),
        ("lena.kowalski", "Lena Kowalski", Role::Coordinator, "CHI", "America/Chicago"),
        ("ethan.brooks", "Dr. Ethan Brooks", Role::Investigator, "SEA", "America/Los_Angeles"),
        ("sofia.marin", "Sofia Marin", Role::Coordinator, "SEA", "America/Los_Angeles"),
        ("noah.patel", "Noah Patel (research pharmacist)", Role::Coordinator, "BOS", "America/New_York"),
    ];
    let mut out = BTreeMap::new();
    for (local, name, role, code, tz) in staff {
        let email = Email::parse(&format!("{local}@demo.clinbridge.org"))?;
        let password = NewPassword::parse(DEMO_PASSWORD, Some(&email))?;
        let user = crate::identity::create_user(
            store,
            &world.admin,
            NewUser { email: email.clone(), name: name.to_string(), password, time_zone: TimeZone::parse(tz)? },
            vec![Grant { role, scope: Scope::Site(site(code)) }],
        )
        .await?;
        world.logins.push(DemoLogin {
            role,
            email: email.to_string(),
            name: name.to_string(),
            scope: format!("site {code}"),
        });
        out.insert(local, user.id);
    }
    Ok(out)
}

/// Adds a signed delegation entry (the PI signs with the demo password).
#[allow(clippy::too_many_arguments)]
async fn delegate(
    store: &Store,
    study: Uuid,
    site: Uuid,
    pi: Uuid,
    user: Uuid,
    role: &str,
    duties: Vec<clinbridge_core::trials::Duty>,
    start: chrono::NaiveDate,
) -> Result<()> {
    let entry = crate::trials::add_delegation(
        store,
        &Acting::system(),
        study,
        site,
        crate::trials::NewDelegation { user_id: user, study_role: role.into(), duties, start_on: start, end_on: None },
    )
    .await?;
    crate::trials::sign_delegation(store, &Acting::user(pi, None), entry.id, DEMO_PASSWORD).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn visit(
    code: &str,
    name: &str,
    anchor: &str,
    from: &str,
    offset: i64,
    window: (i64, i64),
    kind: &str,
    procedures: &[&str],
) -> Result<clinbridge_core::trials::schedule::VisitDefinition> {
    let repeating = kind == "repeating";
    Ok(clinbridge_core::trials::schedule::VisitDefinition::parse(
        &clinbridge_core::trials::schedule::VisitDefinitionInput {
            code: code.into(),
            name: name.into(),
            anchor: anchor.into(),
            anchor_visit: from.into(),
            offset_days: offset,
            window_before: window.0,
            window_after: window.1,
            kind: kind.into(),
            repeat_every_days: if repeating { 28 } else { 0 },
            repeat_count: if repeating { 3 } else { 0 },
            procedures: procedures.iter().map(|p| p.to_string()).collect(),
        },
    )?)
}

const GIVEN: [&str; 20] = [
    "James",
    "Maria",
    "Robert",
    "Linda",
    "Michael",
    "Patricia",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Karen",
    "Charles",
    "Nancy",
    "Daniel",
    "Margaret",
];
const FAMILY: [&str; 20] = [
    "Thompson",
    "Garcia",
    "Martinez",
    "Robinson",
    "Clark",
    "Rodriguez",
    "Lewis",
    "Lee",
    "Walker",
    "Hall",
    "Allen",
    "Young",
    "Hernandez",
    "King",
    "Wright",
    "Lopez",
    "Hill",
    "Scott",
    "Green",
    "Adams",
];

/// One demo participant's path: the status they end in and the day they started (days ago).
struct Path {
    site: &'static str,
    end: clinbridge_core::participants::Status,
    started: i64,
}

/// Records the demo participant's visits planned before `until` (and not after today): most
/// completed on their target day, some missed, a few done just after the window with the
/// deviation explained.
async fn record_past(store: &Store, by: &Acting, participant: Uuid, until: chrono::NaiveDate, n: usize) -> Result<()> {
    use clinbridge_core::scheduling::VisitStatus;
    let today = crate::now().date_naive();
    let due: Vec<_> = crate::scheduling::visits_of(store, participant)
        .await?
        .into_iter()
        .filter(|v| v.status() == VisitStatus::Scheduled && v.target_on < until && v.target_on <= today)
        .collect();
    for (k, v) in due.into_iter().enumerate() {
        let late = v.window_end + chrono::Duration::days(2);
        if (n + k) % 11 == 5 {
            crate::scheduling::record_visit(
                store,
                by,
                v.id,
                VisitStatus::Missed,
                None,
                "Did not attend; could not be reached in time",
            )
            .await?;
        } else if (n + k) % 13 == 7 && late < until && late <= today {
            crate::scheduling::record_visit(
                store,
                by,
                v.id,
                VisitStatus::Completed,
                Some(late),
                "Participant travelling; seen two days after the window",
            )
            .await?;
        } else {
            crate::scheduling::record_visit(store, by, v.id, VisitStatus::Completed, Some(v.target_on), "").await?;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn walk(
    store: &Store,
    study: &Study,
    site: Uuid,
    coordinator: Uuid,
    investigator: Uuid,
    randomized: bool,
    n: usize,
    path: &Path,
) -> Result<()> {
    use clinbridge_core::participants::Status as S;
    let today = crate::now().date_naive();
    let day = |k: i64| today - chrono::Duration::days(path.started - k);
    let by = Acting::user(coordinator, None);
    let pi = Acting::user(investigator, None);
    let start = if path.end == S::Prescreen { S::Prescreen } else { S::Screening };
    let contact = crate::participants::Contact {
        given_name: GIVEN[n % GIVEN.len()].into(),
        family_name: FAMILY[(n * 7 + 3) % FAMILY.len()].into(),
        date_of_birth: chrono::NaiveDate::from_ymd_opt(
            1940 + (n as i32 * 3) % 40,
            1 + (n as u32 % 12),
            1 + (n as u32 * 5) % 28,
        ),
        phone: format!("+1 617 555 {:04}", 1000 + n * 37),
        email: format!("participant{n}@example.org"),
        address: format!("{} Maple Avenue", 10 + n * 4),
        mrn: format!("MRN{:07}", 4_200_000 + n * 131),
    };
    let p = crate::participants::register(
        store,
        &by,
        study.id,
        site,
        crate::participants::NewParticipant { status: start, on: day(0), contact: Some(contact) },
    )
    .await?;
    let mv = |to: S, k: i64, reason: &str, detail: &str, cw: &str| crate::participants::MoveRequest {
        to,
        reason_code: reason.into(),
        detail: detail.into(),
        consent_withdrawal: cw.into(),
        effective_on: day(k),
    };
    let by_ref = &by;
    let go =
        |m: crate::participants::MoveRequest| async move { crate::participants::move_to(store, by_ref, p.id, m).await };
    match path.end {
        S::Prescreen | S::Screening => return Ok(()),
        S::ScreenFailed if n.is_multiple_of(2) => {
            go(mv(S::ScreenFailed, 3, ["declined", "unable_to_comply"][n % 4 / 2], "", "")).await?;
            return Ok(());
        }
        _ => {}
    }
    let tz = crate::trials::study_site(store, study.id, site).await?.site_time_zone;
    consent::consent(store, &by, p.id, study.id, coordinator, day(1), &tz, n).await?;
    let tomorrow = today + chrono::Duration::days(1);
    if path.end == S::Consented {
        return record_past(store, &by, p.id, tomorrow, n).await;
    }
    let criteria = crate::participants::criteria(store, study.id).await?;
    let fail = path.end == S::ScreenFailed;
    let responses = criteria
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let inclusion = c.kind == "inclusion";
            let answer = match (inclusion, fail && i == 1) {
                (true, false) => clinbridge_core::participants::Answer::Yes,
                (true, true) => clinbridge_core::participants::Answer::No,
                (false, _) => clinbridge_core::participants::Answer::No,
            };
            clinbridge_core::participants::Response {
                code: c.code.clone(),
                answer,
                source: if inclusion { "Screening visit notes".into() } else { "Medical record review".into() },
            }
        })
        .collect();
    crate::participants::assess(store, &by, p.id, responses).await?;
    if fail {
        record_past(store, &by, p.id, day(6), n).await?;
        go(mv(S::ScreenFailed, 6, "inclusion_not_met", "", "")).await?;
        return Ok(());
    }
    crate::participants::sign_assessment(store, &pi, p.id, DEMO_PASSWORD).await?;
    go(mv(S::Eligible, 7, "", "", "")).await?;
    if path.end == S::Eligible {
        return record_past(store, &by, p.id, tomorrow, n).await;
    }
    go(mv(S::Enrolled, 9, "", "", "")).await?;
    if path.end == S::Enrolled {
        return record_past(store, &by, p.id, tomorrow, n).await;
    }
    if randomized {
        let diabetes = if n.is_multiple_of(3) { "yes" } else { "no" };
        crate::participants::randomization::randomize(
            store,
            &by,
            p.id,
            vec![("diabetes".into(), diabetes.into())],
            day(9),
        )
        .await?;
        if path.end == S::Randomized {
            return record_past(store, &by, p.id, tomorrow, n).await;
        }
    }
    go(mv(S::Active, 10, "", "", "")).await?;
    let withdrawn_on = 40 + (n as i64 % 5) * 9;
    let left_on = match path.end {
        S::Completed => day(372),
        S::Withdrawn => day(withdrawn_on),
        S::LostToFollowUp => day(60),
        S::Deceased => day(75),
        _ => tomorrow,
    };
    record_past(store, &by, p.id, left_on.min(tomorrow), n).await?;
    match path.end {
        S::Completed => go(mv(S::Completed, 372, "", "", "")).await.map(|_| ()),
        S::Withdrawn => go(mv(
            S::Withdrawn,
            withdrawn_on,
            ["participant_decision", "adverse_event", "investigator_decision"][n % 3],
            "",
            ["none", "no_further_contact", "no_further_data"][n % 3],
        ))
        .await
        .map(|_| ()),
        S::LostToFollowUp => {
            go(mv(S::LostToFollowUp, 60, "", "Three phone calls and a certified letter without answer", ""))
                .await
                .map(|_| ())
        }
        S::Deceased => {
            go(mv(S::Deceased, 75, "", "Death from non-cardiac cause, reported by family", "")).await.map(|_| ())
        }
        _ => Ok(()),
    }
}

/// The schedules, checklists, randomization, a device study and some sixty participants.
async fn site_operations(store: &Store, world: &mut DemoWorld) -> Result<()> {
    use clinbridge_core::participants::Status as S;
    use clinbridge_core::trials::Duty;
    let system = Acting::system();
    let staff = site_staff(store, world).await?;
    let person = |k: &str| staff.get(k).copied().unwrap_or_default();
    let site = |code: &str| world.sites.iter().find(|s| s.code == code).map(|s| s.id).unwrap_or_default();
    let today = crate::now().date_naive();
    let days = chrono::Duration::days;
    let reyes = world.users.get(&Role::Investigator).copied().unwrap_or_default();
    let okafor = coordinator_id(&world.users);
    let hf3 = world.study.clone();

    // CARDIO-HF3: Chicago's PI and team, Boston's coordinator may randomize, the pharmacist
    // dispenses and is the unblinded team.
    let chi = crate::trials::study_site(store, hf3.id, site("CHI")).await?;
    let mut input = crate::trials::StudySiteInput {
        pi_user_id: Some(person("amara.osei")),
        irb_name: chi.irb_name.clone(),
        irb_approved_on: chi.irb_approved_on,
        irb_expires_on: chi.irb_expires_on,
        activated_on: chi.activated_on,
        target_enrollment: chi.target_enrollment,
    };
    crate::trials::update_study_site(store, &system, chi.id, input.clone()).await?;
    let (bos, chi_id, sea) = (site("BOS"), site("CHI"), site("SEA"));
    delegate(
        store,
        hf3.id,
        bos,
        reyes,
        okafor,
        "Study coordinator (randomization)",
        vec![Duty::Randomize],
        today - days(280),
    )
    .await?;
    delegate(
        store,
        hf3.id,
        bos,
        reyes,
        person("noah.patel"),
        "Unblinded research pharmacist",
        vec![Duty::DispenseProduct],
        today - days(290),
    )
    .await?;
    delegate(
        store,
        hf3.id,
        chi_id,
        person("amara.osei"),
        person("amara.osei"),
        "Principal investigator",
        Duty::ALL.to_vec(),
        today - days(120),
    )
    .await?;
    delegate(
        store,
        hf3.id,
        chi_id,
        person("amara.osei"),
        person("lena.kowalski"),
        "Study coordinator",
        vec![Duty::ObtainConsent, Duty::Randomize, Duty::EnterData, Duty::PerformProcedures],
        today - days(120),
    )
    .await?;
    let hf3_visits = [
        visit(
            "SCR",
            "Screening",
            "consent",
            "",
            0,
            (0, 28),
            "scheduled",
            &[
                "Informed consent",
                "Medical history",
                "Physical exam",
                "Vital signs",
                "12-lead ECG",
                "Echocardiogram",
                "NT-proBNP",
                "Safety labs",
            ],
        )?,
        visit(
            "BL",
            "Baseline and randomization",
            "randomization",
            "",
            0,
            (0, 0),
            "scheduled",
            &["Vital signs", "12-lead ECG", "KCCQ questionnaire", "Dispense study drug"],
        )?,
        visit(
            "W2",
            "Week 2",
            "visit",
            "BL",
            14,
            (3, 3),
            "scheduled",
            &["Vital signs", "Safety labs", "Adverse event review"],
        )?,
        visit(
            "W4",
            "Week 4",
            "visit",
            "BL",
            28,
            (3, 3),
            "scheduled",
            &["Vital signs", "NT-proBNP", "Adverse event review", "Drug accountability", "Dispense study drug"],
        )?,
        visit(
            "W12",
            "Week 12 safety",
            "visit",
            "BL",
            84,
            (7, 7),
            "scheduled",
            &[
                "Vital signs",
                "Safety labs",
                "12-lead ECG",
                "Adverse event review",
                "Drug accountability",
                "Dispense study drug",
            ],
        )?,
        visit(
            "W24",
            "Week 24",
            "visit",
            "BL",
            168,
            (7, 7),
            "scheduled",
            &[
                "Physical exam",
                "Vital signs",
                "NT-proBNP",
                "KCCQ questionnaire",
                "Adverse event review",
                "Drug accountability",
                "Dispense study drug",
            ],
        )?,
        visit("PHONE", "Telephone follow-up", "visit", "W24", 28, (3, 3), "repeating", &["Adverse event review"])?,
        visit(
            "W52",
            "Week 52 / end of treatment",
            "visit",
            "BL",
            364,
            (14, 14),
            "scheduled",
            &[
                "Physical exam",
                "Vital signs",
                "12-lead ECG",
                "Echocardiogram",
                "NT-proBNP",
                "Safety labs",
                "KCCQ questionnaire",
                "Adverse event review",
                "Drug accountability",
            ],
        )?,
        visit("UNS", "Unscheduled", "consent", "", 0, (0, 0), "unscheduled", &["Vital signs", "Adverse event review"])?,
    ];
    for v in hf3_visits {
        crate::trials::schedule::add_visit(store, &system, hf3.id, v).await?;
    }
    use clinbridge_core::participants::CriterionKind::{Exclusion, Inclusion};
    let hf3_criteria = [
        (Inclusion, "I1", "Age 40 years or older at consent"),
        (Inclusion, "I2", "LVEF of 50% or more on an echocardiogram within 6 months"),
        (Inclusion, "I3", "NT-proBNP of 300 pg/mL or more (900 pg/mL or more in atrial fibrillation)"),
        (Inclusion, "I4", "NYHA class II to IV symptoms"),
        (Exclusion, "E1", "eGFR below 25 mL/min/1.73 m²"),
        (Exclusion, "E2", "Myocardial infarction or stroke within 90 days"),
        (Exclusion, "E3", "Type 1 diabetes mellitus"),
        (Exclusion, "E4", "Pregnant or breastfeeding"),
    ];
    for (kind, code, text) in hf3_criteria {
        crate::participants::add_criterion(store, &system, hf3.id, kind, code, text).await?;
    }
    crate::participants::set_subject_id_pattern(store, &system, hf3.id, "{site}-{seq:04}").await?;
    crate::participants::randomization::create_scheme(
        store,
        &system,
        hf3.id,
        crate::participants::randomization::NewScheme {
            blinded: true,
            block_sizes: vec![3, 6],
            factors: vec![clinbridge_core::participants::randomization::Factor {
                name: "diabetes".into(),
                levels: vec!["yes".into(), "no".into()],
            }],
            list_length: 60,
        },
    )
    .await?;
    crate::participants::randomization::set_unblinded(store, &system, hf3.id, person("noah.patel"), true).await?;

    // AORTA-FLEX: an open-label, single-arm device study at all three sites.
    let af = crate::trials::create_study(
        store,
        &system,
        Code::parse("code", "AORTA-FLEX")?,
        clinbridge_core::trials::StudyDetails {
            title: "A pivotal, single-arm study of a balloon-expandable transcatheter aortic valve in severe aortic stenosis at low surgical risk".into(),
            short_title: "AORTA-FLEX".into(),
            protocol_number: "NCD-TAV-220".into(),
            phase: "pivotal".into(),
            sponsor: "Northfield Cardiovascular Devices".into(),
            registry_id: "NCT06124587".into(),
            ind_ide: "IDE G230145".into(),
            therapeutic_area: "Structural heart".into(),
            target_enrollment: 120,
        },
    )
    .await?;
    crate::trials::add_arm(store, &system, af.id, "DEVICE", "Transcatheter aortic valve implantation", 1, "").await?;
    crate::trials::add_protocol_version(store, &system, af.id, "1.0", "", today - days(540), "Original protocol.")
        .await?;
    crate::trials::set_status(store, &system, af.id, clinbridge_core::trials::StudyStatus::Approved, None).await?;
    let af =
        crate::trials::set_status(store, &system, af.id, clinbridge_core::trials::StudyStatus::Enrolling, None).await?;
    let af_sites = [
        ("BOS", reyes, okafor, 500, 40),
        ("CHI", person("amara.osei"), person("lena.kowalski"), 480, 40),
        ("SEA", person("ethan.brooks"), person("sofia.marin"), 470, 40),
    ];
    for (code, pi, coord, active_days, target) in af_sites {
        input = crate::trials::StudySiteInput {
            pi_user_id: Some(pi),
            irb_name: format!("{code} Institutional Review Board"),
            irb_approved_on: Some(today - days(active_days + 20)),
            irb_expires_on: Some(today + days(120 + active_days / 10)),
            activated_on: Some(today - days(active_days)),
            target_enrollment: target,
        };
        crate::trials::add_study_site(store, &system, af.id, site(code), input.clone()).await?;
        delegate(
            store,
            af.id,
            site(code),
            pi,
            pi,
            "Principal investigator",
            Duty::ALL.to_vec(),
            today - days(active_days),
        )
        .await?;
        delegate(
            store,
            af.id,
            site(code),
            pi,
            coord,
            "Study coordinator",
            vec![Duty::ObtainConsent, Duty::EnterData, Duty::PerformProcedures],
            today - days(active_days),
        )
        .await?;
    }
    let af_visits = [
        visit(
            "SCR",
            "Screening",
            "consent",
            "",
            0,
            (0, 45),
            "scheduled",
            &[
                "Informed consent",
                "Medical history",
                "CT angiography",
                "Echocardiogram",
                "STS risk score",
                "Safety labs",
            ],
        )?,
        visit(
            "PROC",
            "Implant procedure",
            "enrollment",
            "",
            0,
            (0, 0),
            "scheduled",
            &["Implant", "Echocardiogram", "Adverse event review"],
        )?,
        visit(
            "DIS",
            "Discharge",
            "visit",
            "PROC",
            1,
            (0, 6),
            "scheduled",
            &["Echocardiogram", "12-lead ECG", "Adverse event review"],
        )?,
        visit(
            "D30",
            "30 days",
            "visit",
            "PROC",
            30,
            (7, 7),
            "scheduled",
            &["Echocardiogram", "12-lead ECG", "KCCQ questionnaire", "Adverse event review"],
        )?,
        visit(
            "M6",
            "6 months",
            "visit",
            "PROC",
            180,
            (30, 30),
            "scheduled",
            &["Echocardiogram", "Adverse event review"],
        )?,
        visit(
            "Y1",
            "1 year",
            "visit",
            "PROC",
            365,
            (45, 45),
            "scheduled",
            &["Echocardiogram", "12-lead ECG", "KCCQ questionnaire", "Adverse event review"],
        )?,
    ];
    for v in af_visits {
        crate::trials::schedule::add_visit(store, &system, af.id, v).await?;
    }
    let af_criteria = [
        (Inclusion, "I1", "Severe aortic stenosis: valve area of 1.0 cm² or less, or mean gradient of 40 mmHg or more"),
        (Inclusion, "I2", "STS predicted risk of mortality below 4%"),
        (Inclusion, "I3", "Annulus size suitable for the device on CT"),
        (Exclusion, "E1", "Bicuspid aortic valve"),
        (Exclusion, "E2", "Prior prosthetic aortic valve"),
        (Exclusion, "E3", "LVEF below 30%"),
    ];
    for (kind, code, text) in af_criteria {
        crate::participants::add_criterion(store, &system, af.id, kind, code, text).await?;
    }
    crate::participants::set_subject_id_pattern(store, &system, af.id, "AF-{site}-{seq:03}").await?;

    consent::documents(store, &hf3, &af, today).await?;

    // Participants: every pipeline state, started over the past months.
    let hf3_paths: Vec<(&str, S, usize)> = vec![
        ("BOS", S::Prescreen, 2),
        ("BOS", S::Screening, 3),
        ("BOS", S::ScreenFailed, 4),
        ("BOS", S::Consented, 2),
        ("BOS", S::Eligible, 1),
        ("BOS", S::Enrolled, 1),
        ("BOS", S::Randomized, 3),
        ("BOS", S::Active, 7),
        ("BOS", S::Withdrawn, 2),
        ("BOS", S::LostToFollowUp, 1),
        ("CHI", S::Prescreen, 1),
        ("CHI", S::Screening, 1),
        ("CHI", S::ScreenFailed, 2),
        ("CHI", S::Consented, 1),
        ("CHI", S::Eligible, 1),
        ("CHI", S::Randomized, 2),
        ("CHI", S::Active, 4),
        ("CHI", S::Withdrawn, 1),
        ("CHI", S::Deceased, 1),
    ];
    let af_paths: Vec<(&str, S, usize)> = vec![
        ("BOS", S::Screening, 1),
        ("BOS", S::Enrolled, 1),
        ("BOS", S::Active, 2),
        ("BOS", S::Completed, 2),
        ("CHI", S::Prescreen, 1),
        ("CHI", S::ScreenFailed, 2),
        ("CHI", S::Active, 2),
        ("CHI", S::Completed, 1),
        ("SEA", S::Screening, 1),
        ("SEA", S::ScreenFailed, 1),
        ("SEA", S::Consented, 1),
        ("SEA", S::Eligible, 1),
        ("SEA", S::Enrolled, 1),
        ("SEA", S::Active, 2),
        ("SEA", S::Withdrawn, 1),
        ("SEA", S::LostToFollowUp, 1),
    ];
    // The same site team works on both studies.
    let team = |code: &str| -> (Uuid, Uuid) {
        match code {
            "BOS" => (okafor, reyes),
            "CHI" => (person("lena.kowalski"), person("amara.osei")),
            _ => (person("sofia.marin"), person("ethan.brooks")),
        }
    };
    let mut n = 0usize;
    for (study, paths, randomized, oldest) in [(&hf3, hf3_paths, true, 270i64), (&af, af_paths, false, 460i64)] {
        let total: usize = paths.iter().map(|(_, _, k)| k).sum();
        let mut i = 0usize;
        for (code, end, count) in paths {
            for _ in 0..count {
                // Later pipeline states started earlier; spread starts over the enrollment period.
                let started = match end {
                    S::Prescreen | S::Screening => 3 + (i as i64 % 5),
                    S::Consented | S::Eligible => 12 + (i as i64 % 6),
                    S::Enrolled | S::Randomized => 20 + (i as i64 % 8),
                    S::Completed => oldest - (i as i64 % 40),
                    _ => 30 + (oldest - 60) * i as i64 / total as i64,
                };
                // Nobody starts before the site's team could screen there.
                let opened = match (study.id == hf3.id, code) {
                    (true, "BOS") => 280,
                    (true, _) => 115,
                    (false, _) => 465,
                };
                let started = started.min(opened);
                let (coordinator, investigator) = team(code);
                let path = Path { site: code, end, started };
                walk(store, study, site(path.site), coordinator, investigator, randomized, n, &path).await?;
                n += 1;
                i += 1;
            }
        }
    }
    let coordinators: std::collections::HashMap<Uuid, Uuid> =
        ["BOS", "CHI", "SEA"].into_iter().map(|c| (site(c), team(c).0)).collect();
    consent::reconsent_some(store, &hf3, &coordinators).await?;
    consent::kiosk_today(store, &hf3, site("CHI"), team("CHI").0).await?;
    // Prescreening failures, counted without identities.
    let log = [
        (hf3.id, bos, 60, "inclusion_not_met", 14, "Chart review: LVEF below 50%"),
        (hf3.id, bos, 32, "exclusion_met", 6, "eGFR below 25"),
        (hf3.id, bos, 9, "declined", 3, ""),
        (hf3.id, chi_id, 45, "inclusion_not_met", 9, "NT-proBNP below threshold"),
        (hf3.id, chi_id, 15, "unable_to_comply", 2, "Lives more than two hours away"),
        (af.id, sea, 80, "exclusion_met", 5, "Bicuspid valve on CT"),
        (af.id, chi_id, 50, "inclusion_not_met", 4, "STS score 4% or more"),
    ];
    for (study, s, ago, reason, k, note) in log {
        let by = Acting::user(okafor, None);
        let f = crate::participants::PrescreenFailures {
            logged_on: today - days(ago),
            reason_code: reason.into(),
            candidates: k,
            note: note.into(),
        };
        crate::participants::log_prescreen_failures(store, &by, study, s, f).await?;
    }
    Ok(())
}
