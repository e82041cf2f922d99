//! The demo's data capture: CARDIO-HF3 gets a production dictionary (demographics,
//! eligibility, vital signs, laboratory results, concomitant medications) mapped to its visits,
//! data for every participant who reached screening, open queries from the monitor, and
//! screening visits the monitor verified and the investigator signed (one of them locked);
//! AORTA-FLEX gets its device-study instruments (demographics, eligibility, implant procedure,
//! echocardiogram, KCCQ) with data up to each participant's last visit due, and a verified and
//! signed implant; the empty SANDBOX study is in development with no instruments, for trying
//! `import_metadata`.

use super::DemoWorld;
use crate::edc::metadata::{self, EventForms, InstrumentSetting};
use crate::edc::records::FormKey;
use crate::edc::{self, Blanks, FormInput};
use crate::{Acting, Result, Store};
use clinbridge_core::identity::{Code, Grant, Role, Scope};
use clinbridge_core::participants::Status;

const HEADER: &str = "Variable / Field Name,Form Name,Section Header,Field Type,Field Label,\"Choices, Calculations, OR Slider Labels\",Field Note,Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,Identifier?,Branching Logic (Show field only if...),Required Field?,Custom Alignment,Question Number (surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation";

const AF_FIELDS: &[&str] = &[
    "record_id,demographics,,text,Subject ID,,,,,,,,,,,,,",
    "initials,demographics,,text,Participant initials,,Three letters,alpha_only,,,y,,,,,,,",
    "dob,demographics,,text,Date of birth,,,date_mdy,1920-01-01,today,y,,y,,,,,",
    "sex,demographics,,radio,Sex at birth,\"1, Male | 2, Female\",,,,,,,y,,,,,",
    "height,demographics,,text,Height (cm),,,integer,120,220,,,y,,,,,",
    "weight,demographics,,text,Weight (kg),,,number_1dp,30,250,,,y,,,,,",
    "bsa,demographics,,calc,Body surface area (m2),\"round(sqrt([height] * [weight] / 3600), 2)\",Mosteller formula,,,,,,,,,,,",
    "ava,eligibility,Inclusion,text,Aortic valve area (cm2),,,number_2dp,0.2,3,,,y,,,,,",
    "mean_gradient,eligibility,,text,Mean aortic gradient (mmHg),,,integer,0,150,,,y,,,,,",
    "severe_as,eligibility,,calc,Severe aortic stenosis,\"if([ava] <= 1 or [mean_gradient] >= 40, 1, 0)\",1 = severe,,,,,,,,,,,",
    "sts_prom,eligibility,,text,STS predicted risk of mortality (%),,,number_1dp,0,50,,,y,,,,,",
    "annulus_ok,eligibility,,yesno,Annulus size suitable for the device on CT?,,,,,,,,y,,,,,",
    "bicuspid,eligibility,Exclusion,yesno,Bicuspid aortic valve?,,,,,,,,y,,,,,",
    "prior_valve,eligibility,,yesno,Prior prosthetic aortic valve?,,,,,,,,y,,,,,",
    "lvef,eligibility,,text,LVEF (%),,,integer,5,80,,,y,,,,,",
    "eligible,eligibility,,calc,Eligible,\"if([severe_as] = 1 and [sts_prom] < 4 and [annulus_ok] = '1' and [bicuspid] = '0' and [prior_valve] = '0' and [lvef] >= 30, 1, 0)\",1 = eligible,,,,,,,,,,,",
    "proc_date,procedure,,text,Date of implant,,,date_ymd,,today,,,y,,,,,@TODAY",
    "access,procedure,,radio,Access route,\"1, Transfemoral | 2, Transaxillary | 3, Transapical\",,,,,,,y,,,,,",
    "valve_size,procedure,,radio,Valve size,\"20, 20 mm | 23, 23 mm | 26, 26 mm | 29, 29 mm\",,,,,,,y,,,,,",
    "predilation,procedure,,yesno,Balloon predilation?,,,,,,,,y,,,,,",
    "proc_minutes,procedure,,text,Procedure time (minutes),,,integer,10,600,,,y,,,,,",
    "success,procedure,,yesno,Device success?,,,,,,,,y,,,,,",
    "failure_reason,procedure,,notes,What went wrong,,,,,,,[success] = '0',y,,,,,",
    "echo_date,echocardiogram,,text,Date of echocardiogram,,,date_ymd,,today,,,y,,,,,",
    "echo_gradient,echocardiogram,,text,Mean gradient (mmHg),,,number_1dp,0,100,,,y,,,,,",
    "peak_velocity,echocardiogram,,text,Peak velocity (m/s),,,number_1dp,0,7,,,y,,,,,",
    "pvl,echocardiogram,,radio,Paravalvular leak,\"0, None | 1, Trace | 2, Mild | 3, Moderate | 4, Severe\",,,,,,,y,,,,,",
    "echo_lvef,echocardiogram,,text,LVEF (%),,,integer,5,80,,,y,,,,,",
    "kccq_date,kccq,,text,Date completed,,,date_ymd,,today,,,y,,,,,",
    "kccq_physical,kccq,,text,Physical limitation score,,,integer,0,100,,,y,,,,,",
    "kccq_symptoms,kccq,,text,Symptom frequency score,,,integer,0,100,,,y,,,,,",
    "kccq_qol,kccq,,text,Quality of life score,,,integer,0,100,,,y,,,,,",
    "kccq_social,kccq,,text,Social limitation score,,,integer,0,100,,,y,,,,,",
    "kccq_overall,kccq,,calc,Overall summary score,\"round(mean([kccq_physical], [kccq_symptoms], [kccq_qol], [kccq_social]), 1)\",,,,,,,,,,,,",
];

