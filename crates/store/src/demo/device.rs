//! The demo's device team: two clinical specialists (the foundation's Kenji Watanabe, West,
//! and Inés Moreau, Midwest and East), a transcatheter valve system with its delivery catheter
//! and an imaging console, installed at four of the medical demo's institutions; facility
//! credentials (one expiring within the month, one expired); cases covered in the past and
//! confirmed or requested ahead, none overlapping; in-service trainings with sign-offs; support
//! tickets, one escalated to a complaint whose 30-day report is due in three days; product
//! feedback with votes; a course with its modules and credits; territories and visits.

use super::{DEMO_PASSWORD, DemoLogin, DemoWorld};
use crate::device::{self, ComplaintHandling, VisitInput};
use crate::identity::NewUser;
use crate::{Acting, Result, Store, StoreError};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use clinbridge_core::device::{
    AttendeeInput, CaseInput, ComplaintInput, CourseInput, CredentialInput, FeedbackInput, InstallInput, ModuleInput,
    ProductInput, RequiredDocument, SignSide, TicketInput, TrainingInput, gtin_check_digit,
};
use clinbridge_core::identity::{Email, Grant, NewPassword, Role, Scope, TimeZone};
use uuid::Uuid;

/// What the device step adds, for tests and walkthroughs.
#[derive(Debug, Clone, Default)]
pub struct DemoDevice {
    pub specialists: Vec<Uuid>,
    pub products: Vec<Uuid>,
    pub expiring_credential: Uuid,
    pub expired_credential: Uuid,
    /// A reportable complaint three days from its deadline.
    pub urgent_complaint: Uuid,
}

/// A GTIN-14 from its first 13 digits.
fn gtin(body: &str) -> String {
    let d: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
    format!("{body}{}", gtin_check_digit(&d))
}

fn docs(received: &[(&str, bool)]) -> Vec<RequiredDocument> {
    received.iter().map(|(n, r)| RequiredDocument { name: (*n).into(), received: *r }).collect()
}

