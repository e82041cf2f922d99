//! Field medical affairs: healthcare professionals (NPI with its check digit) and institutions,
//! KOL tiers and engagement plans, interactions and their insights, unsolicited medical
//! information requests (state machine, SLA, the lock the requester's signature puts on the
//! question) and safety intake with its forwarding clock to pharmacovigilance.
//!
//! Everything here is pure: the store checks input with these types and applies the rules.

use crate::{Checks, Invalid, required_text};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

// ---------------------------------------------------------------- small helpers

/// Optional bounded single-line text: trimmed, empty allowed.
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    required_text(field, v, max)
}

/// Free text (notes, an answer): newlines allowed, other control characters not.
pub fn long_text(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let v = value.replace("\r\n", "\n").trim().to_string();
    if v.chars().count() > max {
        return Err(Invalid::one(field, format!("must be at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Invalid::one(field, "must not contain control characters"));
    }
    Ok(v)
}

/// A list of short labels (topics, products, therapeutic areas): each trimmed and bounded,
/// empty entries dropped, duplicates (ignoring case) removed, order kept.
pub fn label_list(field: &str, values: &[String], max_items: usize, max_len: usize) -> Result<Vec<String>, Invalid> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for v in values {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let v = required_text(field, v, max_len)?;
        if seen.insert(v.to_lowercase()) {
            out.push(v);
        }
    }
    if out.len() > max_items {
        return Err(Invalid::one(field, format!("at most {max_items} entries")));
    }
    Ok(out)
}

macro_rules! vocabulary {
    ($(#[$m:meta])* $name:ident, $field:literal, [$($variant:ident = $s:literal : $label:literal),+ $(,)?]) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }
            /// (code, label) of every value, for a form's choices.
            pub fn choices() -> Vec<(&'static str, &'static str)> {
                Self::ALL.iter().map(|x| (x.as_str(), x.label())).collect()
            }
            pub fn parse(raw: &str) -> Result<Self, Invalid> {
                let v = raw.trim();
                Self::ALL.iter().copied().find(|x| x.as_str() == v).ok_or_else(|| {
                    Invalid::one($field, format!("must be one of {}", Self::ALL.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")))
                })
            }
        }
    };
}
pub(crate) use vocabulary;

// ---------------------------------------------------------------- institutions

vocabulary!(
    /// What kind of place an institution is.
    InstitutionKind, "kind", [
        AcademicMedicalCenter = "academic_medical_center": "Academic medical center",
        Hospital = "hospital": "Hospital",
        Clinic = "clinic": "Clinic",
        SurgicalCenter = "surgical_center": "Ambulatory surgical center",
    ]
);

/// Latitude and longitude in decimal degrees (WGS 84).
pub fn coordinates(lat: Option<f64>, lon: Option<f64>) -> Result<Option<(f64, f64)>, Invalid> {
    match (lat, lon) {
        (None, None) => Ok(None),
        (Some(la), Some(lo)) => {
            let mut c = Checks::new();
            if !la.is_finite() || !(-90.0..=90.0).contains(&la) {
                c.push("latitude", "must be between -90 and 90 degrees");
            }
            if !lo.is_finite() || !(-180.0..=180.0).contains(&lo) {
                c.push("longitude", "must be between -180 and 180 degrees");
            }
            c.finish()?;
            Ok(Some((la, lo)))
        }
        (Some(_), None) => Err(Invalid::one("longitude", "is required with a latitude")),
        (None, Some(_)) => Err(Invalid::one("latitude", "is required with a longitude")),
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct InstitutionInput {
    pub name: String,
    pub kind: String,
    pub address: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub departments: Vec<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedInstitution {
    pub name: String,
    pub kind: InstitutionKind,
    pub address: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub departments: Vec<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl InstitutionInput {
    pub fn check(&self) -> Result<CheckedInstitution, Invalid> {
        let mut c = Checks::new();
        let name = c.take("name", required_text("name", &self.name, 200));
        let kind = c.take("kind", InstitutionKind::parse(&self.kind));
        let address = c.take("address", optional_text("address", &self.address, 300));
        let city = c.take("city", optional_text("city", &self.city, 100));
        let state = c.take("state", optional_text("state", &self.state, 60));
        let postal_code = c.take("postal_code", optional_text("postal_code", &self.postal_code, 20));
        let departments = c.take("departments", label_list("departments", &self.departments, 100, 120));
        let coords = c.take("", coordinates(self.latitude, self.longitude));
        c.finish()?;
        let coords = coords.flatten();
        Ok(CheckedInstitution {
            name: name.unwrap_or_default(),
            kind: kind.unwrap_or(InstitutionKind::Hospital),
            address: address.unwrap_or_default(),
            city: city.unwrap_or_default(),
            state: state.unwrap_or_default(),
            postal_code: postal_code.unwrap_or_default(),
            departments: departments.unwrap_or_default(),
            latitude: coords.map(|c| c.0),
            longitude: coords.map(|c| c.1),
        })
    }
}

// ---------------------------------------------------------------- healthcare professionals

/// A National Provider Identifier: ten digits, the last a Luhn check digit computed over the
/// prefix 80840 and the first nine digits (CMS, "NPI check digit").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Npi(String);

impl Npi {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v: String = raw.trim().chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if v.len() != 10 || !v.chars().all(|c| c.is_ascii_digit()) {
            return Err(Invalid::one("npi", "must be 10 digits"));
        }
        if !v.starts_with('1') && !v.starts_with('2') {
            return Err(Invalid::one("npi", "must start with 1 (individual) or 2 (organization)"));
        }
        let digits: Vec<u32> = v.chars().filter_map(|c| c.to_digit(10)).collect();
        let expected = npi_check_digit(&digits[..9]);
        if digits[9] != expected {
            return Err(Invalid::one("npi", "is not a valid NPI: the check digit does not match"));
        }
        Ok(Npi(v))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Luhn check digit of an NPI's first nine digits, with the 80840 prefix.
pub fn npi_check_digit(first_nine: &[u32]) -> u32 {
    let payload: Vec<u32> = [8, 0, 8, 4, 0].into_iter().chain(first_nine.iter().copied()).collect();
    // With the check digit appended, the rightmost payload digit is doubled, then every other.
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// Professional credentials as written after a name.
pub const CREDENTIALS: [&str; 18] = [
    "MD", "DO", "MBBS", "PhD", "PharmD", "RPh", "RN", "BSN", "MSN", "DNP", "NP", "APRN", "CRNA", "PA", "PA-C", "MPH",
    "MS", "FACC",
];

/// Reads credentials, matching the known ones whatever their case or dots ("M.D." is MD).
pub fn credentials(values: &[String]) -> Result<Vec<String>, Invalid> {
    let mut out: Vec<String> = Vec::new();
    for raw in values.iter().flat_map(|v| v.split(',')) {
        let key: String = raw.trim().chars().filter(|c| *c != '.').collect::<String>().to_lowercase();
        if key.is_empty() {
            continue;
        }
        let Some(known) = CREDENTIALS.iter().find(|c| c.to_lowercase() == key) else {
            return Err(Invalid::one(
                "credentials",
                format!("{} is not a known credential (use {})", raw.trim(), CREDENTIALS.join(", ")),
            ));
        };
        if !out.iter().any(|c| c == known) {
            out.push((*known).to_string());
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct HcpInput {
    pub npi: String,
    pub first_name: String,
    pub last_name: String,
    pub credentials: Vec<String>,
    pub specialty: String,
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedHcp {
    pub npi: Npi,
    pub first_name: String,
    pub last_name: String,
    pub credentials: Vec<String>,
    pub specialty: String,
    /// Lower-cased, or empty.
    pub email: String,
    pub phone: String,
}

impl HcpInput {
    pub fn check(&self) -> Result<CheckedHcp, Invalid> {
        let mut c = Checks::new();
        let npi = c.take("npi", Npi::parse(&self.npi));
        let first_name = c.take("first_name", required_text("first_name", &self.first_name, 100));
        let last_name = c.take("last_name", required_text("last_name", &self.last_name, 100));
        let credentials = c.take("credentials", credentials(&self.credentials));
        let specialty = c.take("specialty", required_text("specialty", &self.specialty, 120));
        let email = if self.email.trim().is_empty() {
            Some(String::new())
        } else {
            c.take("email", crate::identity::Email::parse(&self.email).map(|e| e.to_string()))
        };
        let phone = c.take("phone", optional_text("phone", &self.phone, 40));
        c.finish()?;
        Ok(CheckedHcp {
            npi: npi.unwrap_or(Npi(String::new())),
            first_name: first_name.unwrap_or_default(),
            last_name: last_name.unwrap_or_default(),
            credentials: credentials.unwrap_or_default(),
            specialty: specialty.unwrap_or_default(),
            email: email.unwrap_or_default(),
            phone: phone.unwrap_or_default(),
        })
    }
}

// ---------------------------------------------------------------- KOL profiles

/// How far a key opinion leader's influence reaches; tier 1 is the widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i16", into = "i16")]
pub struct Tier(i16);

impl Tier {
    pub const ALL: [Tier; 3] = [Tier(1), Tier(2), Tier(3)];
    pub fn new(n: i64) -> Result<Self, Invalid> {
        if (1..=3).contains(&n) { Ok(Tier(n as i16)) } else { Err(Invalid::one("tier", "must be 1, 2 or 3")) }
    }
    /// Reads `1`, `tier 2`, `national`, `regional`, `local`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim().to_lowercase();
        let v = v.strip_prefix("tier").map(str::trim).unwrap_or(&v);
        match v {
            "1" | "national" | "international" => Ok(Tier(1)),
            "2" | "regional" => Ok(Tier(2)),
            "3" | "local" => Ok(Tier(3)),
            _ => Err(Invalid::one("tier", "must be 1 (national), 2 (regional) or 3 (local)")),
        }
    }
    pub fn number(self) -> i16 {
        self.0
    }
    pub fn label(self) -> &'static str {
        match self.0 {
            1 => "Tier 1 — national and international",
            2 => "Tier 2 — regional",
            _ => "Tier 3 — local",
        }
    }
}

impl TryFrom<i16> for Tier {
    type Error = Invalid;
    fn try_from(n: i16) -> Result<Self, Invalid> {
        Tier::new(n.into())
    }
}

impl From<Tier> for i16 {
    fn from(t: Tier) -> i16 {
        t.0
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct KolInput {
    pub tier: String,
    pub therapeutic_areas: Vec<String>,
    pub topics: Vec<String>,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedKol {
    pub tier: Tier,
    pub therapeutic_areas: Vec<String>,
    pub topics: Vec<String>,
    pub notes: String,
}

impl KolInput {
    pub fn check(&self) -> Result<CheckedKol, Invalid> {
        let mut c = Checks::new();
        let tier = c.take("tier", Tier::parse(&self.tier));
        let therapeutic_areas =
            c.take("therapeutic_areas", label_list("therapeutic_areas", &self.therapeutic_areas, 20, 80));
        let topics = c.take("topics", label_list("topics", &self.topics, 50, 120));
        let notes = c.take("notes", long_text("notes", &self.notes, 4000));
        if therapeutic_areas.as_ref().is_some_and(|t| t.is_empty()) {
            c.push("therapeutic_areas", "name at least one therapeutic area");
        }
        c.finish()?;
        Ok(CheckedKol {
            tier: tier.unwrap_or(Tier(3)),
            therapeutic_areas: therapeutic_areas.unwrap_or_default(),
            topics: topics.unwrap_or_default(),
            notes: notes.unwrap_or_default(),
        })
    }
}

// ---------------------------------------------------------------- publications

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PublicationInput {
    pub title: String,
    pub journal: String,
    pub year: Option<i32>,
    pub pmid: String,
    pub doi: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedPublication {
    pub title: String,
    pub journal: String,
    pub year: i32,
    pub pmid: String,
    pub doi: String,
}

/// A PubMed id: one to eight digits (a `PMID:` prefix is dropped).
pub fn pmid(raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    let v = v.strip_prefix("PMID:").or_else(|| v.strip_prefix("pmid:")).unwrap_or(v).trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    if v.len() > 8 || !v.chars().all(|c| c.is_ascii_digit()) || v.starts_with('0') {
        return Err(Invalid::one("pmid", "must be a PubMed id of up to 8 digits"));
    }
    Ok(v.to_string())
}

/// A DOI `10.<registrant>/<suffix>`; a `https://doi.org/` or `doi:` prefix is dropped.
pub fn doi(raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    let v = ["https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:", "DOI:"]
        .iter()
        .find_map(|p| v.strip_prefix(p))
        .unwrap_or(v)
        .trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    let ok = v.len() <= 200
        && v.split_once('/').is_some_and(|(prefix, suffix)| {
            prefix
                .strip_prefix("10.")
                .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit() || c == '.'))
                && !suffix.is_empty()
        })
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(Invalid::one("doi", "must look like 10.1056/NEJMoa2107038"));
    }
    Ok(v.to_string())
}

impl PublicationInput {
    /// Checks a publication; `this_year` bounds the year (a paper in press may carry next year).
    pub fn check(&self, this_year: i32) -> Result<CheckedPublication, Invalid> {
        let mut c = Checks::new();
        let title = c.take("title", required_text("title", &self.title, 500));
        let journal = c.take("journal", required_text("journal", &self.journal, 200));
        let year = match self.year {
            None => {
                c.push("year", "is required");
                None
            }
            Some(y) if !(1900..=this_year + 1).contains(&y) => {
                c.push("year", format!("must be between 1900 and {}", this_year + 1));
                None
            }
            Some(y) => Some(y),
        };
        let pmid = c.take("pmid", pmid(&self.pmid));
        let doi = c.take("doi", doi(&self.doi));
        c.finish()?;
        Ok(CheckedPublication {
            title: title.unwrap_or_default(),
            journal: journal.unwrap_or_default(),
            year: year.unwrap_or_default(),
            pmid: pmid.unwrap_or_default(),
            doi: doi.unwrap_or_default(),
        })
    }
}

/// Splits CSV text into records (RFC 4180: quoted fields may hold commas, quotes doubled,
/// newlines). Blank lines are skipped.
pub fn csv_records(text: &str) -> Result<Vec<Vec<String>>, Invalid> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    let mut line = 1;
    while let Some(ch) = chars.next() {
        if quoted {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(ch),
            }
            continue;
        }
        match ch {
            '"' if field.is_empty() => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                line += 1;
                row.push(std::mem::take(&mut field));
                if !(row.len() == 1 && row[0].trim().is_empty()) {
                    rows.push(std::mem::take(&mut row));
                } else {
                    row.clear();
                }
            }
            _ => field.push(ch),
        }
    }
    if quoted {
        return Err(Invalid::one("file", format!("a quoted field is not closed (line {line})")));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        if !(row.len() == 1 && row[0].trim().is_empty()) {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Reads a publication list: a header row naming `title`, `journal`, `year` and optionally
/// `pmid` and `doi` (any order, any case), then one publication a row. Every row is checked;
/// any error refuses the whole file, each error naming its row (the header is row 1).
pub fn parse_publications_csv(text: &str, this_year: i32) -> Result<Vec<CheckedPublication>, Invalid> {
    let rows = csv_records(text)?;
    let Some((header, body)) = rows.split_first() else {
        return Err(Invalid::one("file", "is empty: expected a header row title,journal,year,pmid,doi"));
    };
    let col = |name: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(name));
    let (Some(ti), Some(ji), Some(yi)) = (col("title"), col("journal"), col("year")) else {
        return Err(Invalid::one("file", "the header must name the columns title, journal and year"));
    };
    let (pi, di) = (col("pmid"), col("doi"));
    if body.is_empty() {
        return Err(Invalid::one("file", "has no publications below the header"));
    }
    if body.len() > 2000 {
        return Err(Invalid::one("file", "at most 2000 publications in one file"));
    }
    let cell = |r: &Vec<String>, i: Option<usize>| i.and_then(|i| r.get(i)).cloned().unwrap_or_default();
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (n, r) in body.iter().enumerate() {
        let row = n + 2;
        let year_text = cell(r, Some(yi));
        let year = year_text.trim().parse::<i32>().ok();
        let input = PublicationInput {
            title: cell(r, Some(ti)),
            journal: cell(r, Some(ji)),
            year,
            pmid: cell(r, pi),
            doi: cell(r, di),
        };
        match input.check(this_year) {
            Ok(p) => out.push(p),
            Err(Invalid(errs)) => {
                for e in errs {
                    let msg = if e.field == "year" && year.is_none() && !year_text.trim().is_empty() {
                        format!("{:?} is not a year", year_text.trim())
                    } else {
                        e.message
                    };
                    errors.push(crate::FieldError::new(format!("row {row}: {}", e.field), msg));
                }
            }
        }
    }
    if errors.is_empty() { Ok(out) } else { Err(Invalid(errors)) }
}

// ---------------------------------------------------------------- engagement plans

/// A planning period: a year (`2026`), a half (`2026-H2`) or a quarter (`2026-Q3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlanPeriod(String);

impl PlanPeriod {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim().to_uppercase();
        let bad = || Invalid::one("period", "must be a year, a half or a quarter: 2026, 2026-H2, 2026-Q3");
        let (year, part) = match v.split_once('-') {
            Some((y, p)) => (y, Some(p)),
            None => (v.as_str(), None),
        };
        let y: i32 = year.parse().map_err(|_| bad())?;
        if !(2000..=2100).contains(&y) || year.len() != 4 {
            return Err(bad());
        }
        match part {
            None | Some("H1" | "H2" | "Q1" | "Q2" | "Q3" | "Q4") => Ok(PlanPeriod(v)),
            _ => Err(bad()),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// First and last day of the period.
    pub fn bounds(&self) -> (NaiveDate, NaiveDate) {
        let (y, part) = match self.0.split_once('-') {
            Some((y, p)) => (y.parse().unwrap_or(2000), Some(p)),
            None => (self.0.parse().unwrap_or(2000), None),
        };
        let (m1, m2) = match part {
            Some("H1") => (1, 6),
            Some("H2") => (7, 12),
            Some("Q1") => (1, 3),
            Some("Q2") => (4, 6),
            Some("Q3") => (7, 9),
            Some("Q4") => (10, 12),
            _ => (1, 12),
        };
        let start = NaiveDate::from_ymd_opt(y, m1, 1).unwrap_or_default();
        let end = last_day_of_month(y, m2);
        (start, end)
    }
}

fn last_day_of_month(y: i32, m: u32) -> NaiveDate {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1).and_then(|d| d.pred_opt()).unwrap_or_default()
}

vocabulary!(
    /// Where an engagement objective stands.
    ObjectiveStatus, "status", [
        NotStarted = "not_started": "Not started",
        InProgress = "in_progress": "In progress",
        Achieved = "achieved": "Achieved",
        Deferred = "deferred": "Deferred",
    ]
);

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ObjectiveInput {
    pub text: String,
    /// How many times (meetings, presentations) the objective calls for, if it is countable.
    pub target_count: Option<i64>,
    pub done_count: i64,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedObjective {
    pub text: String,
    pub target_count: Option<i64>,
    pub done_count: i64,
    pub status: ObjectiveStatus,
}

impl ObjectiveInput {
    pub fn check(&self, n: usize) -> Result<CheckedObjective, Invalid> {
        let f = |name: &str| format!("objectives[{n}].{name}");
        let mut c = Checks::new();
        let text = c.take(&f("text"), required_text(&f("text"), &self.text, 500));
        if let Some(t) = self.target_count
            && !(1..=1000).contains(&t)
        {
            c.push(&f("target_count"), "must be between 1 and 1000");
        }
        if !(0..=1000).contains(&self.done_count) {
            c.push(&f("done_count"), "must be between 0 and 1000");
        }
        let status = if self.status.trim().is_empty() {
            Some(objective_status_from_counts(self.target_count, self.done_count))
        } else {
            c.take(&f("status"), ObjectiveStatus::parse(&self.status))
        };
        c.finish()?;
        Ok(CheckedObjective {
            text: text.unwrap_or_default(),
            target_count: self.target_count,
            done_count: self.done_count,
            status: status.unwrap_or(ObjectiveStatus::NotStarted),
        })
    }
}

/// The status a countable objective has when none is set: achieved once the target is met.
pub fn objective_status_from_counts(target: Option<i64>, done: i64) -> ObjectiveStatus {
    match target {
        Some(t) if done >= t => ObjectiveStatus::Achieved,
        _ if done > 0 => ObjectiveStatus::InProgress,
        _ => ObjectiveStatus::NotStarted,
    }
}

// ---------------------------------------------------------------- interactions

vocabulary!(
    /// How an interaction took place.
    Channel, "channel", [
        InPerson = "in_person": "In person",
        Phone = "phone": "Phone",
        Video = "video": "Video call",
        Email = "email": "E-mail",
        Congress = "congress": "At a congress",
    ]
);

/// A document handed over or shown: its name and the version (approval code or date).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Material {
    pub name: String,
    pub version: String,
}

pub fn materials(field: &str, values: &[Material]) -> Result<Vec<Material>, Invalid> {
    if values.len() > 50 {
        return Err(Invalid::one(field, "at most 50 documents"));
    }
    let mut out = Vec::new();
    for (i, m) in values.iter().enumerate() {
        if m.name.trim().is_empty() && m.version.trim().is_empty() {
            continue;
        }
        let name = required_text(field, &m.name, 200)
            .map_err(|e| Invalid::one(field, format!("document {}: the name {}", i + 1, e.0[0].message)))?;
        let version = required_text(field, &m.version, 60).map_err(|_| {
            Invalid::one(field, format!("document {}: give the version shared (approval code or date)", i + 1))
        })?;
        out.push(Material { name, version });
    }
    Ok(out)
}

/// A follow-up promised during an interaction; it becomes a task on someone's queue.
#[derive(Debug, Clone, Deserialize)]
pub struct FollowUpInput {
    pub title: String,
    pub due_at: DateTime<Utc>,
    /// Defaults to the MSL who owns the interaction.
    pub assignee: Option<uuid::Uuid>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InteractionInput {
    pub occurred_at: DateTime<Utc>,
    pub channel: String,
    pub hcp_ids: Vec<uuid::Uuid>,
    /// Colleagues present besides the MSL who records it.
    pub colleague_ids: Vec<uuid::Uuid>,
    pub topics: Vec<String>,
    pub products: Vec<String>,
    pub materials: Vec<Material>,
    pub notes: String,
    pub follow_ups: Vec<FollowUpInput>,
    /// The congress or event where it happened, if any.
    pub event_id: Option<uuid::Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckedInteraction {
    pub occurred_at: DateTime<Utc>,
    pub channel: Channel,
    pub hcp_ids: Vec<uuid::Uuid>,
    pub colleague_ids: Vec<uuid::Uuid>,
    pub topics: Vec<String>,
    pub products: Vec<String>,
    pub materials: Vec<Material>,
    pub notes: String,
}

fn unique_ids(ids: &[uuid::Uuid]) -> Vec<uuid::Uuid> {
    let mut seen = BTreeSet::new();
    ids.iter().copied().filter(|i| seen.insert(*i)).collect()
}

impl InteractionInput {
    /// Checks an interaction recorded at `now`: it happened (not more than an hour ahead, to
    /// allow for clocks), at least one healthcare professional was there.
    pub fn check(&self, now: DateTime<Utc>) -> Result<CheckedInteraction, Invalid> {
        let mut c = Checks::new();
        if self.occurred_at > now + Duration::hours(1) {
            c.push("occurred_at", "must not be in the future: record an interaction once it took place");
        }
        if self.occurred_at < now - Duration::days(366 * 3) {
            c.push("occurred_at", "must be within the last three years");
        }
        let channel = c.take("channel", Channel::parse(&self.channel));
        let hcp_ids = unique_ids(&self.hcp_ids);
        if hcp_ids.is_empty() {
            c.push("hcp_ids", "name at least one healthcare professional who took part");
        }
        if hcp_ids.len() > 100 {
            c.push("hcp_ids", "at most 100 healthcare professionals");
        }
        let colleague_ids = unique_ids(&self.colleague_ids);
        if colleague_ids.len() > 20 {
            c.push("colleague_ids", "at most 20 colleagues");
        }
        let topics = c.take("topics", label_list("topics", &self.topics, 30, 120));
        if topics.as_ref().is_some_and(Vec::is_empty) {
            c.push("topics", "name at least one topic discussed");
        }
        let products = c.take("products", label_list("products", &self.products, 20, 80));
        let materials = c.take("materials", materials("materials", &self.materials));
        let notes = c.take("notes", long_text("notes", &self.notes, 20_000));
        for (i, f) in self.follow_ups.iter().enumerate() {
            check_follow_up(&mut c, i + 1, f, self.occurred_at);
        }
        c.finish()?;
        Ok(CheckedInteraction {
            occurred_at: crate::audit::truncate_micros(self.occurred_at),
            channel: channel.unwrap_or(Channel::InPerson),
            hcp_ids,
            colleague_ids,
            topics: topics.unwrap_or_default(),
            products: products.unwrap_or_default(),
            materials: materials.unwrap_or_default(),
            notes: notes.unwrap_or_default(),
        })
    }
}

fn check_follow_up(c: &mut Checks, n: usize, f: &FollowUpInput, after: DateTime<Utc>) {
    let field = format!("follow_ups[{n}]");
    if let Err(e) = required_text("title", &f.title, 200) {
        c.push(&format!("{field}.title"), e.0[0].message.clone());
    }
    if f.due_at < after {
        c.push(&format!("{field}.due_at"), "must be after the interaction");
    }
}

/// Checks one follow-up added later to an interaction that took place at `after`.
pub fn follow_up(f: &FollowUpInput, after: DateTime<Utc>) -> Result<String, Invalid> {
    let mut c = Checks::new();
    check_follow_up(&mut c, 1, f, after);
    c.finish()?;
    required_text("title", &f.title, 200)
}

// ---------------------------------------------------------------- insights

vocabulary!(
    /// What an insight is about, as the insight board groups them.
    InsightCategory, "category", [
        UnmetNeed = "unmet_need": "Unmet need",
        TreatmentPractice = "treatment_practice": "Treatment practice",
        Competitive = "competitive": "Competitive landscape",
        SafetyPerception = "safety_perception": "Safety perception",
        TrialDesign = "trial_design": "Trial design",
        Access = "access": "Access and reimbursement",
        Other = "other": "Other",
    ]
);

/// Tags as the board counts them: lower case, letters, digits, spaces and dashes, at most ten.
pub fn tags(values: &[String]) -> Result<Vec<String>, Invalid> {
    let mut out: Vec<String> = Vec::new();
    for raw in values.iter().flat_map(|v| v.split(',')) {
        let t = raw.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        let t = t.trim_start_matches('#').to_string();
        if t.is_empty() {
            continue;
        }
        if t.chars().count() > 40 {
            return Err(Invalid::one("tags", format!("{t:?} is longer than 40 characters")));
        }
        if !t.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-') {
            return Err(Invalid::one("tags", format!("{t:?} may hold only letters, digits, spaces and dashes")));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > 10 {
        return Err(Invalid::one("tags", "at most 10 tags"));
    }
    Ok(out)
}

/// Where an insight was heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum InsightSource {
    Interaction(uuid::Uuid),
    Event(uuid::Uuid),
}

#[derive(Debug, Clone, Deserialize)]
pub struct InsightInput {
    pub source: InsightSource,
    pub category: String,
    pub product: String,
    pub therapeutic_area: String,
    pub tags: Vec<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedInsight {
    pub source: InsightSource,
    pub category: InsightCategory,
    pub product: String,
    pub therapeutic_area: String,
    pub tags: Vec<String>,
    pub text: String,
}

impl InsightInput {
    pub fn check(&self) -> Result<CheckedInsight, Invalid> {
        let mut c = Checks::new();
        let category = c.take("category", InsightCategory::parse(&self.category));
        let product = c.take("product", optional_text("product", &self.product, 80));
        let therapeutic_area =
            c.take("therapeutic_area", optional_text("therapeutic_area", &self.therapeutic_area, 80));
        let tags = c.take("tags", tags(&self.tags));
        let text = c.take("text", long_text("text", &self.text, 4000));
        if text.as_ref().is_some_and(String::is_empty) {
            c.push("text", "is required: what was heard, in the HCP's own terms where possible");
        }
        c.finish()?;
        Ok(CheckedInsight {
            source: self.source,
            category: category.unwrap_or(InsightCategory::Other),
            product: product.unwrap_or_default(),
            therapeutic_area: therapeutic_area.unwrap_or_default(),
            tags: tags.unwrap_or_default(),
            text: text.unwrap_or_default(),
        })
    }
}

/// How the insight board buckets time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Month,
    Quarter,
}

impl Granularity {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw.trim() {
            "" | "month" => Ok(Granularity::Month),
            "quarter" => Ok(Granularity::Quarter),
            _ => Err(Invalid::one("granularity", "must be month or quarter")),
        }
    }
    /// The period a day falls in: `2026-03` or `2026-Q1`.
    pub fn key(self, day: NaiveDate) -> String {
        match self {
            Granularity::Month => format!("{:04}-{:02}", day.year(), day.month()),
            Granularity::Quarter => format!("{:04}-Q{}", day.year(), (day.month() - 1) / 3 + 1),
        }
    }
    /// Every period from the one holding `from` to the one holding `to`, in order.
    pub fn periods(self, from: NaiveDate, to: NaiveDate) -> Vec<String> {
        let mut out = Vec::new();
        if to < from {
            return out;
        }
        let step = match self {
            Granularity::Month => 1,
            Granularity::Quarter => 3,
        };
        let start_month = match self {
            Granularity::Month => from.month(),
            Granularity::Quarter => (from.month() - 1) / 3 * 3 + 1,
        };
        let (mut y, mut m) = (from.year(), start_month);
        while let Some(d) = NaiveDate::from_ymd_opt(y, m, 1) {
            if d > to || out.len() > 1200 {
                break;
            }
            out.push(self.key(d));
            m += step;
            if m > 12 {
                m -= 12;
                y += 1;
            }
        }
        out
    }
    /// First and last day of a period key made by [`Granularity::key`].
    pub fn bounds(self, key: &str) -> Result<(NaiveDate, NaiveDate), Invalid> {
        let bad = || Invalid::one("period", "must be a month (2026-03) or a quarter (2026-Q1)");
        let (y, rest) = key.trim().split_once('-').ok_or_else(bad)?;
        let y: i32 = y.parse().map_err(|_| bad())?;
        let (m1, m2) = match self {
            Granularity::Month => {
                let m: u32 = rest.parse().map_err(|_| bad())?;
                (m, m)
            }
            Granularity::Quarter => {
                let q: u32 = rest.strip_prefix('Q').and_then(|q| q.parse().ok()).ok_or_else(bad)?;
                if !(1..=4).contains(&q) {
                    return Err(bad());
                }
                (q * 3 - 2, q * 3)
            }
        };
        let start = NaiveDate::from_ymd_opt(y, m1, 1).ok_or_else(bad)?;
        if !(1..=12).contains(&m2) {
            return Err(bad());
        }
        Ok((start, last_day_of_month(y, m2)))
    }
}

// ---------------------------------------------------------------- medical information requests

vocabulary!(
    /// How fast a request must be answered.
    Urgency, "urgency", [
        Routine = "routine": "Routine",
        Urgent = "urgent": "Urgent (patient-specific, time-critical)",
    ]
);

/// Business days (Monday to Friday, in the handling team's time zone) to answer a routine
/// request, counted from the day after receipt.
pub const ROUTINE_BUSINESS_DAYS: u32 = 10;
/// Hours to answer an urgent request, counted from receipt, weekends included.
pub const URGENT_HOURS: i64 = 24;

/// When a request must be answered: urgent ones within [`URGENT_HOURS`], routine ones by the
/// same time of day [`ROUTINE_BUSINESS_DAYS`] business days after receipt, in `tz`.
pub fn sla_due(urgency: Urgency, received_at: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    match urgency {
        Urgency::Urgent => received_at + Duration::hours(URGENT_HOURS),
        Urgency::Routine => {
            let local = received_at.with_timezone(&tz);
            let mut day = local.date_naive();
            let mut left = ROUTINE_BUSINESS_DAYS;
            while left > 0 {
                day = day.succ_opt().unwrap_or(day);
                if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                    left -= 1;
                }
            }
            let days = (day - local.date_naive()).num_days();
            received_at + Duration::days(days)
        }
    }
}

vocabulary!(
    /// Where a medical information request stands.
    RequestStatus, "status", [
        New = "new": "New",
        InProgress = "in_progress": "In progress",
        Answered = "answered": "Answered",
        Closed = "closed": "Closed",
    ]
);

impl RequestStatus {
    /// The moves a request can make: work starts, an answer is sent, the requester may come
    /// back with a follow-up question (answered → in progress), and an answered request closes.
    pub fn next(self) -> &'static [RequestStatus] {
        use RequestStatus::*;
        match self {
            New => &[InProgress],
            InProgress => &[Answered],
            Answered => &[InProgress, Closed],
            Closed => &[],
        }
    }
    pub fn can_become(self, to: RequestStatus) -> bool {
        self.next().contains(&to)
    }
    /// Checks a move and explains a refused one.
    pub fn transition(self, to: RequestStatus) -> Result<RequestStatus, Invalid> {
        if self.can_become(to) {
            return Ok(to);
        }
        let why = match (self, to) {
            (RequestStatus::Closed, _) => "a closed request does not change".to_string(),
            (_, RequestStatus::Closed) => "only an answered request can be closed: send the answer first".to_string(),
            (RequestStatus::New, RequestStatus::Answered) => {
                "start work on the request (in progress) before recording the answer".to_string()
            }
            (from, to) if from == to => format!("the request is already {}", from.label().to_lowercase()),
            (from, to) => format!("a request cannot go from {} to {}", from.label(), to.label()),
        };
        Err(Invalid::one("status", why))
    }
}

vocabulary!(
    /// How the answer reaches the requester.
    DeliveryMethod, "delivery_method", [
        Email = "email": "E-mail",
        Letter = "letter": "Letter",
        Phone = "phone": "Phone",
        InPerson = "in_person": "In person",
    ]
);

/// Why a request that is not unsolicited is refused: field medical answers only what a
/// healthcare professional asked of their own accord (FDA guidance on responding to unsolicited
/// requests for off-label information).
pub const SOLICITED_REFUSAL: &str = "only unsolicited requests can be recorded: the healthcare professional must have asked of their own accord. A question prompted by the company (a proactive or promotional discussion of off-label use) cannot be answered through medical information";

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequestInput {
    pub hcp_id: Option<uuid::Uuid>,
    /// Mandatory, and must be true.
    pub unsolicited: Option<bool>,
    pub questions: Vec<String>,
    pub products: Vec<String>,
    pub urgency: String,
    pub delivery_method: String,
    /// When the question reached the company; defaults to now.
    pub received_at: Option<DateTime<Utc>>,
    /// The MSL who answers; defaults to the person recording it.
    pub assigned_to: Option<uuid::Uuid>,
    /// The interaction where the question was asked, if any.
    pub interaction_id: Option<uuid::Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedRequest {
    pub hcp_id: uuid::Uuid,
    pub questions: Vec<String>,
    pub products: Vec<String>,
    pub urgency: Urgency,
    pub delivery_method: DeliveryMethod,
    pub received_at: DateTime<Utc>,
}

/// Question lines: at least one, each up to 2000 characters.
pub fn questions(values: &[String]) -> Result<Vec<String>, Invalid> {
    let mut out = Vec::new();
    for q in values {
        let q = long_text("questions", q, 2000)?;
        if !q.is_empty() {
            out.push(q);
        }
    }
    if out.is_empty() {
        return Err(Invalid::one("questions", "write the question as the requester asked it"));
    }
    if out.len() > 20 {
        return Err(Invalid::one("questions", "at most 20 question lines"));
    }
    Ok(out)
}

impl RequestInput {
    pub fn check(&self, now: DateTime<Utc>) -> Result<CheckedRequest, Invalid> {
        let mut c = Checks::new();
        match self.unsolicited {
            None => {
                c.push("unsolicited", "is required: say whether the healthcare professional asked of their own accord")
            }
            Some(false) => c.push("unsolicited", SOLICITED_REFUSAL),
            Some(true) => {}
        }
        if self.hcp_id.is_none() {
            c.push("hcp_id", "is required: the healthcare professional who asked");
        }
        let questions = c.take("questions", questions(&self.questions));
        let products = c.take("products", label_list("products", &self.products, 20, 80));
        let urgency =
            c.take("urgency", Urgency::parse(if self.urgency.trim().is_empty() { "routine" } else { &self.urgency }));
        let delivery_method = c.take("delivery_method", DeliveryMethod::parse(&self.delivery_method));
        let received_at = crate::audit::truncate_micros(self.received_at.unwrap_or(now));
        if received_at > now + Duration::minutes(5) {
            c.push("received_at", "must not be in the future");
        }
        c.finish()?;
        Ok(CheckedRequest {
            hcp_id: self.hcp_id.unwrap_or_default(),
            questions: questions.unwrap_or_default(),
            products: products.unwrap_or_default(),
            urgency: urgency.unwrap_or(Urgency::Routine),
            delivery_method: delivery_method.unwrap_or(DeliveryMethod::Email),
            received_at,
        })
    }
}

/// The parts of a request an edit may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestField {
    Questions,
    Requester,
    DeliveryMethod,
    Products,
    Urgency,
    Response,
}

impl RequestField {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestField::Questions => "questions",
            RequestField::Requester => "hcp_id",
            RequestField::DeliveryMethod => "delivery_method",
            RequestField::Products => "products",
            RequestField::Urgency => "urgency",
            RequestField::Response => "response",
        }
    }
    /// Whether the requester's signature fixes this field: it signed what they asked, who
    /// they are and how they want the answer.
    pub fn locked_by_signature(self) -> bool {
        matches!(self, RequestField::Questions | RequestField::Requester | RequestField::DeliveryMethod)
    }
}

/// Checks an edit against the lock rules: nothing changes on a closed request; after the
/// requester signed, the question, the requester and the delivery method stay as signed; the
/// response can be written until the request is closed.
pub fn check_request_edit(status: RequestStatus, signed: bool, changes: &[RequestField]) -> Result<(), Invalid> {
    let mut c = Checks::new();
    for f in changes {
        if status == RequestStatus::Closed {
            c.push(f.as_str(), "the request is closed and no longer changes");
        } else if signed && f.locked_by_signature() {
            c.push(f.as_str(), "the requester signed the request: what they asked, who asked and how the answer is delivered no longer change");
        }
    }
    c.finish()
}

/// Checks a requester's typed signature.
pub fn typed_signature(name: &str) -> Result<String, Invalid> {
    let n = required_text("signed_name", name, 200)?;
    if n.chars().filter(|c| c.is_alphabetic()).count() < 2 {
        return Err(Invalid::one("signed_name", "type the requester's full name"));
    }
    Ok(n)
}

/// How a request did against its SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaOutcome {
    AnsweredOnTime,
    AnsweredLate,
    OpenOverdue,
    OpenOnTrack,
}

/// A request counts as answered from its first answer; until then it is open, overdue once its
/// due time has passed.
pub fn sla_outcome(due: DateTime<Utc>, answered_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> SlaOutcome {
    match answered_at {
        Some(a) if a <= due => SlaOutcome::AnsweredOnTime,
        Some(_) => SlaOutcome::AnsweredLate,
        None if now > due => SlaOutcome::OpenOverdue,
        None => SlaOutcome::OpenOnTrack,
    }
}

// ---------------------------------------------------------------- safety intake

vocabulary!(
    /// What was learned that pharmacovigilance must hear about.
    SafetyKind, "kind", [
        AdverseEvent = "adverse_event": "Adverse event",
        ProductComplaint = "product_complaint": "Product quality complaint",
        SpecialSituation = "special_situation": "Special situation (pregnancy, overdose, misuse, medication error, lack of effect)",
    ]
);

/// Hours from awareness to forwarding to pharmacovigilance unless the organization sets
/// another clock (the common company standard: one business day, held as 24 hours).
pub const DEFAULT_FORWARD_HOURS: i64 = 24;

/// Checks an organization's forwarding clock: from 1 hour to 3 days.
pub fn forward_hours(h: i64) -> Result<i64, Invalid> {
    if (1..=72).contains(&h) {
        Ok(h)
    } else {
        Err(Invalid::one("safety_forward_hours", "must be between 1 and 72 hours"))
    }
}

/// When the intake must reach pharmacovigilance: day 0 is when anyone in the company learned
/// of it, not when it was typed in.
pub fn forward_due(aware_at: DateTime<Utc>, hours: i64) -> DateTime<Utc> {
    aware_at + Duration::hours(hours)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SafetyInput {
    pub kind: String,
    pub interaction_id: Option<uuid::Uuid>,
    pub hcp_id: Option<uuid::Uuid>,
    pub product: String,
    pub description: String,
    /// A non-identifying description of the patient (age range, sex), never a name.
    pub patient: String,
    pub aware_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedSafety {
    pub kind: SafetyKind,
    pub product: String,
    pub description: String,
    pub patient: String,
    pub aware_at: DateTime<Utc>,
}

impl SafetyInput {
    pub fn check(&self, now: DateTime<Utc>) -> Result<CheckedSafety, Invalid> {
        let mut c = Checks::new();
        let kind = c.take("kind", SafetyKind::parse(&self.kind));
        let product = c.take("product", required_text("product", &self.product, 120));
        let description = c.take("description", long_text("description", &self.description, 8000));
        if description.as_ref().is_some_and(String::is_empty) {
            c.push("description", "is required: what happened, as reported");
        }
        let patient = c.take("patient", optional_text("patient", &self.patient, 200));
        match self.aware_at {
            None => c.push("aware_at", "is required: when the company first learned of it (day 0)"),
            Some(a) if a > now + Duration::minutes(5) => c.push("aware_at", "must not be in the future"),
            Some(a) if a < now - Duration::days(365) => c.push("aware_at", "must be within the last year"),
            Some(_) => {}
        }
        c.finish()?;
        Ok(CheckedSafety {
            kind: kind.unwrap_or(SafetyKind::AdverseEvent),
            product: product.unwrap_or_default(),
            description: description.unwrap_or_default(),
            patient: patient.unwrap_or_default(),
            aware_at: crate::audit::truncate_micros(self.aware_at.unwrap_or(now)),
        })
    }
}

/// Checks where an intake went: the pharmacovigilance recipient and its reference.
pub fn forwarding(to: &str, reference: &str) -> Result<(String, String), Invalid> {
    let mut c = Checks::new();
    let to = c.take("forwarded_to", required_text("forwarded_to", to, 200));
    let reference = c.take("reference", optional_text("reference", reference, 100));
    c.finish()?;
    Ok((to.unwrap_or_default(), reference.unwrap_or_default()))
}

// ---------------------------------------------------------------- congresses and events

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventInput {
    pub name: String,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub place: String,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckedEvent {
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub place: String,
    pub notes: String,
}

impl EventInput {
    pub fn check(&self) -> Result<CheckedEvent, Invalid> {
        let mut c = Checks::new();
        let name = c.take("name", required_text("name", &self.name, 200));
        let place = c.take("place", required_text("place", &self.place, 200));
        let notes = c.take("notes", long_text("notes", &self.notes, 20_000));
        match (self.starts_on, self.ends_on) {
            (None, _) => c.push("starts_on", "is required"),
            (Some(_), None) => c.push("ends_on", "is required"),
            (Some(s), Some(e)) if e < s => c.push("ends_on", "must not be before the first day"),
            (Some(s), Some(e)) if (e - s).num_days() > 31 => c.push("ends_on", "an event lasts at most a month"),
            _ => {}
        }
        c.finish()?;
        Ok(CheckedEvent {
            name: name.unwrap_or_default(),
            starts_on: self.starts_on.unwrap_or_default(),
            ends_on: self.ends_on.unwrap_or_default(),
            place: place.unwrap_or_default(),
            notes: notes.unwrap_or_default(),
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SessionInput {
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub speakers: Vec<String>,
    pub room: String,
}

/// Checks a session against its event's days (a session may run past midnight UTC on the
/// last day, so the end is allowed a day of slack).
pub fn check_session(
    s: &SessionInput,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
) -> Result<(String, Vec<String>, String), Invalid> {
    let mut c = Checks::new();
    let title = c.take("title", required_text("title", &s.title, 300));
    let speakers = c.take("speakers", label_list("speakers", &s.speakers, 20, 120));
    let room = c.take("room", optional_text("room", &s.room, 100));
    if s.ends_at <= s.starts_at {
        c.push("ends_at", "must be after the start");
    }
    let d = s.starts_at.date_naive();
    if d < starts_on - Duration::days(1) || d > ends_on + Duration::days(1) {
        c.push("starts_at", format!("must fall within the event ({starts_on} to {ends_on})"));
    }
    c.finish()?;
    Ok((title.unwrap_or_default(), speakers.unwrap_or_default(), room.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn npi_check_digit_follows_the_cms_rule() {
        for ok in ["1234567893", "1245319599", "1003000126", "1497758544", "1932102084"] {
            assert!(Npi::parse(ok).is_ok(), "{ok} should be valid");
        }
        assert_eq!(Npi::parse(" 123-456-7893 ").unwrap().as_str(), "1234567893");
        for bad in ["1234567890", "1234567894", "123456789", "12345678931", "abcdefghij", "3234567893", ""] {
            assert!(Npi::parse(bad).is_err(), "{bad} should be refused");
        }
        // Every single-digit change of a valid NPI is caught by the check digit.
        let valid = "1234567893";
        for i in 1..10 {
            for d in 0..10u8 {
                let mut b = valid.as_bytes().to_vec();
                if b[i] == b'0' + d {
                    continue;
                }
                b[i] = b'0' + d;
                let s = String::from_utf8(b).unwrap();
                assert!(Npi::parse(&s).is_err(), "{s}");
            }
        }
        assert_eq!(npi_check_digit(&[1, 2, 3, 4, 5, 6, 7, 8, 9]), 3);
    }

    proptest::proptest! {
        /// The check digit catches every single-digit error and every swap of two adjacent
        /// different digits in the first nine, the errors of someone copying an NPI by hand.
        #[test]
        fn npi_check_digit_catches_typos(body in 100_000_000u32..300_000_000, pos in 1usize..9, delta in 1u32..10) {
            let digits: Vec<u32> = body.to_string().chars().filter_map(|c| c.to_digit(10)).collect();
            let valid: String = digits.iter().map(|d| d.to_string()).collect::<String>() + &npi_check_digit(&digits).to_string();
            proptest::prop_assert!(Npi::parse(&valid).is_ok());
            let mut typo = digits.clone();
            typo[pos] = (typo[pos] + delta) % 10;
            let typo: String = typo.iter().map(|d| d.to_string()).collect::<String>() + &valid[9..];
            proptest::prop_assert!(Npi::parse(&typo).is_err(), "{} from {}", typo, valid);
            if digits[pos] != digits[pos - 1] && !(pos == 1 && digits[pos] == 0) {
                let mut swapped = digits.clone();
                swapped.swap(pos, pos - 1);
                // A swap of 0 and 9 is the one transposition Luhn misses.
                if !matches!((digits[pos], digits[pos - 1]), (0, 9) | (9, 0)) {
                    let swapped: String = swapped.iter().map(|d| d.to_string()).collect::<String>() + &valid[9..];
                    proptest::prop_assert!(Npi::parse(&swapped).is_err(), "{} from {}", swapped, valid);
                }
            }
        }
    }

    #[test]
    fn coordinates_are_bounded() {
        assert!(coordinates(Some(42.36), Some(-71.07)).is_ok());
        assert!(coordinates(Some(91.0), Some(0.0)).is_err());
        assert!(coordinates(Some(0.0), Some(-181.0)).is_err());
        assert!(coordinates(Some(f64::NAN), Some(0.0)).is_err());
        assert!(coordinates(Some(1.0), None).is_err());
        assert_eq!(coordinates(None, None).unwrap(), None);
    }

    #[test]
    fn credentials_are_normalized() {
        let c = credentials(&["m.d.".into(), "PhD, facc".into(), "MD".into()]).unwrap();
        assert_eq!(c, vec!["MD", "PhD", "FACC"]);
        assert!(credentials(&["Dr".into()]).is_err());
    }

    #[test]
    fn request_state_machine_is_exhaustive() {
        use RequestStatus::*;
        let allowed = [(New, InProgress), (InProgress, Answered), (Answered, InProgress), (Answered, Closed)];
        for from in RequestStatus::ALL {
            for to in RequestStatus::ALL {
                let ok = allowed.contains(&(*from, *to));
                assert_eq!(from.can_become(*to), ok, "{from:?} -> {to:?}");
                assert_eq!(from.transition(*to).is_ok(), ok);
            }
        }
        let e = New.transition(Closed).unwrap_err();
        assert!(e.0[0].message.contains("answered"), "{e}");
        assert!(Closed.transition(InProgress).unwrap_err().0[0].message.contains("closed"));
    }

    #[test]
    fn signature_locks_the_question_not_the_answer() {
        use RequestField::*;
        assert!(check_request_edit(RequestStatus::InProgress, false, &[Questions, Requester, DeliveryMethod]).is_ok());
        for f in [Questions, Requester, DeliveryMethod] {
            let e = check_request_edit(RequestStatus::InProgress, true, &[f]).unwrap_err();
            assert_eq!(e.0[0].field, f.as_str());
        }
        assert!(check_request_edit(RequestStatus::Answered, true, &[Response, Products, Urgency]).is_ok());
        assert!(check_request_edit(RequestStatus::Closed, false, &[Response]).is_err());
        assert!(typed_signature("  ").is_err());
        assert_eq!(typed_signature(" Dr. Ana Ruiz ").unwrap(), "Dr. Ana Ruiz");
    }

    #[test]
    fn unsolicited_is_mandatory() {
        let now = Utc::now();
        let mut r = RequestInput {
            hcp_id: Some(uuid::Uuid::nil()),
            unsolicited: None,
            questions: vec!["Is there data in renal impairment?".into()],
            delivery_method: "email".into(),
            ..Default::default()
        };
        assert_eq!(r.check(now).unwrap_err().0[0].field, "unsolicited");
        r.unsolicited = Some(false);
        let e = r.check(now).unwrap_err();
        assert!(e.0[0].message.contains("unsolicited"));
        r.unsolicited = Some(true);
        let ok = r.check(now).unwrap();
        assert_eq!(ok.urgency, Urgency::Routine);
    }

    #[test]
    fn sla_counts_business_days_in_the_team_zone() {
        let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
        // Friday 6 March 2026, 10:00 in New York: ten business days on is Friday 20 March.
        let fri = tz.with_ymd_and_hms(2026, 3, 6, 10, 0, 0).unwrap().with_timezone(&Utc);
        let due = sla_due(Urgency::Routine, fri, tz);
        assert_eq!(due.with_timezone(&tz).date_naive(), NaiveDate::from_ymd_opt(2026, 3, 20).unwrap());
        // Saturday receipt counts from Monday: due Friday two weeks later.
        let sat = tz.with_ymd_and_hms(2026, 3, 7, 9, 0, 0).unwrap().with_timezone(&Utc);
        assert_eq!(
            sla_due(Urgency::Routine, sat, tz).with_timezone(&tz).date_naive(),
            NaiveDate::from_ymd_opt(2026, 3, 20).unwrap()
        );
        assert_eq!(sla_due(Urgency::Urgent, fri, tz), fri + Duration::hours(24));
        // Outcomes.
        let now = fri + Duration::days(30);
        assert_eq!(sla_outcome(due, Some(due - Duration::hours(1)), now), SlaOutcome::AnsweredOnTime);
        assert_eq!(sla_outcome(due, Some(due + Duration::hours(1)), now), SlaOutcome::AnsweredLate);
        assert_eq!(sla_outcome(due, None, now), SlaOutcome::OpenOverdue);
        assert_eq!(sla_outcome(due, None, fri), SlaOutcome::OpenOnTrack);
    }

    #[test]
    fn safety_clock_starts_at_awareness() {
        let aware = Utc.with_ymd_and_hms(2026, 3, 2, 15, 30, 0).unwrap();
        assert_eq!(forward_due(aware, DEFAULT_FORWARD_HOURS), Utc.with_ymd_and_hms(2026, 3, 3, 15, 30, 0).unwrap());
        assert!(forward_hours(0).is_err());
        assert!(forward_hours(73).is_err());
        assert_eq!(forward_hours(48).unwrap(), 48);
        let now = aware + Duration::hours(2);
        let mut s = SafetyInput {
            kind: "adverse_event".into(),
            product: "Cardiozan".into(),
            description: "Dizziness after the first dose.".into(),
            aware_at: None,
            ..Default::default()
        };
        assert_eq!(s.check(now).unwrap_err().0[0].field, "aware_at");
        s.aware_at = Some(now + Duration::hours(1));
        assert!(s.check(now).is_err());
        s.aware_at = Some(aware);
        assert_eq!(s.check(now).unwrap().aware_at, aware);
    }

    #[test]
    fn periods_and_tags() {
        let p = PlanPeriod::parse("2026-h2").unwrap();
        assert_eq!(p.as_str(), "2026-H2");
        assert_eq!(
            p.bounds(),
            (NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 12, 31).unwrap())
        );
        assert!(PlanPeriod::parse("2026-H3").is_err());
        assert!(PlanPeriod::parse("26").is_err());
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(Granularity::Quarter.periods(d(2025, 11, 5), d(2026, 4, 1)), vec!["2025-Q4", "2026-Q1", "2026-Q2"]);
        assert_eq!(Granularity::Month.periods(d(2025, 12, 31), d(2026, 2, 1)), vec!["2025-12", "2026-01", "2026-02"]);
        assert_eq!(Granularity::Quarter.bounds("2026-Q1").unwrap(), (d(2026, 1, 1), d(2026, 3, 31)));
        assert_eq!(Granularity::Month.bounds("2024-02").unwrap(), (d(2024, 2, 1), d(2024, 2, 29)));
        assert_eq!(
            tags(&["#Dosing , renal  function".into(), "dosing".into()]).unwrap(),
            vec!["dosing", "renal function"]
        );
        assert!(tags(&["a/b".into()]).is_err());
    }

    #[test]
    fn publication_csv_is_all_or_nothing_with_row_errors() {
        let ok = "Title,Journal,Year,PMID,DOI\n\"Outcomes, one year on\",N Engl J Med,2024,38012345,10.1056/NEJMoa2300001\nSecond,JACC,2023,,\n";
        let p = parse_publications_csv(ok, 2026).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].title, "Outcomes, one year on");
        let bad = "title,journal,year\nGood,Lancet,2022\n,Lancet,2022\nThird,JAMA,20x5\n";
        let e = parse_publications_csv(bad, 2026).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["row 3: title", "row 4: year"]);
        assert!(parse_publications_csv("name,year\nx,2020\n", 2026).is_err());
        assert!(doi("https://doi.org/10.1016/j.jacc.2024.01.002").is_ok());
        assert!(doi("11.1/x").is_err());
        assert!(pmid("PMID: 12345").is_ok());
    }
}