const HF3_FIELDS: &[&str] = &[
    "record_id,demographics,,text,Subject ID,,,,,,,,,,,,,",
    "initials,demographics,,text,Participant initials,,Three letters,alpha_only,,,y,,,,,,,",
    "dob,demographics,,text,Date of birth,,,date_mdy,1920-01-01,today,y,,y,,,,,",
    "sex,demographics,,radio,Sex at birth,\"1, Male | 2, Female\",,,,,,,y,,,,,",
    "childbearing,demographics,,yesno,Of childbearing potential?,,,,,,,[sex] = '2',y,,,,,",
    "ethnicity,demographics,,radio,Ethnicity,\"1, Hispanic or Latino | 2, Not Hispanic or Latino | 99, Not reported\",,,,,,,,,,,,",
    "race,demographics,,checkbox,Race (all that apply),\"1, American Indian or Alaska Native | 2, Asian | 3, Black or African American | 4, Native Hawaiian or Other Pacific Islander | 5, White | 99, Not reported\",,,,,,,,,,,,",
    "height,demographics,,text,Height (cm),,,integer,120,220,,,y,,,,,",
    "inc_age,eligibility,Inclusion,yesno,Aged 18 or over?,,,,,,,,y,,,,,",
    "inc_hf,eligibility,,yesno,Chronic heart failure NYHA II-IV for 3 months or more?,,,,,,,,y,,,,,",
    "inc_lvef,eligibility,,yesno,LVEF 40% or less on the screening echocardiogram?,,,,,,,,y,,,,,",
    "exc_mi,eligibility,Exclusion,yesno,Myocardial infarction in the last 90 days?,,,,,,,,y,,,,,",
    "exc_egfr,eligibility,,yesno,eGFR below 30 mL/min/1.73m2?,,,,,,,,y,,,,,",
    "eligible,eligibility,,calc,Eligible,\"if([inc_age] = '1' and [inc_hf] = '1' and [inc_lvef] = '1' and [exc_mi] = '0' and [exc_egfr] = '0', 1, 0)\",1 = eligible,,,,,,,,,,,",
    "vs_date,vital_signs,,text,Date of measurement,,,date_ymd,,today,,,y,,,,,@TODAY",
    "sbp,vital_signs,,text,Systolic blood pressure (mmHg),,,integer,60,260,,,y,,,,,",
    "dbp,vital_signs,,text,Diastolic blood pressure (mmHg),,,integer,30,160,,,y,,,,,",
    "hr,vital_signs,,text,Heart rate (beats/min),,,integer,30,200,,,y,,,,,",
    "weight,vital_signs,,text,Weight (kg),,,number_1dp,30,250,,,y,,,,,",
    "bmi,vital_signs,,calc,BMI (kg/m2),\"round([weight] / (([scr_arm_1][height] / 100) ^ 2), 1)\",From the screening height,,,,,,,,,,,",
    "lab_date,laboratory_results,,text,Date of sample,,,date_ymd,,today,,,y,,,,,",
    "ntprobnp,laboratory_results,,text,NT-proBNP (pg/mL),,,integer,0,70000,,,y,,,,,",
    "creatinine,laboratory_results,,text,Creatinine (mg/dL),,,number_2dp,0.1,15,,,y,,,,,",
    "potassium,laboratory_results,,text,Potassium (mmol/L),,,number_1dp,2,8,,,y,,,,,",
    "potassium_high,laboratory_results,,descriptive,Potassium above 5.5 mmol/L: tell the investigator today.,,,,,,,[potassium] > 5.5,,,,,,",
    "cm_name,concomitant_medications,,text,Medicine,,,,,,,,y,,,,,",
    "cm_dose,concomitant_medications,,text,Dose and frequency,,,,,,,,,,,,,",
    "cm_start,concomitant_medications,,text,Start date,,,date_ymd,,today,,,,,,,,",
    "cm_ongoing,concomitant_medications,,yesno,Ongoing?,,,,,,,,y,,,,,",
    "cm_stop,concomitant_medications,,text,Stop date,,,date_ymd,,today,,[cm_ongoing] = '0',y,,,,,",
];

