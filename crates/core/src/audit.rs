//! The audit trail's vocabulary and its hash chain. Entries are spread over a fixed number of
//! streams (by entity) so concurrent writers do not all wait on one chain head; each stream is
//! a SHA-256 chain, and checkpoints chain the heads of all streams together.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Number of chain streams. Changing it re-shards new entries only; verification reads the
/// stream number stored on each entry.
pub const STREAMS: u32 = 256;

/// What happened, as recorded. Stable strings: they are hashed and exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Update,
    Delete,
    Export,
    PhiRead,
    Login,
    LoginFailed,
    Logout,
    Lockout,
    PermissionChange,
    Signature,
}

impl AuditAction {
    pub const ALL: [AuditAction; 11] = [
        AuditAction::Create,
        AuditAction::Update,
        AuditAction::Delete,
        AuditAction::Export,
        AuditAction::PhiRead,
        AuditAction::Login,
        AuditAction::LoginFailed,
        AuditAction::Logout,
        AuditAction::Lockout,
        AuditAction::PermissionChange,
        AuditAction::Signature,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
            AuditAction::Export => "export",
            AuditAction::PhiRead => "phi_read",
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::Logout => "logout",
            AuditAction::Lockout => "lockout",
            AuditAction::PermissionChange => "permission_change",
            AuditAction::Signature => "signature",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// An audit entry before it is chained: what the caller supplies.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub user_id: Option<Uuid>,
    pub action: AuditAction,
    pub entity_type: String,
    pub entity_id: String,
    pub old_value: Option<serde_json::Value>,
    pub new_value: Option<serde_json::Value>,
    pub reason: Option<String>,
}

impl AuditEvent {
    pub fn new(action: AuditAction, entity_type: &str, entity_id: impl ToString) -> Self {
        Self {
            user_id: None,
            action,
            entity_type: entity_type.to_string(),
            entity_id: entity_id.to_string(),
            old_value: None,
            new_value: None,
            reason: None,
        }
    }
    pub fn by(mut self, user: Option<Uuid>) -> Self {
        self.user_id = user;
        self
    }
    pub fn old(mut self, v: impl Serialize) -> Self {
        self.old_value = serde_json::to_value(v).ok();
        self
    }
    pub fn new_value(mut self, v: impl Serialize) -> Self {
        self.new_value = serde_json::to_value(v).ok();
        self
    }
    pub fn reason(mut self, r: Option<String>) -> Self {
        self.reason = r;
        self
    }
    /// The stream this entity's entries go to: all entries about one entity stay in order in
    /// one chain.
    pub fn stream(&self) -> u32 {
        stream_of(&self.entity_type, &self.entity_id)
    }
}

pub fn stream_of(entity_type: &str, entity_id: &str) -> u32 {
    let mut h = Sha256::new();
    h.update(entity_type.as_bytes());
    h.update([0]);
    h.update(entity_id.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % STREAMS
}

/// A stored entry: everything that is hashed, exactly as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub stream: i32,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub reason: Option<String>,
    pub request_id: Option<String>,
    #[serde(skip)]
    pub prev_hash: Vec<u8>,
    #[serde(skip)]
    pub hash: Vec<u8>,
}

/// The hash of the first entry's predecessor in every stream.
pub const GENESIS: [u8; 32] = [0u8; 32];

/// Timestamps are hashed at microsecond precision, the finest both databases store.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

fn put(h: &mut Sha256, field: Option<&[u8]>) {
    match field {
        None => h.update([0u8]),
        Some(b) => {
            h.update([1u8]);
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        }
    }
}

/// The chained hash: SHA-256 over the previous hash and every field, each length-prefixed so
/// no two different entries can encode to the same bytes. The global id is hashed too, so
/// swapping the positions of two entries is detected even across streams.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    prev: &[u8],
    id: i64,
    stream: i32,
    seq: i64,
    at: DateTime<Utc>,
    user_id: Option<Uuid>,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    old_value: Option<&str>,
    new_value: Option<&str>,
    reason: Option<&str>,
    request_id: Option<&str>,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"clinbridge-audit-v1");
    put(&mut h, Some(prev));
    h.update(id.to_be_bytes());
    h.update(stream.to_be_bytes());
    h.update(seq.to_be_bytes());
    h.update(at.timestamp_micros().to_be_bytes());
    put(&mut h, user_id.as_ref().map(|u| u.as_bytes().as_slice()));
    put(&mut h, Some(action.as_bytes()));
    put(&mut h, Some(entity_type.as_bytes()));
    put(&mut h, Some(entity_id.as_bytes()));
    put(&mut h, old_value.map(str::as_bytes));
    put(&mut h, new_value.map(str::as_bytes));
    put(&mut h, reason.map(str::as_bytes));
    put(&mut h, request_id.map(str::as_bytes));
    h.finalize().into()
}

