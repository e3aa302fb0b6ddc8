//! The records currently believed, one per signer, and the bookkeeping that
//! keeps forgeries, replays and stale records out.

use std::collections::HashMap;

use super::codec::{self, Record, RecordRejection, MAX_RECORD_LIFETIME_MS};
use crate::identity::AgentId;

/// Records of one kind, at most one (the newest) per signer.
///
/// A record is accepted when it decodes, is of the book's kind, has not
/// expired, is not dated beyond the allowed clock skew, is strictly newer
/// than anything accepted from its signer before, and its signature and
/// signer verify; it may not ask to be kept longer than the book's
/// lifetime (by default [`MAX_RECORD_LIFETIME_MS`]) past the skew, and a new signer is taken only
/// while the book tracks fewer than its signer cap. Replay protection outlives the record itself: after
/// [`RecordBook::remove`] or expiry the signer's newest timestamp is kept
/// until that record would have expired, so re-sending an old record cannot
/// bring a signer back; after that, any replay is rejected as expired.
#[derive(Debug)]
pub struct RecordBook {
    kind: u8,
    max_skew_ms: u64,
    max_lifetime_ms: u64,
    max_signers: usize,
    current: HashMap<AgentId, Record>,
    /// Newest accepted (timestamp, expires_at) per signer.
    high_water: HashMap<AgentId, (u64, u64)>,
    rejections: HashMap<RecordRejection, u64>,
    accepted: u64,
}

/// Signers a book tracks unless told otherwise: a presence beacon record is
/// at most ~5.6 KB, so about 90 MB at the cap.
pub const DEFAULT_MAX_SIGNERS: usize = 16_384;

impl RecordBook {
    /// A book for records of `kind`, accepting timestamps at most
    /// `max_skew_ms` ahead of the local clock.
    pub fn new(kind: u8, max_skew_ms: u64) -> Self {
        Self {
            kind,
            max_skew_ms,
            max_lifetime_ms: MAX_RECORD_LIFETIME_MS,
            max_signers: DEFAULT_MAX_SIGNERS,
            current: HashMap::new(),
            high_water: HashMap::new(),
            rejections: HashMap::new(),
            accepted: 0,
        }
    }

    /// The same book refusing records that ask to be kept more than
    /// `max_lifetime_ms` past the skew, instead of [`MAX_RECORD_LIFETIME_MS`]
    /// (for a kind whose records may honestly live longer).
    pub fn with_max_lifetime(mut self, max_lifetime_ms: u64) -> Self {
        self.max_lifetime_ms = max_lifetime_ms;
        self
    }

    /// The same book tracking at most `max_signers` signers (at least 1).
    pub fn with_max_signers(mut self, max_signers: usize) -> Self {
        self.max_signers = max_signers.max(1);
        self
    }

    /// Checks `bytes` and, if acceptable, makes it the signer's current
    /// record. Every rejection is counted.
    pub fn offer(&mut self, bytes: &[u8], now_ms: u64) -> Result<Record, RecordRejection> {
        if self.high_water.len() >= self.max_signers {
            // Marks of expired records protect nothing any more.
            self.high_water.retain(|_, (_, exp)| *exp > now_ms);
        }
        let result = self.check(bytes, now_ms);
        match &result {
            Ok(record) => {
                self.accepted += 1;
                self.high_water
                    .insert(record.signer, (record.timestamp, record.expires_at));
                self.current.insert(record.signer, record.clone());
            }
            Err(why) => *self.rejections.entry(*why).or_default() += 1,
        }
        result
    }

    fn check(&self, bytes: &[u8], now_ms: u64) -> Result<Record, RecordRejection> {
        let record = codec::decode(bytes)?;
        if record.kind != self.kind {
            return Err(RecordRejection::WrongKind);
        }
        if record.expires_at <= now_ms {
            return Err(RecordRejection::Expired);
        }
        if record.timestamp > now_ms.saturating_add(self.max_skew_ms) {
            return Err(RecordRejection::FromFuture);
        }
        if record.expires_at > now_ms.saturating_add(self.max_skew_ms).saturating_add(self.max_lifetime_ms) {
            return Err(RecordRejection::TooLong);
        }
        // Before the signature check, so a flood of new signers costs no
        // verify once the book is full.
        if self.high_water.len() >= self.max_signers && !self.high_water.contains_key(&record.signer) {
            return Err(RecordRejection::Full);
        }
        if let Some((last, _)) = self.high_water.get(&record.signer) {
            if record.timestamp <= *last {
                return Err(RecordRejection::Replayed);
            }
        }
        // Last, because it is by far the most expensive check.
        record.verify()?;
        Ok(record)
    }

    /// Forgets the signer's current record (e.g. after an explicit offline
    /// beacon), keeping its replay protection. Returns whether there was one.
    pub fn remove(&mut self, signer: &AgentId) -> bool {
        self.current.remove(signer).is_some()
    }

    /// Drops every record whose expiry has passed and returns them.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Record> {
        let gone: Vec<AgentId> = self
            .current
            .iter()
            .filter(|(_, r)| r.expires_at <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        // Once the newest record has expired, every older one has too (or
        // will fail the expiry check), so the high-water mark can go.
        self.high_water.retain(|_, (_, exp)| *exp > now_ms);
        gone.iter()
            .filter_map(|id| self.current.remove(id))
            .collect()
    }

    /// The current records, unordered.
    pub fn records(&self) -> Vec<Record> {
        self.current.values().cloned().collect()
    }

