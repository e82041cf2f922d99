//! Device field support: products with their UDI device identifier (GS1 GTIN-14 or HIBCC),
//! the installed base at accounts, facility credentials of clinical specialists, case
//! coverage with its overlap rule, support tickets, complaints (ISO 13485 8.2.2, 21 CFR
//! 820.198) with the medical device reporting clock (21 CFR 803), in-service training with
//! competency sign-offs and certificates, and product feedback.
//!
//! Everything here is pure: the store checks input with these types and applies the rules.

use crate::medical::{long_text, optional_text, vocabulary};
use crate::{Checks, Invalid, required_text};
use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

pub use crate::medical::label_list;

// ---------------------------------------------------------------- UDI device identifiers

/// Who issued a device identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UdiIssuer {
    Gs1,
    Hibcc,
}

impl UdiIssuer {
    pub fn as_str(self) -> &'static str {
        match self {
            UdiIssuer::Gs1 => "gs1",
            UdiIssuer::Hibcc => "hibcc",
        }
    }
}

/// The device identifier part of a UDI (the UDI-DI), as FDA's GUDID holds it: a GS1 GTIN
/// (8, 12, 13 or 14 digits, kept as the 14-digit GTIN-14, mod-10 check digit) or a HIBCC
/// primary data structure (`+`, labeler code, catalog number, unit of measure, mod-43 check
/// character). ICCBBA (ISBT 128) identifiers are not accepted: their structure depends on the
/// product code tables and is not checked here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UdiDi {
    pub issuer: UdiIssuer,
    pub value: String,
}

const HIBC_CHARS: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%";

impl UdiDi {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim();
        if v.is_empty() {
            return Err(Invalid::one("udi_di", "is required"));
        }
        if v.starts_with('=') || v.starts_with("&") {
            return Err(Invalid::one(
                "udi_di",
                "ICCBBA (ISBT 128) identifiers are not accepted: give the GS1 GTIN or the HIBCC identifier",
            ));
        }
        if let Some(rest) = v.strip_prefix('+') {
            return hibcc(rest).map(|value| UdiDi { issuer: UdiIssuer::Hibcc, value });
        }
        let v = v.strip_prefix("(01)").unwrap_or(v);
        let digits: String = v.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) || ![8, 12, 13, 14].contains(&digits.len()) {
            return Err(Invalid::one(
                "udi_di",
                "must be a GS1 GTIN of 8, 12, 13 or 14 digits, or a HIBCC identifier starting with +",
            ));
        }
        let gtin14 = format!("{digits:0>14}");
        let d: Vec<u32> = gtin14.chars().filter_map(|c| c.to_digit(10)).collect();
        let expected = gtin_check_digit(&d[..13]);
        if d[13] != expected {
            return Err(Invalid::one(
                "udi_di",
                format!("is not a valid GS1 GTIN: the check digit should be {expected}, not {}", d[13]),
            ));
        }
        Ok(UdiDi { issuer: UdiIssuer::Gs1, value: gtin14 })
    }
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// The GS1 mod-10 check digit of the digits before it: weights 3 and 1 alternate from the
/// rightmost digit, which weighs 3.
pub fn gtin_check_digit(body: &[u32]) -> u32 {
    let sum: u32 = body.iter().rev().enumerate().map(|(i, &d)| if i % 2 == 0 { d * 3 } else { d }).sum();
    (10 - sum % 10) % 10
}

/// The HIBCC mod-43 check character of a data structure (flag character included).
pub fn hibc_check_char(data: &str) -> Option<char> {
    let mut sum = 0usize;
    for ch in data.chars() {
        sum += HIBC_CHARS.find(ch)?;
    }
    HIBC_CHARS.chars().nth(sum % 43)
}

fn hibcc(rest: &str) -> Result<String, Invalid> {
    let v = rest.to_uppercase();
    let bad = |m: &str| Invalid::one("udi_di", format!("is not a valid HIBCC identifier: {m}"));
    // Labeler code (4), catalog number (1 to 18), unit of measure (1), check character (1).
    if v.len() < 7 || v.len() > 24 {
        return Err(bad(
            "expected + then a 4-character labeler code, a catalog number, a unit of measure digit and a check character",
        ));
    }
    let chars: Vec<char> = v.chars().collect();
    if !chars[0].is_ascii_uppercase() || !chars[..chars.len() - 1].iter().all(|c| c.is_ascii_alphanumeric()) {
        return Err(bad("the labeler code starts with a letter and the identifier holds letters and digits only"));
    }
    if !chars[chars.len() - 2].is_ascii_digit() {
        return Err(bad("the unit of measure (before the check character) must be a digit"));
    }
    let data = format!("+{}", &v[..v.len() - 1]);
    let expected = hibc_check_char(&data).ok_or_else(|| bad("unexpected character"))?;
    if chars[chars.len() - 1] != expected {
        return Err(bad(&format!("the check character should be {expected}")));
    }
    Ok(format!("+{v}"))
}

