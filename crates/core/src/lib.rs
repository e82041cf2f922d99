//! Clinbridge domain core: validated types, state machines, the access policy and deadline
//! rules. Nothing here does IO; the store, web and command line build on these types.
#![forbid(unsafe_code)]

pub mod audit;
pub mod consent;
pub mod device;
pub mod edc;
pub mod identity;
pub mod medical;
pub mod participants;
pub mod policy;
pub mod scheduling;
pub mod signature;
pub mod tasks;
pub mod trials;

use serde::Serialize;

/// One rejected input field: which field and why, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Input that failed validation; carries every field error found, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct Invalid(pub Vec<FieldError>);

impl Invalid {
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self(vec![FieldError::new(field, message)])
    }
}

/// Collects field errors while a whole form is checked, so the user sees them all at once.
#[derive(Debug, Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
    /// Keeps the value when it parsed, records the error otherwise.
    pub fn take<T>(&mut self, field: &str, r: Result<T, Invalid>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(Invalid(errs)) => {
                for e in errs {
                    let name = if e.field.is_empty() { field.to_string() } else { e.field };
                    self.0.push(FieldError::new(name, e.message));
                }
                None
            }
        }
    }
    pub fn finish(self) -> Result<(), Invalid> {
        if self.0.is_empty() { Ok(()) } else { Err(Invalid(self.0)) }
    }
}

/// Trims and requires a non-empty, bounded single-line text.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<String, Invalid> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Invalid::one(field, "is required"));
    }
    if v.chars().count() > max {
        return Err(Invalid::one(field, format!("must be at most {max} characters")));
    }
    if v.chars().any(|c| c.is_control()) {
        return Err(Invalid::one(field, "must not contain control characters"));
    }
    Ok(v.to_string())
}