impl AuditEntry {
    pub fn compute_hash(&self) -> [u8; 32] {
        entry_hash(
            &self.prev_hash,
            self.id,
            self.stream,
            self.seq,
            self.at,
            self.user_id,
            &self.action,
            &self.entity_type,
            &self.entity_id,
            self.old_value.as_deref(),
            self.new_value.as_deref(),
            self.reason.as_deref(),
            self.request_id.as_deref(),
        )
    }
}

/// A checkpoint: the head (seq, hash) of every stream at one moment, chained to the previous
/// checkpoint. A deleted tail of any stream before a checkpoint is detected through it.
pub fn checkpoint_hash(prev: &[u8], id: i64, at: DateTime<Utc>, heads: &[(i32, i64, Vec<u8>)]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"clinbridge-checkpoint-v1");
    put(&mut h, Some(prev));
    h.update(id.to_be_bytes());
    h.update(at.timestamp_micros().to_be_bytes());
    for (stream, seq, hash) in heads {
        h.update(stream.to_be_bytes());
        h.update(seq.to_be_bytes());
        put(&mut h, Some(hash));
    }
    h.finalize().into()
}

/// Why verification failed, naming the first broken entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The stored hash does not match the entry's content (the entry was edited).
    Altered { id: i64, stream: i32, seq: i64 },
    /// The entry does not follow its predecessor (an entry was deleted or moved).
    Broken { id: i64, stream: i32, seq: i64, expected_seq: i64 },
    /// A stream ends before a point a checkpoint or the head table recorded (its tail was cut).
    Truncated { stream: i32, recorded_seq: i64, found_seq: i64 },
    /// A checkpoint was edited or its chain broken.
    Checkpoint { id: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Altered { id, stream, seq } => {
                write!(
                    f,
                    "audit entry {id} (stream {stream}, seq {seq}) was altered: its hash does not match its content"
                )
            }
            ChainBreak::Broken { id, stream, seq, expected_seq } => write!(
                f,
                "audit entry {id} (stream {stream}, seq {seq}) breaks the chain: expected seq {expected_seq} linked to its predecessor (an entry was deleted or reordered)"
            ),
            ChainBreak::Truncated { stream, recorded_seq, found_seq } => write!(
                f,
                "audit stream {stream} ends at seq {found_seq} but seq {recorded_seq} was recorded: entries were deleted from its end"
            ),
            ChainBreak::Checkpoint { id } => {
                write!(f, "audit checkpoint {id} was altered or its chain broken")
            }
        }
    }
}

/// Incremental verifier: feed entries in id order; it tracks each stream's head. Ids are
/// allocated after the stream heads are locked, so within a stream id order is seq order.
#[derive(Debug)]
pub struct ChainVerifier {
    heads: Vec<(i64, [u8; 32])>,
    pub checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    pub fn new() -> Self {
        Self { heads: vec![(0, GENESIS); STREAMS as usize], checked: 0 }
    }