// ---------------------------------------------------------------- products and the installed base

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProductInput {
    pub name: String,
    pub model: String,
    pub software_version: String,
    pub udi_di: String,
    /// How long an in-service training certificate on this product lasts, in months.
    pub certificate_months: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedProduct {
    pub name: String,
    pub model: String,
    pub software_version: String,
    pub udi_di: UdiDi,
    pub certificate_months: i64,
}

/// Months a training certificate lasts when the product says nothing.
pub const DEFAULT_CERTIFICATE_MONTHS: i64 = 12;

pub fn certificate_months(field: &str, m: i64) -> Result<i64, Invalid> {
    if (1..=60).contains(&m) { Ok(m) } else { Err(Invalid::one(field, "must be between 1 and 60 months")) }
}

impl ProductInput {
    pub fn check(&self) -> Result<CheckedProduct, Invalid> {
        let mut c = Checks::new();
        let name = c.take("name", required_text("name", &self.name, 200));
        let model = c.take("model", required_text("model", &self.model, 100));
        let software_version =
            c.take("software_version", optional_text("software_version", &self.software_version, 60));
        let udi = c.take("udi_di", UdiDi::parse(&self.udi_di));
        let months = c.take(
            "certificate_months",
            certificate_months("certificate_months", self.certificate_months.unwrap_or(DEFAULT_CERTIFICATE_MONTHS)),
        );
        c.finish()?;
        Ok(CheckedProduct {
            name: name.unwrap_or_default(),
            model: model.unwrap_or_default(),
            software_version: software_version.unwrap_or_default(),
            udi_di: udi.unwrap_or(UdiDi { issuer: UdiIssuer::Gs1, value: String::new() }),
            certificate_months: months.unwrap_or(DEFAULT_CERTIFICATE_MONTHS),
        })
    }
}

vocabulary!(
    /// Where an installed unit stands.
    InstallStatus, "status", [
        Active = "active": "In use",
        Loaner = "loaner": "Loaner",
        Service = "service": "Out for service",
        Decommissioned = "decommissioned": "Decommissioned",
    ]
);

/// A serial or lot number: letters, digits and `-./`, up to 40 characters.
pub fn serial(field: &str, raw: &str) -> Result<String, Invalid> {
    let v = required_text(field, raw, 40)?;
    if !v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/')) {
        return Err(Invalid::one(field, "may hold letters, digits and - . / only"));
    }
    Ok(v.to_uppercase())
}

#[derive(Debug, Clone, Deserialize)]
pub struct InstallInput {
    pub institution_id: uuid::Uuid,
    pub department: String,
    pub product_id: uuid::Uuid,
    pub serial: String,
    pub installed_on: Option<NaiveDate>,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedInstall {
    pub department: String,
    pub serial: String,
    pub installed_on: NaiveDate,
    pub status: InstallStatus,
}

impl InstallInput {
    pub fn check(&self, today: NaiveDate) -> Result<CheckedInstall, Invalid> {
        let mut c = Checks::new();
        let department = c.take("department", optional_text("department", &self.department, 120));
        let serial = c.take("serial", serial("serial", &self.serial));
        let status =
            c.take("status", InstallStatus::parse(if self.status.trim().is_empty() { "active" } else { &self.status }));
        match self.installed_on {
            None => c.push("installed_on", "is required"),
            Some(d) if d > today => c.push("installed_on", "must not be in the future"),
            Some(_) => {}
        }
        c.finish()?;
        Ok(CheckedInstall {
            department: department.unwrap_or_default(),
            serial: serial.unwrap_or_default(),
            installed_on: self.installed_on.unwrap_or(today),
            status: status.unwrap_or(InstallStatus::Active),
        })
    }
}

// ---------------------------------------------------------------- facility credentials

/// A document a facility asks for (immunization record, background check), and whether the
/// vendor credentialing office has it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredDocument {
    pub name: String,
    pub received: bool,
}

/// Days before a credential expires that its renewal task falls due.
pub const RENEWAL_LEAD_DAYS: i64 = 30;

#[derive(Debug, Clone, Deserialize)]
pub struct CredentialInput {
    pub user_id: uuid::Uuid,
    pub institution_id: uuid::Uuid,
    pub name: String,
    pub documents: Vec<RequiredDocument>,
    pub issued_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedCredential {
    pub name: String,
    pub documents: Vec<RequiredDocument>,
    pub issued_on: NaiveDate,
    pub expires_on: NaiveDate,
}

impl CredentialInput {
    pub fn check(&self) -> Result<CheckedCredential, Invalid> {
        let mut c = Checks::new();
        let name = c.take("name", required_text("name", &self.name, 200));
        let mut docs = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, d) in self.documents.iter().enumerate() {
            let f = format!("documents[{}].name", i + 1);
            if let Some(n) = c.take(&f, required_text(&f, &d.name, 200)) {
                if !seen.insert(n.to_lowercase()) {
                    c.push(&f, format!("{n} is listed twice"));
                }
                docs.push(RequiredDocument { name: n, received: d.received });
            }
        }
        if self.documents.len() > 30 {
            c.push("documents", "at most 30 documents");
        }
        match (self.issued_on, self.expires_on) {
            (None, _) => c.push("issued_on", "is required"),
            (_, None) => c.push("expires_on", "is required"),
            (Some(i), Some(e)) if e <= i => c.push("expires_on", "must be after the issue date"),
            (Some(i), Some(e)) if (e - i).num_days() > 366 * 5 => {
                c.push("expires_on", "a credential lasts at most five years")
            }
            _ => {}
        }
        c.finish()?;
        Ok(CheckedCredential {
            name: name.unwrap_or_default(),
            documents: docs,
            issued_on: self.issued_on.unwrap_or_default(),
            expires_on: self.expires_on.unwrap_or_default(),
        })
    }
}

/// When the renewal of a credential expiring on `expires_on` is due.
pub fn renewal_due(expires_on: NaiveDate) -> NaiveDate {
    expires_on - Duration::days(RENEWAL_LEAD_DAYS)
}

/// Why a specialist may not cover a case at a facility on a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialProblem {
    Missing,
    /// The latest credential there expired (or is not yet issued) on that day.
    Expired {
        expires_on: NaiveDate,
    },
    NotYetIssued {
        issued_on: NaiveDate,
    },
    DocumentsMissing {
        documents: Vec<String>,
    },
}

