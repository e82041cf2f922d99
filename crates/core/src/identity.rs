//! Identity vocabulary: e-mail addresses, the password policy, roles, grant scopes, site codes
//! and time zones. Every value here can only be built valid.

use crate::{Invalid, required_text};
use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::UnicodeNormalization;
use uuid::Uuid;

/// An e-mail address in its comparison form: NFKC-normalised and lower-cased, so that two
/// spellings of the same address can never belong to two users.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let norm: String = raw.trim().nfkc().collect::<String>().to_lowercase();
        let bad = |m: &str| Err(Invalid::one("email", m.to_string()));
        if norm.is_empty() {
            return bad("is required");
        }
        if norm.len() > 254 {
            return bad("must be at most 254 characters");
        }
        let Some((local, domain)) = norm.rsplit_once('@') else {
            return bad("must look like name@example.org");
        };
        if local.is_empty() || local.len() > 64 || domain.len() < 3 || !domain.contains('.') {
            return bad("must look like name@example.org");
        }
        if norm.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') {
            return bad("must not contain spaces or angle brackets");
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return bad("has an invalid domain");
        }
        Ok(Self(norm))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 256;

static COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

/// A new password that passed the policy: length only (NIST SP 800-63B), no composition
/// rules, and not on the shipped list of commonly chosen passwords.
#[derive(Clone)]
pub struct NewPassword(String);

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

