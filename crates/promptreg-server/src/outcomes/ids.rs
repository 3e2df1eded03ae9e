//! The ids of accepted events, per project, so a repeated id is refused while it can still
//! count: for the accept window plus the allowed clock skew after it was accepted.
//!
//! Ids are remembered as 64-bit FNV-1a hashes (stable across processes, so the hashes a
//! replica persists mean the same after a restart). With 64 bits, two different ids collide
//! with probability ~n²/2⁶⁵: about 3·10⁻⁸ for a million ids in the window.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, Utc};

/// FNV-1a, 64 bits.
pub fn hash_id(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The keys are hashes already: hashing them again would only cost time.
#[derive(Default)]
pub struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdSet = HashMap<u64, i64, BuildHasherDefault<Identity>>;

/// One project's remembered ids.
#[derive(Default)]
pub struct ProjectIds {
    /// Hash → the bucket (minute) it was remembered in.
    seen: IdSet,
    /// Buckets oldest first, to forget them in order.
    buckets: VecDeque<(i64, Vec<u64>)>,
    /// Accepted since the last flush (persisted by the flusher).
    pub pending: Vec<u64>,
}

fn minute(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

impl ProjectIds {
    /// Whether `hash` was accepted (and not yet forgotten).
    pub fn contains(&self, hash: u64) -> bool {
        self.seen.contains_key(&hash)
    }

    /// Remembers a hash accepted at `at`; `fresh` ones are also queued for the flusher.
    pub fn insert(&mut self, hash: u64, at: DateTime<Utc>, fresh: bool) {
        let bucket = minute(at);
        self.seen.insert(hash, bucket);
        match self.buckets.back_mut() {
            Some((b, hashes)) if *b >= bucket => hashes.push(hash),
            _ => self.buckets.push_back((bucket, vec![hash])),
        }
        if fresh {
            self.pending.push(hash);
        }
    }

    /// Forgets hashes remembered before `before`.
    pub fn expire(&mut self, before: DateTime<Utc>) {
        let limit = minute(before);
        while let Some((bucket, _)) = self.buckets.front() {
            if *bucket >= limit {
                break;
            }
            let Some((bucket, hashes)) = self.buckets.pop_front() else {
                break;
            };
            for h in hashes {
                // Only when not remembered again later (a re-sent id after the window).
                if self.seen.get(&h) == Some(&bucket) {
                    self.seen.remove(&h);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn ids_are_forgotten_after_their_bucket_expires() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap();
        let mut ids = ProjectIds::default();
        ids.insert(hash_id("a"), t0, true);
        ids.insert(hash_id("b"), t0 + chrono::Duration::minutes(2), true);
        assert!(ids.contains(hash_id("a")) && ids.contains(hash_id("b")));
        assert!(!ids.contains(hash_id("c")));
        ids.expire(t0 + chrono::Duration::minutes(1));
        assert!(!ids.contains(hash_id("a")));
        assert!(ids.contains(hash_id("b")));
        assert_eq!(ids.pending.len(), 2);
    }

    #[test]
    fn fnv_matches_the_published_vectors() {
        // FNV-1a 64 test vectors (Fowler, Noll, Vo: "" and "a").
        assert_eq!(hash_id(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash_id("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash_id("foobar"), 0x8594_4171_f739_67e8);
    }
}
