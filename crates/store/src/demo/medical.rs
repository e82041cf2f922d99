//! The demo's field medical team: two MSLs and their manager (the commercial user of the
//! foundation stays walled off), forty HCPs at ten made-up US institutions, KOL tiers with
//! publications and engagement plans, six months of interactions with follow-ups and
//! insights, a heart failure congress with its sessions, medical information requests in every
//! state (one signed and locked, one overdue) and two safety intakes, one forwarded and one
//! waiting. The demo's Boston PI is an HCP here, linked to his account, so his profile shows
//! his trial activity; the Chicago investigator is matched by e-mail.

use super::{DEMO_PASSWORD, DemoLogin, DemoWorld};
use crate::identity::NewUser;
use crate::medical::{self, AffiliationInput, RequestEdit, ResponseInput};
use crate::{Acting, Result, Store};
use chrono::{DateTime, Datelike, Duration, Utc};
use clinbridge_core::identity::{Email, Grant, NewPassword, Role, Scope, TimeZone};
use clinbridge_core::medical::{
    EventInput, FollowUpInput, HcpInput, InsightInput, InsightSource, InstitutionInput, InteractionInput, KolInput,
    Material, ObjectiveInput, PublicationInput, RequestInput, RequestStatus, SafetyInput, SessionInput,
    npi_check_digit,
};
use uuid::Uuid;

/// What the medical step adds, for tests and walkthroughs.
#[derive(Debug, Clone, Default)]
pub struct DemoMedical {
    pub second_msl: Uuid,
    pub hcps: Vec<Uuid>,
    /// The HCP linked to the demo investigator's account.
    pub investigator_hcp: Uuid,
    pub congress: Uuid,
    pub locked_request: Uuid,
    pub overdue_request: Uuid,
    pub forwarded_safety: Uuid,
    pub pending_safety: Uuid,
}

/// The same pseudo-random sequence every time.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, lo: i64, hi: i64) -> i64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        lo + ((self.0 >> 33) as i64).rem_euclid(hi - lo + 1)
    }
    fn pick<'a, T>(&mut self, list: &'a [T]) -> &'a T {
        &list[self.roll(0, list.len() as i64 - 1) as usize]
    }
}

/// A valid NPI from a serial number (nine digits starting with 1, then the check digit).
fn npi(serial: u32) -> String {
    let first = format!("1{:08}", 46_020_000 + serial);
    let digits: Vec<u32> = first.chars().filter_map(|c| c.to_digit(10)).collect();
    format!("{first}{}", npi_check_digit(&digits))
}