/// A small pseudo-random sequence, so the demo is the same every time.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, lo: i64, hi: i64) -> i64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        lo + ((self.0 >> 33) as i64).rem_euclid(hi - lo + 1)
    }
}

fn form(event: &str, instrument: &str, instance: i64, values: Vec<(&str, String)>, status: i64) -> FormInput {
    FormInput {
        key: FormKey::new(event, instrument, instance),
        values: values.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        status: Some(status),
        reason: None,
        revision: None,
        dates: Some(clinbridge_core::edc::DateOrder::Ymd),
        blanks: Blanks::Keep,
        from_page: false,
    }
}

pub(super) async fn seed(store: &Store, world: &DemoWorld) -> Result<()> {
    let study = world.study.id;
    let dm = Acting::user(world.users.get(&Role::DataManager).copied().unwrap_or_default(), None);
    let csv = format!("{HEADER}\n{}\n", HF3_FIELDS.join("\n"));
    metadata::import_dictionary(store, &dm, study, csv.as_bytes()).await?;
    let mut design = metadata::working_design(store, study).await?;
    let map = |event: &str, instruments: &[&str]| EventForms {
        event: event.into(),
        instruments: instruments.iter().map(|s| s.to_string()).collect(),
    };
    design.event_forms = vec![
        map("SCR", &["demographics", "eligibility", "vital_signs", "laboratory_results", "concomitant_medications"]),
        map("BL", &["vital_signs", "laboratory_results"]),
        map("W4", &["vital_signs"]),
        map("W12", &["vital_signs", "laboratory_results"]),
    ];
    design.instruments = vec![InstrumentSetting {
        name: "concomitant_medications".into(),
        label: "Concomitant Medications".into(),
        repeating: true,
    }];
    design.missing_codes = "NA, Not applicable | UNK, Unknown | ND, Not done".into();
    metadata::save_draft(store, &dm, study, design, "visits mapped").await?;
    metadata::publish(store, &dm, study, None).await?;

    let mut dice = Dice(20_261_122);
    let people = crate::participants::participants(store, study, None).await?;
    let monitor = Acting::user(world.users.get(&Role::Monitor).copied().unwrap_or_default(), None);
    let mut queried = 0;
    // Boston records that reached baseline: some of their screening visits are reviewed below.
    let mut reviewed = Vec::new();
    for p in people.iter().filter(|p| p.screened_on.is_some() && p.status() != Status::Prescreen) {
        let site = world.sites.iter().find(|s| s.id == p.site_id).map(|s| s.code.clone()).unwrap_or_default();
        let by = Acting::user(super::calendar::coordinator(store, world, &site).await?, None);
        let screened = p.screened_on.unwrap_or_else(|| crate::now().date_naive());
        let day = |offset: i64| (screened + chrono::Duration::days(offset)).format("%Y-%m-%d").to_string();
        let female = dice.roll(0, 2) == 0;
        let height = if female { dice.roll(152, 175) } else { dice.roll(165, 192) };
        let letters: String = (0..3).map(|_| char::from(b'A' + dice.roll(0, 25) as u8)).collect();
        let dob = format!("{}-{:02}-{:02}", 1940 + dice.roll(0, 40), dice.roll(1, 12), dice.roll(1, 28));
        let mut demo = vec![
            ("initials", letters),
            ("dob", dob),
            ("sex", if female { "2" } else { "1" }.to_string()),
            ("ethnicity", ["1", "2", "2", "2", "99"][dice.roll(0, 4) as usize].to_string()),
            ("race", ["5", "3", "5", "2", "5,3"][dice.roll(0, 4) as usize].to_string()),
            ("height", height.to_string()),
        ];
        if female {
            demo.push(("childbearing", "0".into()));
        }
        edc::save_for_participant(store, &by, p.id, form("SCR", "demographics", 1, demo, 2)).await?;
        let failed = p.status() == Status::ScreenFailed;
        let eligibility = vec![
            ("inc_age", "1".to_string()),
            ("inc_hf", "1".to_string()),
            ("inc_lvef", if failed { "0" } else { "1" }.to_string()),
            ("exc_mi", "0".to_string()),
            ("exc_egfr", "0".to_string()),
        ];
        edc::save_for_participant(store, &by, p.id, form("SCR", "eligibility", 1, eligibility, 2)).await?;
        let vitals = |dice: &mut Dice, offset: i64| {
            vec![
                ("vs_date", day(offset)),
                ("sbp", dice.roll(98, 148).to_string()),
                ("dbp", dice.roll(58, 92).to_string()),
                ("hr", dice.roll(56, 96).to_string()),
                ("weight", format!("{}.{}", dice.roll(58, 112), dice.roll(0, 9))),
            ]
        };
        let scr_vitals =
            edc::save_for_participant(store, &by, p.id, form("SCR", "vital_signs", 1, vitals(&mut dice, 0), 2)).await?;
        let labs = vec![
            ("lab_date", day(0)),
            ("ntprobnp", dice.roll(400, 4800).to_string()),
            ("creatinine", format!("{}.{:02}", dice.roll(0, 1), dice.roll(60, 99))),
            ("potassium", format!("{}.{}", dice.roll(3, 5), dice.roll(0, 9))),
        ];
        edc::save_for_participant(store, &by, p.id, form("SCR", "laboratory_results", 1, labs, 1)).await?;
        for (i, (name, dose)) in [("Sacubitril/valsartan", "97/103 mg twice daily"), ("Bisoprolol", "5 mg once daily")]
            .iter()
            .take(dice.roll(1, 2) as usize)
            .enumerate()
        {
            let meds = vec![
                ("cm_name", name.to_string()),
                ("cm_dose", dose.to_string()),
                ("cm_start", day(-dice.roll(90, 900))),
                ("cm_ongoing", "1".to_string()),
            ];
            edc::save_for_participant(store, &by, p.id, form("SCR", "concomitant_medications", i as i64 + 1, meds, 2))
                .await?;
        }
        if p.randomized_on.is_some() || p.enrolled_on.is_some() {
            let offset = (p.randomized_on.or(p.enrolled_on).unwrap_or(screened) - screened).num_days();
            edc::save_for_participant(store, &by, p.id, form("BL", "vital_signs", 1, vitals(&mut dice, offset), 1))
                .await?;
            if site == "BOS" {
                reviewed.push(scr_vitals.form.record_id);
            }
        }
        if queried < 3 && !failed {
            queried += 1;
            crate::edc::queries::open(
                store,
                &monitor,
                scr_vitals.form.id,
                "sbp",
                "The screening ECG printout shows a different blood pressure: please check against the source.",
                None,
            )
            .await?;
        }
    }

    // The monitor verifies the screening visits of the last three against the source, the
    // investigator signs them, and the data manager locks one (the first participants are left
    // unreviewed, for trying review).
    let investigator = Acting::user(world.users.get(&Role::Investigator).copied().unwrap_or_default(), None);
    for (n, record) in reviewed.iter().rev().take(3).enumerate() {
        review(store, &monitor, &investigator, *record, "SCR").await?;
        if n == 0 {
            crate::edc::review::lock_visit(store, &dm, *record, "SCR", 1, true).await?;
        }
    }
    aorta_flex(store, world, &dm, &monitor, &investigator).await?;

    // SANDBOX: an empty study in development, for trying the REDCap API's import_metadata.
    let sandbox = crate::trials::create_study(
        store,
        &world.admin,
        Code::parse("code", "SANDBOX")?,
        crate::trials::minimal("Sandbox: an empty data-capture project to try the REDCap API"),
    )
    .await?;
    for role in [Role::DataManager, Role::Coordinator] {
        if let Some(user) = world.users.get(&role) {
            crate::identity::add_grant(store, &world.admin, *user, Grant { role, scope: Scope::Study(sandbox.id) })
                .await?;
        }
    }
    Ok(())
}