/// Checks a specialist's credentials at one facility (issue date, expiry date, documents) for
/// a procedure day: one credential valid that day, with every document received, is enough.
pub fn credential_covers(
    credentials: &[(NaiveDate, NaiveDate, Vec<RequiredDocument>)],
    on: NaiveDate,
) -> Result<(), CredentialProblem> {
    if credentials.is_empty() {
        return Err(CredentialProblem::Missing);
    }
    let mut problem = None;
    for (issued, expires, docs) in credentials {
        if on > *expires {
            problem.get_or_insert(CredentialProblem::Expired { expires_on: *expires });
            continue;
        }
        if on < *issued {
            problem = Some(CredentialProblem::NotYetIssued { issued_on: *issued });
            continue;
        }
        let missing: Vec<String> = docs.iter().filter(|d| !d.received).map(|d| d.name.clone()).collect();
        if !missing.is_empty() {
            problem = Some(CredentialProblem::DocumentsMissing { documents: missing });
            continue;
        }
        return Ok(());
    }
    // The latest expiry is the one worth naming.
    if let Some(latest) = credentials.iter().map(|c| c.1).max()
        && matches!(problem, Some(CredentialProblem::Expired { .. }) | None)
    {
        return Err(CredentialProblem::Expired { expires_on: latest });
    }
    Err(problem.unwrap_or(CredentialProblem::Missing))
}

// ---------------------------------------------------------------- case coverage

vocabulary!(
    /// Where a case coverage request stands.
    CaseStatus, "status", [
        Requested = "requested": "Requested",
        Confirmed = "confirmed": "Confirmed",
        Covered = "covered": "Covered",
        Cancelled = "cancelled": "Cancelled",
    ]
);

impl CaseStatus {
    /// Requested → confirmed → covered; a case not yet covered can be cancelled.
    pub fn next(self) -> &'static [CaseStatus] {
        use CaseStatus::*;
        match self {
            Requested => &[Confirmed, Cancelled],
            Confirmed => &[Covered, Cancelled],
            Covered | Cancelled => &[],
        }
    }
    pub fn transition(self, to: CaseStatus) -> Result<CaseStatus, Invalid> {
        if self.next().contains(&to) {
            return Ok(to);
        }
        let why = match (self, to) {
            (CaseStatus::Covered | CaseStatus::Cancelled, _) => {
                format!("the case is {} and no longer changes", self.label().to_lowercase())
            }
            (CaseStatus::Requested, CaseStatus::Covered) => "confirm the case before recording it covered".to_string(),
            (from, to) if from == to => format!("the case is already {}", from.label().to_lowercase()),
            (from, to) => format!("a case cannot go from {} to {}", from.label(), to.label()),
        };
        Err(Invalid::one("status", why))
    }
}

/// The longest procedure a case may announce, in minutes.
pub const MAX_CASE_MINUTES: i64 = 16 * 60;
/// Minutes kept free between two cases of one specialist unless the organization says otherwise.
pub const DEFAULT_TRAVEL_BUFFER_MINUTES: i64 = 60;

