//! Electronic signatures (21 CFR Part 11 §11.50, §11.70, §11.200): the meanings a signer can
//! choose and the canonical hash of the record version being signed. A signature binds to that
//! hash; once the record changes, its hash no longer matches and the signature is void.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Meaning {
    Authorship,
    Review,
    Approval,
    Responsibility,
}

impl Meaning {
    pub const ALL: [Meaning; 4] = [Meaning::Authorship, Meaning::Review, Meaning::Approval, Meaning::Responsibility];
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Authorship => "authorship",
            Meaning::Review => "review",
            Meaning::Approval => "approval",
            Meaning::Responsibility => "responsibility",
        }
    }
    /// The sentence shown beside the signature, as §11.50 requires.
    pub fn statement(self) -> &'static str {
        match self {
            Meaning::Authorship => "I am the author of this record.",
            Meaning::Review => "I have reviewed this record.",
            Meaning::Approval => "I approve this record.",
            Meaning::Responsibility => "I take responsibility for this record.",
        }
    }
    pub fn parse(s: &str) -> Result<Self, crate::Invalid> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| crate::Invalid::one("meaning", "must be authorship, review, approval or responsibility"))
    }
}

/// Canonical form of a record version: JSON with object keys sorted (serde_json's default map
/// is ordered) and no insignificant whitespace.
pub fn canonical(record: &serde_json::Value) -> String {
    fn sort(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: std::collections::BTreeMap<_, _> = m.iter().map(|(k, v)| (k.clone(), sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(record).to_string()
}

/// SHA-256 (hex) of the canonical record version.
pub fn record_hash(record: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(canonical(record).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_key_order_but_not_values() {
        let a = json!({"b": 1, "a": {"y": 2, "x": [1, 2]}});
        let b = json!({"a": {"x": [1, 2], "y": 2}, "b": 1});
        assert_eq!(record_hash(&a), record_hash(&b));
        let c = json!({"a": {"x": [2, 1], "y": 2}, "b": 1});
        assert_ne!(record_hash(&a), record_hash(&c));
    }
}
