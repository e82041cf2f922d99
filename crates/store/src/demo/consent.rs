//! Demo consent: the forms of both studies (CARDIO-HF3 in English and Spanish, with an English
//! amendment that took effect two weeks ago so re-consents are pending), consent recorded for
//! every participant who got that far, some re-consents done, and one eConsent signed on the
//! kiosk today waiting for the coordinator's countersignature.

use crate::consent::{ConsentDocument, RecordConsent};
use crate::trials::Study;
use crate::{Acting, Result, Store};
use chrono::{Duration, NaiveDate};
use clinbridge_core::consent::{DocumentInput, EventInput, Question};
use clinbridge_core::scheduling::calendar::local_instant;
use std::collections::HashMap;
use uuid::Uuid;

/// A small valid PDF with one page of text, so the demo's documents open in any viewer.
pub(super) fn pdf(title: &str, lines: &[&str]) -> Vec<u8> {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)");
    let mut text = format!("BT /F1 16 Tf 72 740 Td ({}) Tj ET\n", esc(title));
    for (i, l) in lines.iter().enumerate() {
        text.push_str(&format!("BT /F1 11 Tf 72 {} Td ({}) Tj ET\n", 710 - 16 * i as i64, esc(l)));
    }
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!("<< /Length {} >>\nstream\n{text}endstream", text.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

fn q(text: &str, expected: bool) -> Question {
    Question { text: text.into(), expected }
}

const HF3_BODY_EN: &str = "# Why is this study being done?\n\nThis study tests whether an investigational medicine taken once a day lowers the number of hospital stays for heart failure, compared with a placebo (a tablet with no medicine in it).\n\n# What will happen if I take part?\n\nYou will come to the clinic for about ten visits over one year. At each visit we check your heart, take a blood sample and ask how you feel. Between visits a nurse will call you every four weeks.\n\nA computer decides by chance whether you get the study medicine or the placebo. Neither you nor your doctor will know which one you get.\n\n# What are the risks?\n\nThe study medicine can raise the potassium level in your blood. We check it at every visit.\n\n# Can I stop?\n\nTaking part is your choice. You can stop at any time, and your usual care will not change.";

const HF3_AMENDMENT_EN: &str = "\n\n# New information (amendment 2)\n\nSince the study began, a few participants had a high potassium level that needed treatment. We now check potassium two weeks after you start, and you should not use salt substitutes that contain potassium.";

const HF3_BODY_ES: &str = "# ¿Por qué se hace este estudio?\n\nEste estudio prueba si un medicamento en investigación, tomado una vez al día, reduce las hospitalizaciones por insuficiencia cardíaca, en comparación con un placebo.\n\n# ¿Qué pasará si participo?\n\nVendrá a la clínica unas diez veces durante un año. En cada visita revisamos su corazón, tomamos una muestra de sangre y le preguntamos cómo se siente.\n\n# ¿Puedo dejar el estudio?\n\nParticipar es su decisión. Puede dejarlo en cualquier momento y su atención habitual no cambiará.";

const AF_BODY_EN: &str = "# Why is this study being done?\n\nThis study looks at how well a new artificial aortic valve, placed through a blood vessel in the leg, works over one year.\n\n# What will happen if I take part?\n\nAfter the valve is placed you will have check-ups at discharge, 30 days, 6 months and 1 year, with an ultrasound of your heart at each.\n\n# Can I stop?\n\nYou can leave the study at any time. The valve stays in place, and your doctors will keep caring for you.";

/// The consent versions of both demo studies.
pub(super) async fn documents(store: &Store, hf3: &Study, af: &Study, today: NaiveDate) -> Result<()> {
    let system = Acting::system();
    let days = Duration::days;
    let hf3_questions = vec![
        q("Can you stop taking part in the study at any time?", true),
        q("Will you and your doctor know whether you get the study medicine or the placebo?", false),
        q("Should you tell the study team about any new medicine you start?", true),
    ];
    let hf3_es = vec![
        q("¿Puede dejar el estudio en cualquier momento?", true),
        q("¿Sabrá usted si recibe el medicamento del estudio o el placebo?", false),
    ];
    let docs = [
        (hf3, "1.0", "en", "CARDIO-HF3 informed consent", HF3_BODY_EN.to_string(), hf3_questions.clone(), 310, 300),
        (hf3, "1.0", "es", "CARDIO-HF3 consentimiento informado", HF3_BODY_ES.to_string(), hf3_es, 310, 300),
        (
            hf3,
            "2.0",
            "en",
            "CARDIO-HF3 informed consent (amendment 2)",
            format!("{HF3_BODY_EN}{HF3_AMENDMENT_EN}"),
            hf3_questions,
            21,
            14,
        ),
        (
            af,
            "1.0",
            "en",
            "AORTA-FLEX informed consent",
            AF_BODY_EN.to_string(),
            vec![
                q("Will the valve be removed if you leave the study?", false),
                q("Will you have a heart ultrasound at each follow-up visit?", true),
            ],
            490,
            480,
        ),
    ];
    for (study, version, lang, title, body, questions, approved, effective) in docs {
        let input = DocumentInput {
            version_label: version.into(),
            language: lang.into(),
            title: title.into(),
            irb_approved_on: Some(today - days(approved)),
            effective_on: Some(today - days(effective)),
            body,
            questions,
            witness_required: false,
        };
        let file = pdf(title, &[&format!("Version {version} ({lang})"), "IRB-approved document of record"]);
        crate::consent::add_document(
            store,
            &system,
            study.id,
            input,
            &format!("{}-ICF-v{version}-{lang}.pdf", study.code),
            file,
        )
        .await?;
    }
    Ok(())
}

/// The version a participant signs on a day: Spanish for some HF3 participants, English else.
fn version_for(docs: &[ConsentDocument], on: NaiveDate, spanish: bool) -> Option<&ConsentDocument> {
    let lang = if spanish { "es" } else { "en" };
    docs.iter().find(|d| d.language == lang && d.in_effect(on)).or_else(|| docs.iter().find(|d| d.in_effect(on)))
}

fn event(method: &str, n: usize, answers: Vec<Option<bool>>) -> EventInput {
    let representative = n % 9 == 4;
    EventInput {
        method: method.into(),
        signer: if representative { "representative" } else { "participant" }.into(),
        signer_name: format!(
            "{} {}",
            super::GIVEN[n % super::GIVEN.len()],
            super::FAMILY[(n * 7 + 3) % super::FAMILY.len()]
        ),
        representative_relationship: if representative { "Spouse".into() } else { String::new() },
        witness_name: String::new(),
        answers,
        copy_provided: Some(true),
        note: String::new(),
    }
}

fn expected(doc: &ConsentDocument) -> Vec<Option<bool>> {
    doc.questions().iter().map(|q| Some(q.expected)).collect()
}

/// Records a participant's initial consent on paper (some remotely), at ten in the morning on
/// the day.
#[allow(clippy::too_many_arguments)]
pub(super) async fn consent(
    store: &Store,
    by: &Acting,
    participant: Uuid,
    study_id: Uuid,
    coordinator: Uuid,
    on: NaiveDate,
    time_zone: &str,
    n: usize,
) -> Result<()> {
    let docs = crate::consent::documents(store, study_id).await?;
    let Some(doc) = version_for(&docs, on, n % 5 == 2) else { return Ok(()) };
    let tz: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::UTC);
    let ten = chrono::NaiveTime::from_hms_opt(10, (n % 6) as u32 * 10, 0).unwrap_or_default();
    let at = local_instant(tz, on, ten, "consented_at").unwrap_or_else(|_| crate::now());
    let method = if n % 4 == 1 { "remote" } else { "paper" };
    crate::consent::record(
        store,
        by,
        participant,
        RecordConsent {
            document_id: doc.id,
            consented_at: at,
            obtained_by: coordinator,
            event: event(method, n, expected(doc)),
        },
    )
    .await?;
    Ok(())
}