pub(super) async fn seed(store: &Store, world: &mut DemoWorld) -> Result<()> {
    let now = crate::now();
    let today = now.date_naive();
    let day = |n: i64| today + Duration::days(n);
    let at = |n: i64, h: u32| -> DateTime<Utc> {
        day(n).and_time(NaiveTime::from_hms_opt(h, 0, 0).unwrap_or_default()).and_utc()
    };
    let kenji_id = world.users.get(&Role::ClinicalSpecialist).copied().unwrap_or_default();
    let kenji = Acting::user(kenji_id, None);

    // The second specialist.
    let email = Email::parse("ines.moreau@demo.clinbridge.org")?;
    let password = NewPassword::parse(DEMO_PASSWORD, Some(&email))?;
    let ines_user = crate::identity::create_user(
        store,
        &world.admin,
        NewUser {
            email: email.clone(),
            name: "Inés Moreau".into(),
            password,
            time_zone: TimeZone::parse("America/Chicago")?,
        },
        vec![Grant { role: Role::ClinicalSpecialist, scope: Scope::Organization }],
    )
    .await?;
    world.logins.push(DemoLogin {
        role: Role::ClinicalSpecialist,
        email: email.to_string(),
        name: "Inés Moreau".into(),
        scope: "organization".into(),
    });
    let ines_id = ines_user.id;
    let ines = Acting::user(ines_id, None);

    // Accounts: four of the medical demo's institutions.
    let institutions = crate::medical::institutions(store).await?;
    let find = |name: &str| {
        institutions.iter().find(|i| i.name == name).map(|i| i.id).ok_or(StoreError::NotFound("demo institution"))
    };
    let harbor = find("Harborview Medical Center")?;
    let lakeshore = find("Lakeshore University Hospital")?;
    let cascade = find("Cascade Heart Institute")?;
    let front_range = find("Front Range Regional Hospital")?;
    let hcps = &world.medical.hcps;
    let surgeon = |n: usize| hcps.get(n).copied();

    // Products.
    let mut products = Vec::new();
    for (name, model, sw, body, months) in [
        ("Aurora Transcatheter Valve System", "AV-26", "", "0088442210001", 12),
        ("Aurora Delivery Catheter", "DC-14F", "", "0088442210002", 12),
        ("Lumen Imaging Console", "LIC-500", "4.2.1", "0088442210003", 24),
    ] {
        let p = device::create_product(
            store,
            &kenji,
            ProductInput {
                name: name.into(),
                model: model.into(),
                software_version: sw.into(),
                udi_di: gtin(body),
                certificate_months: Some(months),
            },
        )
        .await?;
        products.push(p.id);
    }
    let (valve, catheter, console) = (products[0], products[1], products[2]);

    // Installed base.
    for (inst, dept, product, serial, age, status) in [
        (harbor, "Cardiothoracic Surgery", console, "LIC5-10021", 400, "active"),
        (harbor, "Cardiology", console, "LIC5-10022", 120, "active"),
        (lakeshore, "Cardiology", console, "LIC5-10037", 300, "active"),
        (cascade, "Cardiothoracic Surgery", console, "LIC5-10041", 650, "service"),
        (cascade, "Cardiothoracic Surgery", console, "LIC5-10058", 20, "loaner"),
        (front_range, "Cardiology", console, "LIC5-10063", 90, "active"),
    ] {
        device::install(
            store,
            &kenji,
            InstallInput {
                institution_id: inst,
                department: dept.into(),
                product_id: product,
                serial: serial.into(),
                installed_on: Some(day(-age)),
                status: status.into(),
            },
        )
        .await?;
    }

    // Credentials: Kenji's Cascade credential expires within the month, his Front Range one
    // has expired; the rest run for months.
    let standard = docs(&[("Influenza vaccination", true), ("Background check", true), ("HIPAA training", true)]);
    let mut credentials = Vec::new();
    for (user, inst, name, issued, expires) in [
        (kenji_id, harbor, "Vendor credential (Reptrax)", -200, 165),
        (kenji_id, cascade, "Vendor credential (Vendormate)", -345, 20),
        (kenji_id, front_range, "Vendor credential (Symplr)", -375, -10),
        (ines_id, lakeshore, "Vendor credential (Reptrax)", -90, 275),
        (ines_id, harbor, "Vendor credential (Reptrax)", -60, 305),
    ] {
        let c = device::add_credential(
            store,
            &kenji,
            CredentialInput {
                user_id: user,
                institution_id: inst,
                name: name.into(),
                documents: standard.clone(),
                issued_on: Some(day(issued)),
                expires_on: Some(day(expires)),
            },
        )
        .await?;
        credentials.push(c.id);
    }

    // Cases: covered in the past, confirmed and requested ahead; none overlapping.
    let case =
        |inst: Uuid, dept: &str, hcp: Option<Uuid>, proc_: &str, starts: DateTime<Utc>, minutes: i64, who: Uuid| {
            CaseInput {
                institution_id: inst,
                department: dept.into(),
                surgeon_hcp_id: hcp,
                procedure_type: proc_.into(),
                starts_at: starts,
                duration_minutes: minutes,
                product_ids: vec![valve, catheter, console],
                specialist_user_id: Some(who),
                notes: String::new(),
            }
        };
    let tavr = "Transfemoral TAVR";
    for (by, input, outcome) in [
        (
            &kenji,
            case(harbor, "Cardiothoracic Surgery", surgeon(0), tavr, at(-14, 14), 150, kenji_id),
            "26 mm valve, one deployment, no paravalvular leak.",
        ),
        (
            &kenji,
            case(cascade, "Cardiothoracic Surgery", surgeon(2), tavr, at(-7, 17), 120, kenji_id),
            "23 mm valve; console image freeze for ten seconds, recovered (ticket opened).",
        ),
        (
            &ines,
            case(lakeshore, "Cardiology", surgeon(1), "Valve-in-valve TAVR", at(-10, 15), 180, ines_id),
            "Valve-in-valve in a 25 mm surgical valve, uneventful.",
        ),
    ] {
        let k = device::request_case(store, by, input).await?;
        device::set_case_status(store, by, k.id, "confirmed", "").await?;
        device::set_case_status(store, by, k.id, "covered", outcome).await?;
    }
    let k = device::request_case(
        store,
        &kenji,
        case(harbor, "Cardiothoracic Surgery", surgeon(0), tavr, at(3, 14), 150, kenji_id),
    )
    .await?;
    device::set_case_status(store, &kenji, k.id, "confirmed", "").await?;
    device::request_case(
        store,
        &kenji,
        case(cascade, "Cardiothoracic Surgery", surgeon(12), tavr, at(9, 17), 120, kenji_id),
    )
    .await?;
    let k =
        device::request_case(store, &ines, case(lakeshore, "Cardiology", surgeon(1), tavr, at(5, 15), 150, ines_id))
            .await?;
    device::set_case_status(store, &ines, k.id, "confirmed", "").await?;
    // A request still without a specialist.
    let mut open = case(front_range, "Cardiology", surgeon(4), tavr, at(12, 16), 120, kenji_id);
    open.specialist_user_id = None;
    device::request_case(store, &kenji, open).await?;

    // In-service training with sign-offs.
    let valve_curriculum = ["Valve crimping and loading", "Delivery system preparation", "Deployment sequence"];
    let t = device::record_training(
        store,
        &kenji,
        TrainingInput {
            institution_id: harbor,
            department: "Cardiothoracic Surgery".into(),
            product_id: valve,
            competencies: valve_curriculum.iter().map(|c| c.to_string()).collect(),
            held_on: Some(day(-20)),
            trainer_user_id: None,
            attendees: vec![
                AttendeeInput {
                    name: "Nora Quinn".into(),
                    role: "Cath lab RN".into(),
                    email: "nquinn@example.org".into(),
                },
                AttendeeInput {
                    name: "Sam Ortiz".into(),
                    role: "Cardiovascular technologist".into(),
                    email: String::new(),
                },
                AttendeeInput { name: "Priya Raman".into(), role: "Perfusionist".into(), email: String::new() },
            ],
            validity_months: None,
        },
    )
    .await?;
    let detail = device::training(store, &crate::identity::actor(store, kenji_id).await?, t.id).await?;
    for a in &detail.attendees {
        let signed = if a.name == "Priya Raman" { 1 } else { valve_curriculum.len() };
        for comp in valve_curriculum.iter().take(signed) {
            device::sign_competency(store, &kenji, a.id, comp, SignSide::Trainer, "Kenji Watanabe").await?;
            device::sign_competency(store, &kenji, a.id, comp, SignSide::Trainee, &a.name).await?;
        }
    }
    let console_curriculum = ["Image acquisition", "Measurement and sizing"];
    let t = device::record_training(
        store,
        &ines,
        TrainingInput {
            institution_id: lakeshore,
            department: "Cardiology".into(),
            product_id: console,
            competencies: console_curriculum.iter().map(|c| c.to_string()).collect(),
            held_on: Some(day(-35)),
            trainer_user_id: None,
            attendees: vec![
                AttendeeInput { name: "Marco Bellini".into(), role: "Echo sonographer".into(), email: String::new() },
                AttendeeInput { name: "Hana Sato".into(), role: "Cardiology fellow".into(), email: String::new() },
            ],
            validity_months: None,
        },
    )
    .await?;
    let detail = device::training(store, &crate::identity::actor(store, ines_id).await?, t.id).await?;
    for a in &detail.attendees {
        for comp in console_curriculum {
            device::sign_competency(store, &ines, a.id, comp, SignSide::Trainer, "Inés Moreau").await?;
            device::sign_competency(store, &ines, a.id, comp, SignSide::Trainee, &a.name).await?;
        }
    }

    // Support tickets; the catheter one escalates to a complaint due in three days.
    let freeze = device::open_ticket(
        store,
        &kenji,
        TicketInput {
            institution_id: cascade,
            product_id: console,
            serial_or_lot: "LIC5-10041".into(),
            description: "Live image froze for about ten seconds during valve positioning, then recovered.".into(),
        },
    )
    .await?;
    device::log_troubleshooting(
        store,
        &kenji,
        freeze.id,
        "Pulled system logs: GPU watchdog reset at the time of the freeze.",
    )
    .await?;
    device::log_troubleshooting(store, &kenji, freeze.id, "Swapped in loaner LIC5-10058; unit sent for service.")
        .await?;
    device::set_ticket_status(store, &kenji, freeze.id, "investigating", "").await?;

    let packaging = device::open_ticket(
        store,
        &ines,
        TicketInput {
            institution_id: lakeshore,
            product_id: valve,
            serial_or_lot: "LOT-AV-4410".into(),
            description: "Outer pouch seal found creased on two boxes at receiving.".into(),
        },
    )
    .await?;
    device::log_troubleshooting(
        store,
        &ines,
        packaging.id,
        "Inner sterile barrier intact on both; photos sent to quality.",
    )
    .await?;
    device::set_ticket_status(store, &ines, packaging.id, "resolved", "Shipping carton changed by the distributor.")
        .await?;
    device::set_ticket_status(store, &ines, packaging.id, "closed", "").await?;

    let tip = device::open_ticket(
        store,
        &kenji,
        TicketInput {
            institution_id: harbor,
            product_id: catheter,
            serial_or_lot: "LOT-DC-2291".into(),
            description: "Nose cone separated from the delivery catheter on withdrawal; retrieved with a snare.".into(),
        },
    )
    .await?;
    device::log_troubleshooting(
        store,
        &kenji,
        tip.id,
        "Device returned for analysis; lot LOT-DC-2291 on hold at the account.",
    )
    .await?;
    let aware = day(-27);
    let c = device::escalate_to_complaint(
        store,
        &kenji,
        tip.id,
        ComplaintInput {
            device_name: "Aurora Delivery Catheter DC-14F".into(),
            udi: format!("(01){}(10)LOT-DC-2291", gtin("0088442210002")),
            received_on: Some(aware),
            aware_on: Some(aware),
            complainant_name: "Nora Quinn, RN".into(),
            complainant_contact: "nquinn@example.org, (555) 010-2291".into(),
            nature: "Component separation during withdrawal".into(),
            details: "During withdrawal after valve deployment the nose cone separated and was retrieved from the iliac artery with a snare. Procedure prolonged by 25 minutes; no lasting injury reported.".into(),
        },
    )
    .await?;
    device::record_handling(
        store,
        &kenji,
        c.id,
        ComplaintHandling {
            investigation: Some("Returned device under analysis: bond joint inspection and lot history review.".into()),
            ..Default::default()
        },
    )
    .await?;
    let c = device::decide_reportability(store, &kenji, c.id, "malfunction", false, "").await?;

    // Feedback with votes.
    for (by, inst, product, category, text, voters, status) in [
        (
            &kenji,
            harbor,
            valve,
            "usability",
            "Crimping tool markings are hard to read under cath lab lighting.",
            vec![kenji_id, ines_id],
            "under_review",
        ),
        (
            &ines,
            lakeshore,
            console,
            "feature",
            "Export sizing measurements straight to the hospital PACS.",
            vec![ines_id, kenji_id],
            "planned",
        ),
        (
            &kenji,
            cascade,
            console,
            "reliability",
            "Image freeze during positioning (see ticket).",
            vec![kenji_id],
            "new",
        ),
        (&ines, harbor, catheter, "labeling", "Loading steps card should fit on one page.", vec![], "shipped"),
    ] {
        let f = device::submit_feedback(
            store,
            by,
            FeedbackInput { institution_id: inst, product_id: product, category: category.into(), text: text.into() },
        )
        .await?;
        for v in voters {
            device::vote(store, &Acting::user(v, None), f.id).await?;
        }
        if status != "new" {
            device::set_feedback_status(store, by, f.id, status).await?;
        }
    }

    // A course for cath lab staff, one attendee through it, one halfway.
    let course = device::create_course(
        store,
        &kenji,
        CourseInput {
            title: "Aurora TAVR fundamentals".into(),
            description: "Self-paced course for cath lab and OR staff new to the Aurora system.".into(),
            product_id: Some(valve),
            credits: 2.0,
            modules: vec![
                ModuleInput { title: "Aortic stenosis and patient selection".into(), minutes: 30 },
                ModuleInput { title: "System components and preparation".into(), minutes: 40 },
                ModuleInput { title: "Procedure walkthrough and troubleshooting".into(), minutes: 50 },
            ],
        },
    )
    .await?;
    let modules = device::course(store, &crate::identity::actor(store, kenji_id).await?, course.id).await?.modules;
    for (name, role, done) in [("Nora Quinn", "Cath lab RN", 3), ("Sam Ortiz", "Cardiovascular technologist", 1)] {
        let e = device::enroll(
            store,
            &kenji,
            course.id,
            harbor,
            AttendeeInput { name: name.into(), role: role.into(), email: String::new() },
        )
        .await?;
        for m in modules.iter().take(done) {
            device::complete_module(store, &kenji, e.id, m.id).await?;
        }
    }

    // Territories and visits.
    device::set_territory(store, &kenji, kenji_id, vec![harbor, cascade, front_range]).await?;
    device::set_territory(store, &ines, ines_id, vec![lakeshore, harbor]).await?;
    for (by, who, inst, when, purpose, done) in [
        (
            &kenji,
            kenji_id,
            cascade,
            at(-7, 21),
            "Console service follow-up",
            Some("Loaner in place; service ETA two weeks."),
        ),
        (&kenji, kenji_id, front_range, at(4, 16), "Credential renewal and account review", None),
        (
            &ines,
            ines_id,
            lakeshore,
            at(-3, 16),
            "Quarterly business review",
            Some("Volume up 12 %; asked for PACS export."),
        ),
        (&ines, ines_id, harbor, at(6, 15), "In-service refresher planning", None),
    ] {
        let v = device::plan_visit(
            store,
            by,
            VisitInput {
                specialist_user_id: who,
                institution_id: inst,
                planned_at: when,
                duration_minutes: 90,
                purpose: purpose.into(),
            },
        )
        .await?;
        if let Some(notes) = done {
            device::complete_visit(store, by, v.id, notes).await?;
        }
    }

    world.device = DemoDevice {
        specialists: vec![kenji_id, ines_id],
        products,
        expiring_credential: credentials[1],
        expired_credential: credentials[2],
        urgent_complaint: c.id,
    };
    Ok(())
}