pub fn travel_buffer(m: i64) -> Result<i64, Invalid> {
    if (0..=720).contains(&m) {
        Ok(m)
    } else {
        Err(Invalid::one("case_travel_buffer_minutes", "must be between 0 and 720 minutes"))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CaseInput {
    pub institution_id: uuid::Uuid,
    pub department: String,
    pub surgeon_hcp_id: Option<uuid::Uuid>,
    pub procedure_type: String,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub product_ids: Vec<uuid::Uuid>,
    pub specialist_user_id: Option<uuid::Uuid>,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedCase {
    pub department: String,
    pub procedure_type: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub product_ids: Vec<uuid::Uuid>,
    pub notes: String,
}

impl CaseInput {
    pub fn check(&self) -> Result<CheckedCase, Invalid> {
        let mut c = Checks::new();
        let department = c.take("department", optional_text("department", &self.department, 120));
        let procedure_type = c.take("procedure_type", required_text("procedure_type", &self.procedure_type, 200));
        if !(15..=MAX_CASE_MINUTES).contains(&self.duration_minutes) {
            c.push("duration_minutes", format!("must be between 15 and {MAX_CASE_MINUTES} minutes"));
        }
        let mut seen = BTreeSet::new();
        let product_ids: Vec<uuid::Uuid> = self.product_ids.iter().copied().filter(|p| seen.insert(*p)).collect();
        if product_ids.len() > 20 {
            c.push("product_ids", "at most 20 products");
        }
        let notes = c.take("notes", long_text("notes", &self.notes, 4000));
        c.finish()?;
        let starts_at = crate::audit::truncate_micros(self.starts_at);
        Ok(CheckedCase {
            department: department.unwrap_or_default(),
            procedure_type: procedure_type.unwrap_or_default(),
            starts_at,
            ends_at: starts_at + Duration::minutes(self.duration_minutes),
            duration_minutes: self.duration_minutes,
            product_ids,
            notes: notes.unwrap_or_default(),
        })
    }
}

/// Whether two cases of one specialist are too close: they overlap once each is followed by
/// the travel buffer (the specialist must get from one to the other).
pub fn cases_conflict(
    a: (DateTime<Utc>, DateTime<Utc>),
    b: (DateTime<Utc>, DateTime<Utc>),
    buffer_minutes: i64,
) -> bool {
    let buffer = Duration::minutes(buffer_minutes);
    a.0 < b.1 + buffer && b.0 < a.1 + buffer
}

// ---------------------------------------------------------------- support tickets

vocabulary!(
    /// Where a support ticket stands.
    TicketStatus, "status", [
        Open = "open": "Open",
        Investigating = "investigating": "Investigating",
        Resolved = "resolved": "Resolved",
        Closed = "closed": "Closed",
    ]
);

impl TicketStatus {
    /// Open → investigating → resolved → closed; a resolved ticket may be reopened into
    /// investigation when the fix did not hold.
    pub fn next(self) -> &'static [TicketStatus] {
        use TicketStatus::*;
        match self {
            Open => &[Investigating, Resolved],
            Investigating => &[Resolved],
            Resolved => &[Investigating, Closed],
            Closed => &[],
        }
    }
    pub fn transition(self, to: TicketStatus) -> Result<TicketStatus, Invalid> {
        if self.next().contains(&to) {
            return Ok(to);
        }
        let why = match (self, to) {
            (TicketStatus::Closed, _) => "a closed ticket does not change".to_string(),
            (_, TicketStatus::Closed) => "only a resolved ticket can be closed".to_string(),
            (from, to) if from == to => format!("the ticket is already {}", from.label().to_lowercase()),
            (from, to) => format!("a ticket cannot go from {} to {}", from.label(), to.label()),
        };
        Err(Invalid::one("status", why))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TicketInput {
    pub institution_id: uuid::Uuid,
    pub product_id: uuid::Uuid,
    pub serial_or_lot: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedTicket {
    pub serial_or_lot: String,
    pub description: String,
}

impl TicketInput {
    pub fn check(&self) -> Result<CheckedTicket, Invalid> {
        let mut c = Checks::new();
        let serial_or_lot = c.take("serial_or_lot", serial("serial_or_lot", &self.serial_or_lot));
        let description = c.take("description", long_text("description", &self.description, 8000));
        if description.as_ref().is_some_and(String::is_empty) {
            c.push("description", "is required: what the account reported");
        }
        c.finish()?;
        Ok(CheckedTicket {
            serial_or_lot: serial_or_lot.unwrap_or_default(),
            description: description.unwrap_or_default(),
        })
    }
}

// ---------------------------------------------------------------- complaints and reporting

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ComplaintInput {
    pub device_name: String,
    pub udi: String,
    /// When the complaint reached the company.
    pub received_on: Option<NaiveDate>,
    /// When the company became aware of a possibly reportable event (day 0 of the MDR clock).
    pub aware_on: Option<NaiveDate>,
    pub complainant_name: String,
    pub complainant_contact: String,
    pub nature: String,
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedComplaint {
    pub device_name: String,
    pub udi: String,
    pub received_on: NaiveDate,
    pub aware_on: NaiveDate,
    pub complainant_name: String,
    pub complainant_contact: String,
    pub nature: String,
    pub details: String,
}

impl ComplaintInput {
    pub fn check(&self, today: NaiveDate) -> Result<CheckedComplaint, Invalid> {
        let mut c = Checks::new();
        let device_name = c.take("device_name", required_text("device_name", &self.device_name, 200));
        let udi = c.take("udi", optional_text("udi", &self.udi, 200));
        let complainant_name =
            c.take("complainant_name", required_text("complainant_name", &self.complainant_name, 200));
        let complainant_contact =
            c.take("complainant_contact", required_text("complainant_contact", &self.complainant_contact, 300));
        let nature = c.take("nature", required_text("nature", &self.nature, 300));
        let details = c.take("details", long_text("details", &self.details, 20_000));
        if details.as_ref().is_some_and(String::is_empty) {
            c.push("details", "is required: what happened, as the complainant told it");
        }
        match self.received_on {
            None => c.push("received_on", "is required"),
            Some(d) if d > today => c.push("received_on", "must not be in the future"),
            Some(_) => {}
        }
        match (self.received_on, self.aware_on) {
            (_, Some(a)) if a > today => c.push("aware_on", "must not be in the future"),
            (Some(r), Some(a)) if a < r => c.push("aware_on", "must not be before the complaint was received"),
            _ => {}
        }
        c.finish()?;
        let received_on = self.received_on.unwrap_or(today);
        Ok(CheckedComplaint {
            device_name: device_name.unwrap_or_default(),
            udi: udi.unwrap_or_default(),
            received_on,
            aware_on: self.aware_on.unwrap_or(received_on),
            complainant_name: complainant_name.unwrap_or_default(),
            complainant_contact: complainant_contact.unwrap_or_default(),
            nature: nature.unwrap_or_default(),
            details: details.unwrap_or_default(),
        })
    }
}

vocabulary!(
    /// The medical device reporting decision on a complaint (21 CFR 803.50).
    Reportability, "reportability", [
        Death = "death": "Death",
        SeriousInjury = "serious_injury": "Serious injury",
        Malfunction = "malfunction": "Malfunction likely to cause or contribute to a death or serious injury if it recurred",
        NotReportable = "not_reportable": "Not reportable",
    ]
);

/// Which clock a reportable event runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportClock {
    /// 30 calendar days from awareness (21 CFR 803.50).
    ThirtyCalendarDays,
    /// 5 work days from awareness, where remedial action is needed to prevent an
    /// unreasonable risk of substantial harm to the public health (21 CFR 803.53).
    FiveWorkDays,
}

impl ReportClock {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportClock::ThirtyCalendarDays => "30_calendar_days",
            ReportClock::FiveWorkDays => "5_work_days",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ReportClock::ThirtyCalendarDays => "30 calendar days",
            ReportClock::FiveWorkDays => "5 work days",
        }
    }
}

/// The clock a decision starts: none when not reportable.
pub fn report_clock(r: Reportability, remedial_action: bool) -> Option<ReportClock> {
    match r {
        Reportability::NotReportable => None,
        _ if remedial_action => Some(ReportClock::FiveWorkDays),
        _ => Some(ReportClock::ThirtyCalendarDays),
    }
}

/// The last day to report: 30 calendar days after awareness, or the fifth work day (Monday to
/// Friday) after it. Day 0 is the day of awareness.
pub fn report_due(aware_on: NaiveDate, clock: ReportClock) -> NaiveDate {
    match clock {
        ReportClock::ThirtyCalendarDays => aware_on + Duration::days(30),
        ReportClock::FiveWorkDays => add_work_days(aware_on, 5),
    }
}

/// The `n`th Monday-to-Friday day after `from`.
pub fn add_work_days(from: NaiveDate, n: u32) -> NaiveDate {
    let mut day = from;
    let mut left = n;
    while left > 0 {
        day = day.succ_opt().unwrap_or(day);
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    day
}

/// Days left to a due day from `today` (0 on the day itself, negative once overdue).
pub fn days_remaining(due: NaiveDate, today: NaiveDate) -> i64 {
    (due - today).num_days()
}

/// Checks a reportability decision: a rationale is always required for "not reportable",
/// and remedial action only makes sense for a reportable event.
pub fn check_decision(r: &str, remedial_action: bool, rationale: &str) -> Result<(Reportability, String), Invalid> {
    let mut c = Checks::new();
    let r = c.take("reportability", Reportability::parse(r));
    let rationale = c.take("rationale", long_text("rationale", rationale, 8000));
    if r == Some(Reportability::NotReportable) {
        if rationale.as_ref().is_some_and(String::is_empty) {
            c.push("rationale", "is required: say why the event is not reportable");
        }
        if remedial_action {
            c.push("remedial_action", "applies to a reportable event only");
        }
    }
    c.finish()?;
    Ok((r.unwrap_or(Reportability::NotReportable), rationale.unwrap_or_default()))
}

/// What a complaint must hold before it closes: an investigation, or the reason none was
/// made (820.198(b)); the reply to the complainant; and a reportability decision.
pub fn check_complaint_close(
    investigation: &str,
    no_investigation_reason: &str,
    reply: &str,
    decided: bool,
) -> Result<(), Invalid> {
    let mut c = Checks::new();
    if investigation.trim().is_empty() && no_investigation_reason.trim().is_empty() {
        c.push("investigation", "record the investigation, or the justification for not investigating, before closing");
    }
    if reply.trim().is_empty() {
        c.push("reply", "record the reply to the complainant before closing");
    }
    if !decided {
        c.push("reportability", "decide whether the event is reportable before closing");
    }
    c.finish()
}

// ---------------------------------------------------------------- in-service training

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttendeeInput {
    pub name: String,
    pub role: String,
    pub email: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TrainingInput {
    pub institution_id: uuid::Uuid,
    pub department: String,
    pub product_id: uuid::Uuid,
    pub competencies: Vec<String>,
    pub held_on: Option<NaiveDate>,
    /// Defaults to the person recording it.
    pub trainer_user_id: Option<uuid::Uuid>,
    pub attendees: Vec<AttendeeInput>,
    /// Overrides the product's certificate validity, in months.
    pub validity_months: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedTraining {
    pub department: String,
    pub competencies: Vec<String>,
    pub held_on: NaiveDate,
    pub attendees: Vec<AttendeeInput>,
    pub validity_months: Option<i64>,
}

impl TrainingInput {
    pub fn check(&self, today: NaiveDate) -> Result<CheckedTraining, Invalid> {
        let mut c = Checks::new();
        let department = c.take("department", optional_text("department", &self.department, 120));
        let competencies = c.take("competencies", label_list("competencies", &self.competencies, 40, 200));
        if competencies.as_ref().is_some_and(Vec::is_empty) {
            c.push("competencies", "list at least one competency the training covers");
        }
        match self.held_on {
            None => c.push("held_on", "is required"),
            Some(d) if d > today + Duration::days(366) => c.push("held_on", "must be within the next year"),
            Some(_) => {}
        }
        if let Some(m) = self.validity_months {
            c.take("validity_months", certificate_months("validity_months", m));
        }
        let mut attendees = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, a) in self.attendees.iter().enumerate() {
            let f = |x: &str| format!("attendees[{}].{x}", i + 1);
            let name = c.take(&f("name"), required_text(&f("name"), &a.name, 200));
            let role = c.take(&f("role"), optional_text(&f("role"), &a.role, 120));
            let email = if a.email.trim().is_empty() {
                Some(String::new())
            } else {
                c.take(&f("email"), crate::identity::Email::parse(&a.email).map(|e| e.to_string()))
            };
            if let Some(n) = &name
                && !seen.insert(n.to_lowercase())
            {
                c.push(&f("name"), format!("{n} is listed twice"));
            }
            attendees.push(AttendeeInput {
                name: name.unwrap_or_default(),
                role: role.unwrap_or_default(),
                email: email.unwrap_or_default(),
            });
        }
        if attendees.len() > 200 {
            c.push("attendees", "at most 200 attendees");
        }
        c.finish()?;
        Ok(CheckedTraining {
            department: department.unwrap_or_default(),
            competencies: competencies.unwrap_or_default(),
            held_on: self.held_on.unwrap_or(today),
            attendees,
            validity_months: self.validity_months,
        })
    }
}

/// A typed name as a signature: at least two letters.
pub fn typed_name(field: &str, name: &str) -> Result<String, Invalid> {
    let n = required_text(field, name, 200)?;
    if n.chars().filter(|c| c.is_alphabetic()).count() < 2 {
        return Err(Invalid::one(field, "type the full name"));
    }
    Ok(n)
}

/// When an attendee's certificate expires: `months` after the last sign-off of the training's
/// competencies, once every one is signed by trainer and trainee; `None` before.
pub fn certificate_expiry(
    competencies: &[String],
    signed: &[(String, DateTime<Utc>)],
    months: i64,
) -> Option<NaiveDate> {
    let mut last: Option<DateTime<Utc>> = None;
    for comp in competencies {
        let at = signed.iter().filter(|(c, _)| c == comp).map(|(_, t)| *t).max()?;
        last = Some(last.map_or(at, |l| l.max(at)));
    }
    let day = last?.date_naive();
    day.checked_add_months(Months::new(u32::try_from(months).ok()?))
}

/// Days before a certificate expires that the re-training task falls due.
pub const RETRAINING_LEAD_DAYS: i64 = 30;

// ---------------------------------------------------------------- product feedback

vocabulary!(
    /// What a piece of product feedback is about.
    FeedbackCategory, "category", [
        Usability = "usability": "Usability",
        Feature = "feature": "Feature request",
        Reliability = "reliability": "Reliability",
        Labeling = "labeling": "Labeling and instructions",
        Packaging = "packaging": "Packaging",
        Training = "training": "Training",
        Other = "other": "Other",
    ]
);

vocabulary!(
    /// Where a piece of feedback stands with product management.
    FeedbackStatus, "status", [
        New = "new": "New",
        UnderReview = "under_review": "Under review",
        Planned = "planned": "Planned",
        Declined = "declined": "Declined",
        Shipped = "shipped": "Shipped",
    ]
);

#[derive(Debug, Clone, Deserialize)]
pub struct FeedbackInput {
    pub institution_id: uuid::Uuid,
    pub product_id: uuid::Uuid,
    pub category: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedFeedback {
    pub category: FeedbackCategory,
    pub text: String,
}

impl FeedbackInput {
    pub fn check(&self) -> Result<CheckedFeedback, Invalid> {
        let mut c = Checks::new();
        let category = c.take("category", FeedbackCategory::parse(&self.category));
        let text = c.take("text", long_text("text", &self.text, 4000));
        if text.as_ref().is_some_and(String::is_empty) {
            c.push("text", "is required: what the account said, in their terms where possible");
        }
        c.finish()?;
        Ok(CheckedFeedback { category: category.unwrap_or(FeedbackCategory::Other), text: text.unwrap_or_default() })
    }
}

/// Which side of a competency sign-off signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignSide {
    Trainer,
    Trainee,
}

// ---------------------------------------------------------------- courses

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleInput {
    pub title: String,
    pub minutes: i64,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CourseInput {
    pub title: String,
    pub description: String,
    pub product_id: Option<uuid::Uuid>,
    /// Continuing-education credits a completed course earns (hours of CE, in quarters).
    pub credits: f64,
    pub modules: Vec<ModuleInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedCourse {
    pub title: String,
    pub description: String,
    pub credits: f64,
    pub modules: Vec<ModuleInput>,
}

/// Continuing-education credits: 0 to 100, in steps of a quarter.
pub fn ce_credits(v: f64) -> Result<f64, Invalid> {
    if !v.is_finite() || !(0.0..=100.0).contains(&v) {
        return Err(Invalid::one("credits", "must be between 0 and 100"));
    }
    if ((v * 4.0).round() - v * 4.0).abs() > 1e-9 {
        return Err(Invalid::one("credits", "must be in steps of 0.25"));
    }
    Ok(v)
}

impl CourseInput {
    pub fn check(&self) -> Result<CheckedCourse, Invalid> {
        let mut c = Checks::new();
        let title = c.take("title", required_text("title", &self.title, 200));
        let description = c.take("description", long_text("description", &self.description, 8000));
        let credits = c.take("credits", ce_credits(self.credits));
        let mut modules = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, m) in self.modules.iter().enumerate() {
            let f = |x: &str| format!("modules[{}].{x}", i + 1);
            let t = c.take(&f("title"), required_text(&f("title"), &m.title, 200));
            if let Some(t) = &t
                && !seen.insert(t.to_lowercase())
            {
                c.push(&f("title"), format!("{t} is listed twice"));
            }
            if !(1..=600).contains(&m.minutes) {
                c.push(&f("minutes"), "must be between 1 and 600 minutes");
            }
            modules.push(ModuleInput { title: t.unwrap_or_default(), minutes: m.minutes });
        }
        if self.modules.is_empty() {
            c.push("modules", "a course has at least one module");
        }
        if self.modules.len() > 50 {
            c.push("modules", "at most 50 modules");
        }
        c.finish()?;
        Ok(CheckedCourse {
            title: title.unwrap_or_default(),
            description: description.unwrap_or_default(),
            credits: credits.unwrap_or_default(),
            modules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, dd).unwrap()
    }

    #[test]
    fn gtin_check_digit_follows_gs1() {
        // A well-known EAN-13, kept as a GTIN-14.
        let u = UdiDi::parse("4006381333931").unwrap();
        assert_eq!(u.as_str(), "04006381333931");
        assert_eq!(u.issuer, UdiIssuer::Gs1);
        assert_eq!(UdiDi::parse("(01)04006381333931").unwrap().as_str(), "04006381333931");
        // GTIN-12 (UPC-A) and GTIN-8.
        assert!(UdiDi::parse("036000291452").is_ok());
        assert!(UdiDi::parse("96385074").is_ok());
        let e = UdiDi::parse("04006381333932").unwrap_err();
        assert!(e.0[0].message.contains("check digit should be 1"), "{e}");
        for bad in ["", "123", "0400638133393X", "040063813339310"] {
            assert!(UdiDi::parse(bad).is_err(), "{bad}");
        }
        // Every single-digit change of a valid GTIN-14 is caught.
        let body: Vec<u32> = "0088442210000".chars().filter_map(|c| c.to_digit(10)).collect();
        let valid = format!("0088442210000{}", gtin_check_digit(&body));
        assert!(UdiDi::parse(&valid).is_ok());
        for i in 0..14 {
            for dgt in 0..10u8 {
                let mut b = valid.as_bytes().to_vec();
                if b[i] == b'0' + dgt {
                    continue;
                }
                b[i] = b'0' + dgt;
                let s = String::from_utf8(b).unwrap();
                assert!(UdiDi::parse(&s).is_err(), "{s}");
            }
        }
    }

    #[test]
    fn hibcc_check_character_is_mod_43() {
        let data = "+A123BJC5D6E71";
        let check = hibc_check_char(data).unwrap();
        let id = format!("{data}{check}");
        let u = UdiDi::parse(&id).unwrap();
        assert_eq!(u.issuer, UdiIssuer::Hibcc);
        assert_eq!(u.as_str(), id);
        let wrong = if check == 'A' { 'B' } else { 'A' };
        assert!(UdiDi::parse(&format!("{data}{wrong}")).is_err());
        assert!(UdiDi::parse("+1234567").is_err(), "labeler code starts with a letter");
        assert!(UdiDi::parse("=/A9999XYZ100T0944").unwrap_err().0[0].message.contains("ICCBBA"));
    }

    #[test]
    fn thirty_day_clock_counts_calendar_days() {
        assert_eq!(report_due(d(2026, 3, 5), ReportClock::ThirtyCalendarDays), d(2026, 4, 4));
        assert_eq!(report_clock(Reportability::Death, false), Some(ReportClock::ThirtyCalendarDays));
        assert_eq!(report_clock(Reportability::Malfunction, true), Some(ReportClock::FiveWorkDays));
        assert_eq!(report_clock(Reportability::NotReportable, true), None);
    }

    #[test]
    fn five_work_day_clock_skips_weekends() {
        // 2026-03-05 is a Thursday: Fri, Mon, Tue, Wed, Thu.
        assert_eq!(d(2026, 3, 5).weekday(), Weekday::Thu);
        assert_eq!(report_due(d(2026, 3, 5), ReportClock::FiveWorkDays), d(2026, 3, 12));
        // Friday: Mon to Fri of the next week.
        assert_eq!(report_due(d(2026, 3, 6), ReportClock::FiveWorkDays), d(2026, 3, 13));
        // Saturday and Sunday count from Monday: due Friday.
        assert_eq!(report_due(d(2026, 3, 7), ReportClock::FiveWorkDays), d(2026, 3, 13));
        assert_eq!(report_due(d(2026, 3, 8), ReportClock::FiveWorkDays), d(2026, 3, 13));
        // Monday: the following Monday.
        assert_eq!(report_due(d(2026, 3, 9), ReportClock::FiveWorkDays), d(2026, 3, 16));
        // Across a month end.
        assert_eq!(report_due(d(2026, 1, 29), ReportClock::FiveWorkDays), d(2026, 2, 5));
        assert_eq!(days_remaining(d(2026, 3, 12), d(2026, 3, 10)), 2);
        assert_eq!(days_remaining(d(2026, 3, 12), d(2026, 3, 13)), -1);
    }

    #[test]
    fn decisions_and_closing_need_their_reasons() {
        assert_eq!(check_decision("not_reportable", false, "  ").unwrap_err().0[0].field, "rationale");
        assert!(check_decision("not_reportable", true, "No injury, device performed").is_err());
        assert_eq!(check_decision("death", true, "").unwrap().0, Reportability::Death);
        let e = check_complaint_close("", "", "", false).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["investigation", "reply", "reportability"]);
        assert!(check_complaint_close("", "Known failure mode, trended under CAPA-12", "Letter sent", true).is_ok());
    }

    #[test]
    fn cases_conflict_within_the_travel_buffer() {
        let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 3, 5, h, m, 0).unwrap();
        let a = (at(8, 0), at(10, 0));
        assert!(cases_conflict(a, (at(9, 0), at(11, 0)), 0));
        assert!(!cases_conflict(a, (at(10, 0), at(11, 0)), 0));
        assert!(cases_conflict(a, (at(10, 30), at(11, 0)), 60));
        assert!(!cases_conflict(a, (at(11, 0), at(12, 0)), 60));
        // Symmetric: a case ending 30 minutes before another starts.
        assert!(cases_conflict((at(6, 0), at(7, 30)), a, 60));
    }

    proptest::proptest! {
        /// The GS1 check digit catches every single-digit error, and every swap of two adjacent
        /// digits except those differing by 5 (the one transposition mod 10 with weights 3 and
        /// 1 misses).
        #[test]
        fn gtin_check_digit_catches_typos(body in 0u64..10_000_000_000_000, pos in 0usize..13, delta in 1u32..10) {
            let digits: Vec<u32> = format!("{body:013}").chars().filter_map(|c| c.to_digit(10)).collect();
            let check = gtin_check_digit(&digits);
            let text = |d: &[u32]| d.iter().map(|x| x.to_string()).collect::<String>() + &check.to_string();
            proptest::prop_assert!(UdiDi::parse(&text(&digits)).is_ok());
            let mut typo = digits.clone();
            typo[pos] = (typo[pos] + delta) % 10;
            proptest::prop_assert!(UdiDi::parse(&text(&typo)).is_err());
            if pos > 0 && digits[pos] != digits[pos - 1] && digits[pos].abs_diff(digits[pos - 1]) != 5 {
                let mut swapped = digits.clone();
                swapped.swap(pos, pos - 1);
                proptest::prop_assert!(UdiDi::parse(&text(&swapped)).is_err());
            }
        }
    }

    proptest::proptest! {
        /// Five work days from any awareness day end on a weekday, with exactly five weekdays
        /// after day 0 up to and including the due day, never more than nine calendar days on.
        #[test]
        fn five_work_days_from_any_day(offset in 0i64..20_000) {
            let aware = d(2000, 1, 1) + Duration::days(offset);
            let due = report_due(aware, ReportClock::FiveWorkDays);
            proptest::prop_assert!(!matches!(due.weekday(), Weekday::Sat | Weekday::Sun));
            let weekdays = (1..=(due - aware).num_days())
                .map(|n| aware + Duration::days(n))
                .filter(|x| !matches!(x.weekday(), Weekday::Sat | Weekday::Sun))
                .count();
            proptest::prop_assert_eq!(weekdays, 5);
            proptest::prop_assert!((due - aware).num_days() <= 9);
            proptest::prop_assert_eq!(report_due(aware, ReportClock::ThirtyCalendarDays) - aware, Duration::days(30));
        }
    }

    #[test]
    fn state_machines_are_exhaustive() {
        use CaseStatus as C;
        let allowed = [
            (C::Requested, C::Confirmed),
            (C::Requested, C::Cancelled),
            (C::Confirmed, C::Covered),
            (C::Confirmed, C::Cancelled),
        ];
        for from in C::ALL {
            for to in C::ALL {
                assert_eq!(from.transition(*to).is_ok(), allowed.contains(&(*from, *to)), "{from:?} -> {to:?}");
            }
        }
        use TicketStatus as T;
        let allowed = [
            (T::Open, T::Investigating),
            (T::Open, T::Resolved),
            (T::Investigating, T::Resolved),
            (T::Resolved, T::Investigating),
            (T::Resolved, T::Closed),
        ];
        for from in T::ALL {
            for to in T::ALL {
                assert_eq!(from.transition(*to).is_ok(), allowed.contains(&(*from, *to)), "{from:?} -> {to:?}");
            }
        }
        assert!(T::Open.transition(T::Closed).unwrap_err().0[0].message.contains("resolved"));
    }

    #[test]
    fn case_states() {
        use CaseStatus::*;
        assert!(Requested.transition(Confirmed).is_ok());
        assert!(Confirmed.transition(Covered).is_ok());
        assert!(Requested.transition(Covered).unwrap_err().0[0].message.contains("confirm"));
        assert!(Covered.transition(Cancelled).is_err());
        assert!(Cancelled.transition(Requested).is_err());
    }

    #[test]
    fn credential_coverage_names_the_problem() {
        let docs = vec![RequiredDocument { name: "Flu vaccination".into(), received: true }];
        let creds = vec![(d(2025, 1, 1), d(2026, 1, 1), docs.clone())];
        assert_eq!(credential_covers(&creds, d(2025, 6, 1)), Ok(()));
        assert_eq!(credential_covers(&creds, d(2026, 1, 1)), Ok(()));
        assert_eq!(
            credential_covers(&creds, d(2026, 1, 2)),
            Err(CredentialProblem::Expired { expires_on: d(2026, 1, 1) })
        );
        assert_eq!(credential_covers(&[], d(2026, 1, 2)), Err(CredentialProblem::Missing));
        let pending =
            vec![(d(2025, 1, 1), d(2026, 1, 1), vec![RequiredDocument { name: "TB test".into(), received: false }])];
        assert_eq!(
            credential_covers(&pending, d(2025, 6, 1)),
            Err(CredentialProblem::DocumentsMissing { documents: vec!["TB test".into()] })
        );
        assert_eq!(renewal_due(d(2026, 3, 31)), d(2026, 3, 1));
    }

    #[test]
    fn courses_need_modules_and_quarter_credits() {
        let mut c = CourseInput {
            title: "Aurora TAVR fundamentals".into(),
            credits: 1.5,
            modules: vec![ModuleInput { title: "Anatomy".into(), minutes: 30 }],
            ..Default::default()
        };
        assert_eq!(c.check().unwrap().credits, 1.5);
        c.credits = 1.3;
        assert_eq!(c.check().unwrap_err().0[0].field, "credits");
        c.credits = 1.0;
        c.modules.push(ModuleInput { title: "anatomy".into(), minutes: 0 });
        let fields: Vec<_> = c.check().unwrap_err().0.into_iter().map(|f| f.field).collect();
        assert_eq!(fields, vec!["modules[2].title", "modules[2].minutes"]);
    }

    #[test]
    fn certificate_expires_after_the_last_signoff() {
        let comps = vec!["Loading".to_string(), "Deployment".to_string()];
        let t1 = Utc.with_ymd_and_hms(2026, 1, 10, 9, 0, 0).unwrap();
        let t2 = Utc.with_ymd_and_hms(2026, 1, 31, 9, 0, 0).unwrap();
        assert_eq!(certificate_expiry(&comps, &[("Loading".into(), t1)], 12), None);
        assert_eq!(
            certificate_expiry(&comps, &[("Loading".into(), t1), ("Deployment".into(), t2)], 1),
            Some(d(2026, 2, 28))
        );
        assert!(typed_name("trainee_name", "J").is_err());
    }
}