/// Name, kind, street, city, state, latitude, longitude, departments.
type InstitutionSpec =
    (&'static str, &'static str, &'static str, &'static str, &'static str, f64, f64, &'static [&'static str]);

const INSTITUTIONS: [InstitutionSpec; 10] = [
    (
        "Harborview Medical Center",
        "academic_medical_center",
        "55 Fruit Street",
        "Boston",
        "MA",
        42.3626,
        -71.0685,
        &["Cardiology", "Nephrology", "Endocrinology", "Cardiothoracic Surgery", "Pharmacy"],
    ),
    (
        "Lakeshore University Hospital",
        "academic_medical_center",
        "251 East Huron Street",
        "Chicago",
        "IL",
        41.8955,
        -87.6212,
        &["Cardiology", "Nephrology", "Internal Medicine", "Pharmacy"],
    ),
    (
        "Cascade Heart Institute",
        "hospital",
        "1959 NE Pacific Street",
        "Seattle",
        "WA",
        47.6497,
        -122.3084,
        &["Cardiology", "Cardiothoracic Surgery"],
    ),
    (
        "Bayou State University Medical Center",
        "academic_medical_center",
        "1542 Tulane Avenue",
        "New Orleans",
        "LA",
        29.9556,
        -90.0768,
        &["Cardiology", "Nephrology", "Endocrinology", "Internal Medicine"],
    ),
    (
        "Front Range Regional Hospital",
        "hospital",
        "1719 East 19th Avenue",
        "Denver",
        "CO",
        39.7456,
        -104.9706,
        &["Cardiology", "Internal Medicine"],
    ),
    (
        "Desert Valley Cardiology Clinic",
        "clinic",
        "1300 North 12th Street",
        "Phoenix",
        "AZ",
        33.4809,
        -112.0415,
        &["Cardiology"],
    ),
    (
        "Piedmont Academic Medical Center",
        "academic_medical_center",
        "1364 Clifton Road",
        "Atlanta",
        "GA",
        33.7925,
        -84.3210,
        &["Cardiology", "Nephrology", "Endocrinology", "Pharmacy"],
    ),
    (
        "Twin Lakes Surgical Center",
        "surgical_center",
        "420 Delaware Street SE",
        "Minneapolis",
        "MN",
        44.9740,
        -93.2320,
        &["Cardiothoracic Surgery"],
    ),
    (
        "Gulf Coast Methodist Hospital",
        "hospital",
        "6565 Fannin Street",
        "Houston",
        "TX",
        29.7100,
        -95.3990,
        &["Cardiology", "Nephrology", "Internal Medicine"],
    ),
    (
        "Blue Ridge Kidney and Heart Clinic",
        "clinic",
        "1000 Blythe Boulevard",
        "Charlotte",
        "NC",
        35.2050,
        -80.8400,
        &["Nephrology", "Cardiology"],
    ),
];

const FIRST: [&str; 40] = [
    "Samuel", "Amara", "Helen", "Victor", "Grace", "Rahul", "Elena", "Marcus", "Naomi", "Thomas", "Ingrid", "Kwame",
    "Lucia", "Benjamin", "Farah", "Daniel", "Mei", "Jonathan", "Olivia", "Andre", "Sofia", "Patrick", "Yuki", "Claire",
    "Hassan", "Rebecca", "Diego", "Anita", "George", "Leah", "Martin", "Priya", "Walter", "Julia", "Tobias", "Nora",
    "Ahmed", "Caroline", "Felix", "Irene",
];
const LAST: [&str; 40] = [
    "Reyes",
    "Osei",
    "Whitcombe",
    "Alvarado",
    "Lindqvist",
    "Mehta",
    "Petrov",
    "Holloway",
    "Adeyemi",
    "Brennan",
    "Sorensen",
    "Mensah",
    "Ferreira",
    "Castellano",
    "Rahimi",
    "Kowalczyk",
    "Tanaka",
    "Ashford",
    "Marchetti",
    "Dubois",
    "Navarro",
    "Gallagher",
    "Nakamura",
    "Beaumont",
    "Karimi",
    "Stein",
    "Montoya",
    "Raman",
    "Whitaker",
    "Goldberg",
    "Lindgren",
    "Venkatesan",
    "Harrington",
    "Novak",
    "Hartmann",
    "Quinlan",
    "Farouk",
    "Ellison",
    "Brandt",
    "Costa",
];
const SPECIALTIES: [(&str, &[&str]); 7] = [
    ("Cardiology", &["MD", "FACC"]),
    ("Cardiology", &["MD"]),
    ("Nephrology", &["MD"]),
    ("Endocrinology", &["DO"]),
    ("Internal Medicine", &["MD", "MPH"]),
    ("Clinical Pharmacy", &["PharmD"]),
    ("Heart Failure Nursing", &["NP"]),
];

const TOPICS: [&str; 8] = [
    "HFpEF outcomes data",
    "Renal safety in CKD stage 3",
    "Dosing in the elderly",
    "Phase 3 trial design",
    "Real-world evidence",
    "Guideline updates",
    "Hyperkalemia management",
    "Patient selection",
];
const PRODUCTS: [&str; 2] = ["Cardiozan", "Renavance"];
const CHANNELS: [&str; 4] = ["in_person", "video", "phone", "email"];

fn objective(text: &str, target: Option<i64>, done: i64) -> ObjectiveInput {
    ObjectiveInput { text: text.into(), target_count: target, done_count: done, status: String::new() }
}

pub(super) async fn seed(store: &Store, world: &mut DemoWorld) -> Result<()> {
    let now = crate::now();
    let manager_id = world.users.get(&Role::MedicalManager).copied().unwrap_or_default();
    let msl_id = world.users.get(&Role::Msl).copied().unwrap_or_default();
    let manager = Acting::user(manager_id, None);
    let msl = Acting::user(msl_id, None);

    // The second MSL, East Coast territory.
    let email = Email::parse("priyanka.shah@demo.clinbridge.org")?;
    let password = NewPassword::parse(DEMO_PASSWORD, Some(&email))?;
    let second = crate::identity::create_user(
        store,
        &world.admin,
        NewUser {
            email: email.clone(),
            name: "Dr. Priyanka Shah".into(),
            password,
            time_zone: TimeZone::parse("America/New_York")?,
        },
        vec![Grant { role: Role::Msl, scope: Scope::Organization }],
    )
    .await?;
    world.logins.push(DemoLogin {
        role: Role::Msl,
        email: email.to_string(),
        name: "Dr. Priyanka Shah".into(),
        scope: "organization".into(),
    });
    let msl2 = Acting::user(second.id, None);
    let msls = [(msl_id, msl.clone()), (second.id, msl2.clone())];

    // Institutions.
    let mut institutions = Vec::new();
    for (name, kind, address, city, state, lat, lon, departments) in INSTITUTIONS {
        let i = medical::create_institution(
            store,
            &manager,
            InstitutionInput {
                name: name.into(),
                kind: kind.into(),
                address: address.into(),
                city: city.into(),
                state: state.into(),
                postal_code: String::new(),
                departments: departments.iter().map(|d| d.to_string()).collect(),
                latitude: Some(lat),
                longitude: Some(lon),
            },
        )
        .await?;
        institutions.push(i);
    }

    // Forty HCPs; the first is the demo's Boston PI, the second the Chicago investigator.
    let mut dice = Dice(0x6d65_6469_6361_6c21);
    let mut hcps = Vec::new();
    for n in 0..40usize {
        let (specialty, creds) = if n < 2 { SPECIALTIES[0] } else { *dice.pick(&SPECIALTIES) };
        let email = match n {
            1 => "amara.osei@demo.clinbridge.org".to_string(),
            _ => format!("{}.{}@example.org", FIRST[n].to_lowercase(), LAST[n].to_lowercase()),
        };
        let h = medical::create_hcp(
            store,
            &manager,
            HcpInput {
                npi: npi(n as u32 * 7 + 3),
                first_name: FIRST[n].into(),
                last_name: LAST[n].into(),
                credentials: creds.iter().map(|c| c.to_string()).collect(),
                specialty: specialty.into(),
                email,
                phone: format!("(555) 01{:02}-{:04}", n, 1000 + n * 37),
            },
        )
        .await?;
        let inst = match n {
            0 => 0,
            1 => 1,
            _ => n % institutions.len(),
        };
        let institution = &institutions[inst];
        let department =
            if institution.departments.iter().any(|d| d == specialty) { specialty.to_string() } else { String::new() };
        let mut affiliations = vec![AffiliationInput {
            institution_id: institution.id,
            department,
            role: match n % 5 {
                0 => "Division Chief".into(),
                1 => "Associate Professor".into(),
                2 => "Attending Physician".into(),
                3 => "Program Director".into(),
                _ => "Staff".into(),
            },
            is_primary: true,
        }];
        if n % 6 == 0 && n > 0 {
            let other = &institutions[(inst + 3) % institutions.len()];
            affiliations.push(AffiliationInput {
                institution_id: other.id,
                department: String::new(),
                role: "Consulting Physician".into(),
                is_primary: false,
            });
        }
        medical::set_affiliations(store, &manager, h.id, affiliations).await?;
        hcps.push(h);
    }
    let investigator = world.users.get(&Role::Investigator).copied().unwrap_or_default();
    medical::link_user(store, &manager, hcps[0].id, Some(investigator)).await?;

    // KOL profiles: four national, five regional, six local.
    let this_year = now.year();
    let half = if now.month() <= 6 { "H1" } else { "H2" };
    let period = format!("{this_year}-{half}");
    for (n, h) in hcps.iter().enumerate().take(15) {
        let tier = match n {
            0..4 => "1",
            4..9 => "2",
            _ => "3",
        };
        let area = if h.specialty == "Nephrology" { "Nephrology" } else { "Cardiology" };
        medical::set_kol_profile(
            store,
            &manager,
            h.id,
            KolInput {
                tier: tier.into(),
                therapeutic_areas: vec![area.into(), "Cardiorenal medicine".into()],
                topics: vec![TOPICS[n % TOPICS.len()].into(), TOPICS[(n + 3) % TOPICS.len()].into()],
                notes: String::new(),
            },
        )
        .await?;
        if n < 9 {
            let owner = msls[n % 2].0;
            medical::set_engagement_plan(
                store,
                &msls[n % 2].1,
                h.id,
                &period,
                Some(owner),
                vec![
                    objective("Scientific exchange meetings on the phase 3 data", Some(3), (n as i64) % 4),
                    objective("Invite to the cardiorenal advisory board", None, 0),
                    objective(
                        "Explore investigator interest in the next phase 2 study",
                        Some(1),
                        i64::from(n % 3 == 0),
                    ),
                ],
            )
            .await?;
        }
        if n < 6 {
            for k in 0..3i64 {
                let year = this_year as i64 - k - (n as i64 % 2);
                medical::add_publication(
                    store,
                    &msls[n % 2].1,
                    h.id,
                    PublicationInput {
                        title: format!(
                            "{} in heart failure with preserved ejection fraction: {}",
                            ["SGLT2 inhibition", "Natriuretic peptide trajectories", "Renal function decline"]
                                [k as usize],
                            ["a multicenter cohort", "a randomized trial secondary analysis", "a systematic review"]
                                [n % 3]
                        ),
                        journal: ["J Card Fail", "Circ Heart Fail", "JACC Heart Fail"][k as usize].into(),
                        year: Some(year as i32),
                        pmid: format!("{}", 36_100_000 + n * 100 + k as usize),
                        doi: format!("10.1016/j.cardfail.{year}.{:03}", n * 10 + k as usize),
                    },
                )
                .await?;
            }
        }
    }
    let csv = format!(
        "title,journal,year,pmid,doi\n\
         \"Potassium binders and guideline-directed therapy in CKD, a registry study\",Kidney Int,{y},37200101,10.1016/j.kint.{y}.0101\n\
         Hyperkalemia after SGLT2 initiation in older adults,Clin J Am Soc Nephrol,{y1},37200102,\n",
        y = this_year - 1,
        y1 = this_year - 2
    );
    medical::import_publications_csv(store, &msl, hcps[6].id, &csv).await?;

    // A heart failure congress forty days ago with its sessions.
    let congress_start = (now - Duration::days(40)).date_naive();
    let congress = medical::create_event(
        store,
        &manager,
        EventInput {
            name: format!("Heart Failure Society of America Annual Scientific Meeting {}", congress_start.year()),
            starts_on: Some(congress_start),
            ends_on: Some(congress_start + Duration::days(2)),
            place: "McCormick Place, Chicago, IL".into(),
            notes: "Booth staffing by medical only; no promotional material at the medical booth.".into(),
        },
        vec![msl_id, second.id, manager_id],
    )
    .await?;
    let day = |d: i64, h: u32| -> DateTime<Utc> {
        (congress_start + Duration::days(d)).and_hms_opt(h, 0, 0).map(|t| t.and_utc()).unwrap_or(now)
    };
    for (title, d, h, speakers, room) in [
        (
            "Late-breaking clinical trials I",
            0,
            14,
            vec![format!("Dr. {} {}", FIRST[0], LAST[0]), format!("Dr. {} {}", FIRST[2], LAST[2])],
            "Hall A",
        ),
        (
            "Cardiorenal syndrome: what changed this year",
            1,
            15,
            vec![format!("Dr. {} {}", FIRST[4], LAST[4])],
            "Room S401",
        ),
        (
            "Hyperkalemia and guideline-directed therapy",
            1,
            19,
            vec![format!("Dr. {} {}", FIRST[1], LAST[1])],
            "Room S402",
        ),
        (
            "Real-world evidence in HFpEF",
            2,
            14,
            vec![format!("Dr. {} {}", FIRST[3], LAST[3]), format!("Dr. {} {}", FIRST[7], LAST[7])],
            "Hall B",
        ),
    ] {
        medical::add_session(
            store,
            &manager,
            congress.id,
            SessionInput {
                title: title.into(),
                starts_at: day(d, h),
                ends_at: day(d, h) + Duration::minutes(90),
                speakers,
                room: room.into(),
            },
        )
        .await?;
    }

    // Six months of interactions; some at the congress.
    let materials = [
        Material { name: "Cardiozan prescribing information".into(), version: "2025-11".into() },
        Material { name: "HFpEF phase 3 primary results slide deck (MED-0417)".into(), version: "2.0".into() },
        Material { name: "Renal safety data summary (MED-0388)".into(), version: "1.3".into() },
    ];
    let categories =
        ["unmet_need", "treatment_practice", "competitive", "safety_perception", "trial_design", "access", "other"];
    let tags: [&[&str]; 8] = [
        &["dosing", "elderly"],
        &["renal function", "monitoring"],
        &["hyperkalemia"],
        &["prior authorization", "cost"],
        &["endpoints", "trial design"],
        &["guidelines"],
        &["dosing", "renal function"],
        &["competitor data", "glyflo"],
    ];
    let mut interactions = Vec::new();
    for n in 0..46i64 {
        let days_ago = 3 + n * 4 + dice.roll(0, 2);
        let at_congress = n % 9 == 0;
        let occurred_at = if at_congress {
            day(dice.roll(0, 2), 16 + dice.roll(0, 3) as u32)
        } else {
            now - Duration::days(days_ago) + Duration::hours(dice.roll(-4, 4))
        };
        if occurred_at > now {
            continue;
        }
        let (owner_id, owner) = &msls[(n % 2) as usize];
        let first = hcps[dice.roll(0, 19) as usize].id;
        let mut people = vec![first];
        if n % 4 == 0 {
            people.push(hcps[dice.roll(20, 39) as usize].id);
        }
        let topic = *dice.pick(&TOPICS);
        let product = *dice.pick(&PRODUCTS);
        let mut follow_ups = Vec::new();
        if n % 5 == 1 {
            follow_ups.push(FollowUpInput {
                title: format!("Send the requested {product} reprints"),
                due_at: occurred_at + Duration::days(14),
                assignee: None,
            });
        }
        let it = medical::record_interaction(
            store,
            owner,
            InteractionInput {
                occurred_at,
                channel: if at_congress { "congress".into() } else { dice.pick(&CHANNELS).to_string() },
                hcp_ids: people,
                colleague_ids: if n % 7 == 0 { vec![manager_id] } else { vec![] },
                topics: vec![topic.into()],
                products: vec![product.into()],
                materials: vec![materials[(n % 3) as usize].clone()],
                notes: format!(
                    "Scientific exchange on {}. Questions were answered with the approved materials.",
                    topic.to_lowercase()
                ),
                follow_ups,
                event_id: if at_congress { Some(congress.id) } else { None },
            },
        )
        .await?;
        // Follow-ups of interactions older than three weeks were done.
        if occurred_at < now - Duration::days(21) {
            for f in &it.follow_ups {
                medical::complete_follow_up(store, owner, f.id).await?;
            }
        }
        if n % 3 != 2 {
            let k = dice.roll(0, 7) as usize;
            let category = categories[k % categories.len()];
            medical::record_insight(
                store,
                owner,
                InsightInput {
                    source: InsightSource::Interaction(it.id),
                    category: category.into(),
                    product: if category == "competitive" { "Glyflo".into() } else { product.into() },
                    therapeutic_area: "Cardiology".into(),
                    tags: tags[k].iter().map(|t| t.to_string()).collect(),
                    text: insight_text(category, product),
                },
            )
            .await?;
        }
        interactions.push((it, *owner_id));
    }
    for (category, tag, text) in [
        (
            "trial_design",
            "endpoints",
            "Several investigators at the late-breaker session questioned the use of a hierarchical composite endpoint without a quality-of-life component.",
        ),
        (
            "unmet_need",
            "renal function",
            "Nephrologists at the cardiorenal session asked for data in eGFR below 25, which no trial has covered.",
        ),
        (
            "competitive",
            "competitor data",
            "Attendees discussed the Glyflo real-world registry; most saw its follow-up as too short to compare.",
        ),
    ] {
        medical::record_insight(
            store,
            &msl2,
            InsightInput {
                source: InsightSource::Event(congress.id),
                category: category.into(),
                product: if category == "competitive" { "Glyflo".into() } else { "Cardiozan".into() },
                therapeutic_area: "Cardiology".into(),
                tags: vec![tag.into(), "congress".into()],
                text: text.into(),
            },
        )
        .await?;
    }
    // One follow-up already overdue on the first MSL's queue.
    if let Some((it, _)) = interactions.iter().find(|(i, o)| *o == msl_id && i.occurred_at < now - Duration::days(12)) {
        medical::add_follow_up(
            store,
            &msl,
            it.id,
            FollowUpInput {
                title: "Confirm the advisory board date with the KOL".into(),
                due_at: it.occurred_at + Duration::days(5),
                assignee: None,
            },
        )
        .await?;
    }

    // Medical information requests in every state.
    let ask =
        |hcp: Uuid, q: &str, urgency: &str, received: DateTime<Utc>, delivery: &str, product: &str| RequestInput {
            hcp_id: Some(hcp),
            unsolicited: Some(true),
            questions: vec![q.to_string()],
            products: vec![product.to_string()],
            urgency: urgency.into(),
            delivery_method: delivery.into(),
            received_at: Some(received),
            assigned_to: None,
            interaction_id: None,
        };
    let letter = |text: &str, doc: &str| ResponseInput {
        text: text.into(),
        documents: vec![Material { name: doc.into(), version: "2.1".into() }],
    };
    // Closed: answered on time, signed by the requester.
    let closed = medical::create_request(
        store,
        &msl,
        ask(
            hcps[2].id,
            "Is there data on Cardiozan in patients with an eGFR between 20 and 30?",
            "routine",
            now - Duration::days(9),
            "email",
            "Cardiozan",
        ),
    )
    .await?;
    medical::sign_request(store, &msl, closed.id, &format!("Dr. {} {}", FIRST[2], LAST[2])).await?;
    medical::move_request(store, &msl, closed.id, RequestStatus::InProgress).await?;
    medical::respond(
        store,
        &msl,
        closed.id,
        letter("The phase 3 program enrolled patients down to an eGFR of 20; the subgroup results are in the enclosed standard response letter.", "Standard response letter SRL-0142: Cardiozan in advanced CKD"),
    )
    .await?;
    medical::move_request(store, &msl, closed.id, RequestStatus::Answered).await?;
    medical::move_request(store, &msl, closed.id, RequestStatus::Closed).await?;
    // Signed and locked, in progress.
    let locked = medical::create_request(
        store,
        &msl2,
        ask(
            hcps[5].id,
            "What is known about co-administration of Cardiozan with potassium binders?",
            "routine",
            now - Duration::days(4),
            "letter",
            "Cardiozan",
        ),
    )
    .await?;
    medical::edit_request(
        store,
        &msl2,
        locked.id,
        RequestEdit {
            questions: Some(vec![
                "What is known about co-administration of Cardiozan with potassium binders?".into(),
                "Were any interactions seen in the phase 1 program?".into(),
            ]),
            ..Default::default()
        },
    )
    .await?;
    medical::sign_request(store, &msl2, locked.id, &format!("Dr. {} {}", FIRST[5], LAST[5])).await?;
    medical::move_request(store, &msl2, locked.id, RequestStatus::InProgress).await?;
    // Overdue: routine, received three weeks ago, still in progress.
    let overdue = medical::create_request(
        store,
        &msl,
        ask(
            hcps[8].id,
            "Is there any experience with Renavance in kidney transplant recipients?",
            "routine",
            now - Duration::days(21),
            "email",
            "Renavance",
        ),
    )
    .await?;
    medical::move_request(store, &msl, overdue.id, RequestStatus::InProgress).await?;
    // Answered, waiting to be closed.
    let answered = medical::create_request(
        store,
        &msl2,
        ask(
            hcps[11].id,
            "What dose adjustments apply in hepatic impairment?",
            "routine",
            now - Duration::days(6),
            "phone",
            "Cardiozan",
        ),
    )
    .await?;
    medical::move_request(store, &msl2, answered.id, RequestStatus::InProgress).await?;
    medical::respond(
        store,
        &msl2,
        answered.id,
        letter(
            "No adjustment in mild or moderate hepatic impairment; not studied in severe impairment.",
            "Standard response letter SRL-0097: hepatic impairment",
        ),
    )
    .await?;
    medical::move_request(store, &msl2, answered.id, RequestStatus::Answered).await?;
    // New and urgent, received this morning.
    medical::create_request(
        store,
        &msl,
        ask(
            hcps[14].id,
            "A patient on Cardiozan is scheduled for surgery tomorrow: when should it be paused?",
            "urgent",
            now - Duration::hours(3),
            "phone",
            "Cardiozan",
        ),
    )
    .await?;

    // Safety: one forwarded within the clock, one waiting.
    let recent =
        interactions.iter().map(|(i, _)| i).filter(|i| i.occurred_at > now - Duration::days(15)).collect::<Vec<_>>();
    let (first_ia, second_ia) = match recent.as_slice() {
        [a, b, ..] => (*a, *b),
        _ => return Err(crate::StoreError::Internal("the demo has no recent interactions".into())),
    };
    let forwarded = medical::report_safety(
        store,
        &Acting::user(first_ia.owner_user_id, None),
        SafetyInput {
            kind: "adverse_event".into(),
            interaction_id: Some(first_ia.id),
            hcp_id: first_ia.hcps.first().map(|h| h.id),
            product: "Cardiozan".into(),
            description: "The HCP reported a patient with symptomatic hypotension and dizziness one week after starting Cardiozan; the dose was held and symptoms resolved.".into(),
            patient: "Man in his 80s".into(),
            aware_at: None,
        },
    )
    .await?;
    medical::forward_safety(
        store,
        &Acting::user(first_ia.owner_user_id, None),
        forwarded.id,
        "Global Pharmacovigilance intake (pv-intake@meridian-ct.example)",
        "PV-2026-004173",
        Some(forwarded.aware_at + Duration::hours(6)),
    )
    .await?;
    let pending = medical::report_safety(
        store,
        &Acting::user(second_ia.owner_user_id, None),
        SafetyInput {
            kind: "product_complaint".into(),
            interaction_id: Some(second_ia.id),
            hcp_id: second_ia.hcps.first().map(|h| h.id),
            product: "Renavance".into(),
            description:
                "Blister packs from one lot were reported as hard to open; a tablet was found broken in the pack."
                    .into(),
            patient: String::new(),
            aware_at: Some(now - Duration::hours(2)),
        },
    )
    .await?;

    world.medical = DemoMedical {
        second_msl: second.id,
        hcps: hcps.iter().map(|h| h.id).collect(),
        investigator_hcp: hcps[0].id,
        congress: congress.id,
        locked_request: locked.id,
        overdue_request: overdue.id,
        forwarded_safety: forwarded.id,
        pending_safety: pending.id,
    };
    Ok(())
}

fn insight_text(category: &str, product: &str) -> String {
    match category {
        "unmet_need" => format!("Clinicians want guidance on {product} in patients with fluctuating renal function."),
        "treatment_practice" => {
            "Most of the practice starts therapy at discharge rather than in clinic follow-up.".into()
        }
        "competitive" => "The HCP has started several patients on Glyflo after its latest registry publication.".into(),
        "safety_perception" => {
            format!("Concern about volume depletion in older patients keeps some from starting {product}.")
        }
        "trial_design" => "Would like a pragmatic trial in patients over 80 with frailty measures as endpoints.".into(),
        "access" => format!("Prior authorization for {product} takes two to three weeks at this health system."),
        _ => "Asked for more patient education material in Spanish.".into(),
    }
}