    pub fn feed(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        let Some(head) = usize::try_from(e.stream).ok().and_then(|s| self.heads.get_mut(s)) else {
            return Err(ChainBreak::Altered { id: e.id, stream: e.stream, seq: e.seq });
        };
        let expected_seq = head.0 + 1;
        if e.seq != expected_seq || e.prev_hash.as_slice() != head.1.as_slice() {
            // Distinguish an edit of this entry's own prev field from a gap: if the content
            // hash does not match, the entry itself was altered.
            if e.compute_hash().as_slice() != e.hash.as_slice() {
                return Err(ChainBreak::Altered { id: e.id, stream: e.stream, seq: e.seq });
            }
            return Err(ChainBreak::Broken { id: e.id, stream: e.stream, seq: e.seq, expected_seq });
        }
        let h = e.compute_hash();
        if h.as_slice() != e.hash.as_slice() {
            return Err(ChainBreak::Altered { id: e.id, stream: e.stream, seq: e.seq });
        }
        *head = (e.seq, h);
        self.checked += 1;
        Ok(())
    }

    /// The (seq, hash) each stream ended at.
    pub fn head(&self, stream: i32) -> Option<(i64, [u8; 32])> {
        usize::try_from(stream).ok().and_then(|s| self.heads.get(s)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(n: usize) -> Vec<AuditEntry> {
        let mut heads = vec![(0i64, GENESIS.to_vec()); STREAMS as usize];
        let base = DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap();
        (0..n)
            .map(|i| {
                let entity_id = format!("e{}", i % 7);
                let stream = stream_of("thing", &entity_id) as i32;
                let (seq, prev) = heads[stream as usize].clone();
                let mut e = AuditEntry {
                    id: i as i64 + 1,
                    stream,
                    seq: seq + 1,
                    at: base + chrono::Duration::microseconds(i as i64),
                    user_id: Some(Uuid::from_u128(i as u128)),
                    action: "update".into(),
                    entity_type: "thing".into(),
                    entity_id,
                    old_value: Some(format!("{{\"v\":{i}}}")),
                    new_value: Some(format!("{{\"v\":{}}}", i + 1)),
                    reason: None,
                    request_id: Some(format!("req-{i}")),
                    prev_hash: prev,
                    hash: vec![],
                };
                e.hash = e.compute_hash().to_vec();
                heads[stream as usize] = (e.seq, e.hash.clone());
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry]) -> Result<(), ChainBreak> {
        let mut v = ChainVerifier::new();
        for e in entries {
            v.feed(e)?;
        }
        Ok(())
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(50)), Ok(()));
    }

    proptest! {
        #[test]
        fn any_edit_is_detected(n in 2usize..40, idx in 0usize..40, field in 0usize..5) {
            let mut c = chain(n);
            let i = idx % n;
            match field {
                0 => c[i].entity_id.push('x'),
                1 => c[i].new_value = Some("{\"v\":-1}".into()),
                2 => c[i].at += chrono::Duration::microseconds(1),
                3 => c[i].user_id = None,
                _ => c[i].reason = Some("covering tracks".into()),
            }
            let err = verify(&c).unwrap_err();
            prop_assert_eq!(err, ChainBreak::Altered { id: c[i].id, stream: c[i].stream, seq: c[i].seq });
        }

        #[test]
        fn any_deletion_except_a_stream_tail_is_detected(n in 3usize..40, idx in 0usize..40) {
            let mut c = chain(n);
            let i = idx % n;
            let removed = c.remove(i);
            let later_in_stream = c.iter().any(|e| e.stream == removed.stream && e.seq > removed.seq);
            prop_assert_eq!(verify(&c).is_err(), later_in_stream);
        }

        #[test]
        fn swapping_positions_is_detected(n in 2usize..40, a in 0usize..40, b in 0usize..40) {
            let mut c = chain(n);
            let (a, b) = (a % n, b % n);
            prop_assume!(a != b);
            // A reorder: the two entries trade their ids (positions in the log).
            let (ia, ib) = (c[a].id, c[b].id);
            c[a].id = ib;
            c[b].id = ia;
            c.sort_by_key(|e| e.id);
            prop_assert!(verify(&c).is_err());
        }
    }
}