    /// Records accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Rejections so far, by reason.
    pub fn rejections(&self) -> Vec<(RecordRejection, u64)> {
        self.rejections.iter().map(|(k, v)| (*k, *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AgentKeypair;

    const KIND: u8 = 2;

    fn count(book: &RecordBook, why: RecordRejection) -> u64 {
        book.rejections()
            .into_iter()
            .find(|(k, _)| *k == why)
            .map_or(0, |(_, n)| n)
    }

    #[test]
    fn refuses_records_that_ask_to_live_longer_than_a_day() {
        let k = AgentKeypair::generate().unwrap();
        let mut book = RecordBook::new(KIND, 1_000);
        let forever = codec::sign(&k, KIND, b"", 100, u64::MAX).unwrap();
        assert_eq!(book.offer(&forever, 150), Err(RecordRejection::TooLong));
        let day = codec::sign(&k, KIND, b"", 100, 150 + 1_000 + MAX_RECORD_LIFETIME_MS).unwrap();
        assert!(book.offer(&day, 150).is_ok(), "exactly the limit is fine");
        assert_eq!(count(&book, RecordRejection::TooLong), 1);
    }

    #[test]
    fn a_full_book_refuses_new_signers_but_not_known_ones() {
        let keys: Vec<_> = (0..3).map(|_| AgentKeypair::generate().unwrap()).collect();
        let mut book = RecordBook::new(KIND, 1_000).with_max_signers(2);
        book.offer(&codec::sign(&keys[0], KIND, b"", 10, 1_000).unwrap(), 20).unwrap();
        book.offer(&codec::sign(&keys[1], KIND, b"", 10, 5_000).unwrap(), 20).unwrap();
        assert_eq!(book.offer(&codec::sign(&keys[2], KIND, b"", 10, 5_000).unwrap(), 20), Err(RecordRejection::Full));
        assert!(book.offer(&codec::sign(&keys[1], KIND, b"", 11, 5_000).unwrap(), 20).is_ok(), "a known signer renews");
        // Once a signer's newest record expired, its place is free again.
        assert!(book.offer(&codec::sign(&keys[2], KIND, b"", 1_100, 5_000).unwrap(), 1_100).is_ok());
        assert_eq!(count(&book, RecordRejection::Full), 1);
    }

    #[test]
    fn accepts_newer_and_rejects_replays_and_older() {
        let k = AgentKeypair::generate().unwrap();
        let mut book = RecordBook::new(KIND, 1_000);
        let r1 = codec::sign(&k, KIND, b"a", 100, 10_000).unwrap();
        let r2 = codec::sign(&k, KIND, b"b", 200, 10_000).unwrap();
        assert_eq!(book.offer(&r1, 150).unwrap().body, b"a");
        assert_eq!(book.offer(&r1, 150), Err(RecordRejection::Replayed));
        assert_eq!(book.offer(&r2, 250).unwrap().body, b"b");
        assert_eq!(book.offer(&r1, 250), Err(RecordRejection::Replayed));
        assert_eq!(count(&book, RecordRejection::Replayed), 2);
        assert_eq!(book.records().len(), 1);
        assert_eq!(book.records()[0].body, b"b");
    }

    #[test]
    fn rejects_expired_future_wrong_kind_and_forged() {
        let (k, other) = (
            AgentKeypair::generate().unwrap(),
            AgentKeypair::generate().unwrap(),
        );
        let mut book = RecordBook::new(KIND, 1_000);
        assert_eq!(
            book.offer(&codec::sign(&k, KIND, b"", 1, 50).unwrap(), 100),
            Err(RecordRejection::Expired)
        );
        assert_eq!(
            book.offer(&codec::sign(&k, KIND, b"", 5_000, 9_000).unwrap(), 100),
            Err(RecordRejection::FromFuture)
        );
        assert_eq!(
            book.offer(&codec::sign(&k, 9, b"", 1, 500).unwrap(), 100),
            Err(RecordRejection::WrongKind)
        );
        let mut forged = codec::sign(&other, KIND, b"", 1, 500).unwrap();
        forged[2..34].copy_from_slice(&k.agent_id());
        assert_eq!(
            book.offer(&forged, 100),
            Err(RecordRejection::SignerMismatch)
        );
        let mut tampered = codec::sign(&k, KIND, b"x", 1, 500).unwrap();
        tampered[52] = b'y';
        assert_eq!(
            book.offer(&tampered, 100),
            Err(RecordRejection::BadSignature)
        );
        assert_eq!(book.offer(b"junk", 100), Err(RecordRejection::Malformed));
        assert!(book.records().is_empty());
        assert_eq!(book.accepted(), 0);
        // A rejected forgery must not raise the signer's high-water mark.
        assert!(book
            .offer(&codec::sign(&k, KIND, b"", 2, 500).unwrap(), 100)
            .is_ok());
    }

    #[test]
    fn expiry_drops_records_and_removal_keeps_replay_protection() {
        let (a, b) = (
            AgentKeypair::generate().unwrap(),
            AgentKeypair::generate().unwrap(),
        );
        let mut book = RecordBook::new(KIND, 1_000);
        let ra = codec::sign(&a, KIND, b"", 10, 1_000).unwrap();
        book.offer(&ra, 20).unwrap();
        book.offer(&codec::sign(&b, KIND, b"", 10, 5_000).unwrap(), 20)
            .unwrap();
        assert!(book.expire(999).is_empty());
        let gone = book.expire(1_000);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].signer, a.agent_id());
        assert_eq!(book.records().len(), 1);
        assert!(book.remove(&b.agent_id()));
        assert!(!book.remove(&b.agent_id()));
        assert!(book.records().is_empty());
        let rb = codec::sign(&b, KIND, b"", 10, 5_000).unwrap();
        assert_eq!(book.offer(&rb, 1_500), Err(RecordRejection::Replayed));
        assert_eq!(book.offer(&ra, 1_500), Err(RecordRejection::Expired));
    }
}