/// Half of the participants due to re-consent to the amendment have done so; the rest are on
/// the coordinators' work queues.
pub(super) async fn reconsent_some(store: &Store, study: &Study, coordinators: &HashMap<Uuid, Uuid>) -> Result<()> {
    let sites: Vec<Uuid> = coordinators.keys().copied().collect();
    let due = crate::consent::reconsents_due(store, study.id, &sites).await?;
    for (i, d) in due.iter().enumerate() {
        if i % 2 == 1 {
            continue;
        }
        let p = crate::participants::participant(store, d.participant_id).await?;
        let Some(&coordinator) = coordinators.get(&p.site_id) else { continue };
        let at = crate::now() - Duration::days(1 + (i as i64 % 9)) - Duration::hours(3);
        crate::consent::record(
            store,
            &Acting::user(coordinator, None),
            p.id,
            RecordConsent {
                document_id: d.current.id,
                consented_at: at,
                obtained_by: coordinator,
                event: event("paper", i, expected(&d.current)),
            },
        )
        .await?;
    }
    Ok(())
}

/// One participant in screening signed the eConsent on the clinic's tablet this morning; the
/// coordinator has yet to countersign.
pub(super) async fn kiosk_today(store: &Store, study: &Study, site: Uuid, coordinator: Uuid) -> Result<()> {
    let ps = crate::participants::participants(store, study.id, Some(site)).await?;
    let Some(p) = ps.iter().find(|p| p.status() == clinbridge_core::participants::Status::Screening) else {
        return Ok(());
    };
    let docs = crate::consent::current_documents(store, p).await?;
    let Some(doc) = docs.iter().find(|d| d.language == "en") else { return Ok(()) };
    let by = Acting::user(coordinator, None);
    let (token, _) = crate::consent::open_kiosk(store, &by, p.id, doc.id).await?;
    crate::consent::kiosk_sign(store, &token, event("electronic", 7, expected(doc))).await?;
    Ok(())
}