/// The monitor verifies every answered field of a visit; the investigator signs it.
async fn review(store: &Store, monitor: &Acting, investigator: &Acting, record: uuid::Uuid, event: &str) -> Result<()> {
    crate::edc::review::verify_visit(store, monitor, record, event, 1).await?;
    let scope = crate::edc::review::SignedScope::Visit { record_id: record, event: event.into(), instance: 1 };
    crate::edc::review::sign(store, investigator, super::DEMO_PASSWORD, scope).await?;
    Ok(())
}

/// AORTA-FLEX: the device study's instruments in production, mapped to its visits, with data
/// for each participant up to the last visit already due, and the first Boston implant verified
/// and signed.
async fn aorta_flex(
    store: &Store,
    world: &DemoWorld,
    dm: &Acting,
    monitor: &Acting,
    investigator: &Acting,
) -> Result<()> {
    let study = crate::trials::study_by_code(store, "AORTA-FLEX").await?;
    let csv = format!("{HEADER}\n{}\n", AF_FIELDS.join("\n"));
    metadata::import_dictionary(store, dm, study.id, csv.as_bytes()).await?;
    let mut design = metadata::working_design(store, study.id).await?;
    let map = |event: &str, instruments: &[&str]| EventForms {
        event: event.into(),
        instruments: instruments.iter().map(|s| s.to_string()).collect(),
    };
    design.event_forms = vec![
        map("SCR", &["demographics", "eligibility", "echocardiogram", "kccq"]),
        map("PROC", &["procedure"]),
        map("DIS", &["echocardiogram"]),
        map("D30", &["echocardiogram", "kccq"]),
        map("M6", &["echocardiogram"]),
        map("Y1", &["echocardiogram", "kccq"]),
    ];
    design.instruments = vec![InstrumentSetting { name: "kccq".into(), label: "KCCQ-12".into(), repeating: false }];
    design.missing_codes = "NA, Not applicable | UNK, Unknown | ND, Not done".into();
    metadata::save_draft(store, dm, study.id, design, "visits mapped").await?;
    metadata::publish(store, dm, study.id, None).await?;

    let today = crate::now().date_naive();
    let mut dice = Dice(20_261_123);
    let mut signed = false;
    let people = crate::participants::participants(store, study.id, None).await?;
    for p in people.iter().filter(|p| p.screened_on.is_some() && p.status() != Status::Prescreen) {
        let site = world.sites.iter().find(|s| s.id == p.site_id).map(|s| s.code.clone()).unwrap_or_default();
        let by = Acting::user(super::calendar::coordinator(store, world, &site).await?, None);
        let screened = p.screened_on.unwrap_or(today);
        let ymd = |d: chrono::NaiveDate| d.format("%Y-%m-%d").to_string();
        let female = dice.roll(0, 1) == 0;
        let height = if female { dice.roll(150, 172) } else { dice.roll(163, 190) };
        let letters: String = (0..3).map(|_| char::from(b'A' + dice.roll(0, 25) as u8)).collect();
        let demo = vec![
            ("initials", letters),
            ("dob", format!("{}-{:02}-{:02}", 1938 + dice.roll(0, 20), dice.roll(1, 12), dice.roll(1, 28))),
            ("sex", if female { "2" } else { "1" }.to_string()),
            ("height", height.to_string()),
            ("weight", format!("{}.{}", dice.roll(55, 105), dice.roll(0, 9))),
        ];
        edc::save_for_participant(store, &by, p.id, form("SCR", "demographics", 1, demo, 2)).await?;
        let failed = p.status() == Status::ScreenFailed;
        let eligibility = vec![
            ("ava", format!("0.{:02}", dice.roll(55, 95))),
            ("mean_gradient", dice.roll(40, 62).to_string()),
            ("sts_prom", format!("{}.{}", dice.roll(1, 3), dice.roll(0, 9))),
            ("annulus_ok", "1".to_string()),
            ("bicuspid", if failed { "1" } else { "0" }.to_string()),
            ("prior_valve", "0".to_string()),
            ("lvef", dice.roll(35, 65).to_string()),
        ];
        edc::save_for_participant(store, &by, p.id, form("SCR", "eligibility", 1, eligibility, 2)).await?;
        let echo = |dice: &mut Dice, on: chrono::NaiveDate, native: bool| {
            let (gradient, velocity) =
                if native { (dice.roll(40, 60), dice.roll(40, 52)) } else { (dice.roll(6, 14), dice.roll(17, 26)) };
            vec![
                ("echo_date", ymd(on)),
                ("echo_gradient", format!("{gradient}.{}", dice.roll(0, 9))),
                ("peak_velocity", format!("{}.{}", velocity / 10, velocity % 10)),
                (
                    "pvl",
                    if native { "0".to_string() } else { ["0", "1", "1", "2"][dice.roll(0, 3) as usize].to_string() },
                ),
                ("echo_lvef", dice.roll(40, 65).to_string()),
            ]
        };
        let kccq = |dice: &mut Dice, on: chrono::NaiveDate, base: i64| {
            vec![
                ("kccq_date", ymd(on)),
                ("kccq_physical", dice.roll(base, base + 20).min(100).to_string()),
                ("kccq_symptoms", dice.roll(base, base + 20).min(100).to_string()),
                ("kccq_qol", dice.roll(base, base + 20).min(100).to_string()),
                ("kccq_social", dice.roll(base, base + 20).min(100).to_string()),
            ]
        };
        edc::save_for_participant(
            store,
            &by,
            p.id,
            form("SCR", "echocardiogram", 1, echo(&mut dice, screened, true), 2),
        )
        .await?;
        edc::save_for_participant(store, &by, p.id, form("SCR", "kccq", 1, kccq(&mut dice, screened, 35), 2)).await?;
        let Some(implant) = p.enrolled_on else { continue };
        let success = dice.roll(0, 9) > 0;
        let mut procedure = vec![
            ("proc_date", ymd(implant)),
            ("access", if dice.roll(0, 9) > 0 { "1" } else { "2" }.to_string()),
            ("valve_size", ["23", "26", "26", "29"][dice.roll(0, 3) as usize].to_string()),
            ("predilation", if dice.roll(0, 2) == 0 { "1" } else { "0" }.to_string()),
            ("proc_minutes", dice.roll(48, 95).to_string()),
            ("success", if success { "1" } else { "0" }.to_string()),
        ];
        if !success {
            procedure.push((
                "failure_reason",
                "Moderate paravalvular leak after deployment; post-dilated with partial improvement.".to_string(),
            ));
        }
        let proc_form = edc::save_for_participant(store, &by, p.id, form("PROC", "procedure", 1, procedure, 2)).await?;
        for (event, offset, with_kccq) in [("DIS", 1, false), ("D30", 30, true), ("M6", 180, false), ("Y1", 365, true)]
        {
            let on = implant + chrono::Duration::days(offset);
            if on > today {
                break;
            }
            edc::save_for_participant(
                store,
                &by,
                p.id,
                form(event, "echocardiogram", 1, echo(&mut dice, on, false), 2),
            )
            .await?;
            if with_kccq {
                edc::save_for_participant(store, &by, p.id, form(event, "kccq", 1, kccq(&mut dice, on, 60), 1)).await?;
            }
        }
        if !signed && site == "BOS" {
            signed = true;
            review(store, monitor, investigator, proc_form.form.record_id, "PROC").await?;
        }
    }
    Ok(())
}