impl NewPassword {
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        let bad = |m: String| Err(Invalid::one("password", m));
        if n < PASSWORD_MIN_CHARS {
            return bad(format!("must be at least {PASSWORD_MIN_CHARS} characters"));
        }
        if n > PASSWORD_MAX_CHARS {
            return bad(format!("must be at most {PASSWORD_MAX_CHARS} characters"));
        }
        let lowered = raw.to_lowercase();
        if is_common_password(&lowered) {
            return bad("is on the list of commonly used passwords; choose another".into());
        }
        let first = lowered.chars().next();
        if lowered.chars().all(|c| Some(c) == first) {
            return bad("must not be a single repeated character".into());
        }
        if let Some(e) = email {
            let local = e.as_str().split('@').next().unwrap_or_default();
            if lowered == e.as_str() || (local.len() >= 4 && lowered.contains(local)) {
                return bad("must not contain your e-mail address".into());
            }
        }
        Ok(Self(raw.to_string()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

pub fn is_common_password(lowered: &str) -> bool {
    COMMON_PASSWORDS.lines().map(str::trim).any(|l| !l.is_empty() && !l.starts_with('#') && l == lowered)
}

/// Roles of DESIGN.md. A grant gives one role within one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Coordinator,
    Investigator,
    Monitor,
    DataManager,
    SponsorViewer,
    Auditor,
    Msl,
    MedicalManager,
    Commercial,
    ClinicalSpecialist,
    Liaison,
}

impl Role {
    pub const ALL: [Role; 12] = [
        Role::Admin,
        Role::Coordinator,
        Role::Investigator,
        Role::Monitor,
        Role::DataManager,
        Role::SponsorViewer,
        Role::Auditor,
        Role::Msl,
        Role::MedicalManager,
        Role::Commercial,
        Role::ClinicalSpecialist,
        Role::Liaison,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::Investigator => "investigator",
            Role::Monitor => "monitor",
            Role::DataManager => "data_manager",
            Role::SponsorViewer => "sponsor_viewer",
            Role::Auditor => "auditor",
            Role::Msl => "msl",
            Role::MedicalManager => "medical_manager",
            Role::Commercial => "commercial",
            Role::ClinicalSpecialist => "clinical_specialist",
            Role::Liaison => "liaison",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Administrator",
            Role::Coordinator => "Clinical research coordinator",
            Role::Investigator => "Investigator",
            Role::Monitor => "Monitor",
            Role::DataManager => "Data manager",
            Role::SponsorViewer => "Sponsor viewer",
            Role::Auditor => "Auditor",
            Role::Msl => "Medical science liaison",
            Role::MedicalManager => "Medical affairs manager",
            Role::Commercial => "Commercial",
            Role::ClinicalSpecialist => "Clinical specialist",
            Role::Liaison => "Clinical liaison",
        }
    }
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let k = raw.trim().to_lowercase().replace(['-', ' '], "_");
        Role::ALL.into_iter().find(|r| r.as_str() == k).ok_or_else(|| {
            let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
            Invalid::one("role", format!("must be one of {}", names.join(", ")))
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a grant applies: the whole organization, one study (all its sites) or one site (all
/// the studies it runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Scope {
    Organization,
    Study(Uuid),
    Site(Uuid),
}

impl Scope {
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Organization => "organization",
            Scope::Study(_) => "study",
            Scope::Site(_) => "site",
        }
    }
    pub fn id(&self) -> Option<Uuid> {
        match self {
            Scope::Organization => None,
            Scope::Study(id) | Scope::Site(id) => Some(*id),
        }
    }
    pub fn from_parts(kind: &str, id: Option<Uuid>) -> Option<Scope> {
        match (kind, id) {
            ("organization", _) => Some(Scope::Organization),
            ("study", Some(id)) => Some(Scope::Study(id)),
            ("site", Some(id)) => Some(Scope::Site(id)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub role: Role,
    pub scope: Scope,
}

/// A short code for a site or study: used in URLs and on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Code(String);

impl Code {
    pub fn parse(field: &str, raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim().to_uppercase();
        if v.is_empty() {
            return Err(Invalid::one(field, "is required"));
        }
        if v.len() > 24 {
            return Err(Invalid::one(field, "must be at most 24 characters"));
        }
        if !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || !v.starts_with(|c: char| c.is_ascii_alphanumeric())
        {
            return Err(Invalid::one(field, "may contain only letters, digits, - and _"));
        }
        Ok(Self(v))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA time zone name (for example `America/Chicago`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimeZone(String);

impl TimeZone {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let v = raw.trim();
        match v.parse::<chrono_tz::Tz>() {
            Ok(tz) => Ok(Self(tz.name().to_string())),
            Err(_) => Err(Invalid::one("time_zone", "must be an IANA time zone such as Europe/Berlin")),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn tz(&self) -> chrono_tz::Tz {
        self.0.parse().unwrap_or(chrono_tz::UTC)
    }
}

/// A person's display name as printed on signatures.
pub fn person_name(raw: &str) -> Result<String, Invalid> {
    required_text("name", raw, 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_case_and_unicode_insensitive() {
        let a = Email::parse("  Ada.Lovelace@Example.ORG ").unwrap();
        let b = Email::parse("ada.lovelace@example.org").unwrap();
        assert_eq!(a, b);
        // Fullwidth letters normalise (NFKC) to the same address.
        let c = Email::parse("ａｄａ.lovelace@example.org").unwrap();
        assert_eq!(a, c);
        assert!(Email::parse("no-at-sign").is_err());
        assert!(Email::parse("a@b").is_err());
        assert!(Email::parse("a b@example.org").is_err());
    }

    #[test]
    fn password_policy() {
        assert!(NewPassword::parse("short", None).is_err());
        assert!(NewPassword::parse("correct horse battery", None).is_ok());
        assert!(NewPassword::parse("password1234", None).is_err());
        assert!(NewPassword::parse("aaaaaaaaaaaaaa", None).is_err());
        assert!(NewPassword::parse(&"x".repeat(127).replace("xx", "xy"), None).is_ok());
        assert!(NewPassword::parse(&"ab".repeat(64), None).is_ok(), "128 characters allowed");
        let e = Email::parse("grace.hopper@example.org").unwrap();
        assert!(NewPassword::parse("grace.hopper-2026!", Some(&e)).is_err());
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert_eq!(Role::parse("Data Manager").unwrap(), Role::DataManager);
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn codes_and_zones() {
        assert_eq!(Code::parse("code", " bos-01 ").unwrap().as_str(), "BOS-01");
        assert!(Code::parse("code", "a b").is_err());
        assert_eq!(TimeZone::parse("America/Chicago").unwrap().as_str(), "America/Chicago");
        assert!(TimeZone::parse("Mars/Olympus").is_err());
    }
}
