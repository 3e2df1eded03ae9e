//! Sticky assignment: which arm of a rollout a subject (agent, session, tenant) gets.
//!
//! The bucket is Unleash's rollout hash with a finer modulus:
//! `murmur3_x86_32("<rollout id>:<subject>", seed 0) % 10_000`. A subject keeps its bucket for
//! the whole rollout, so while the weight only rises a subject on the candidate stays there;
//! a fresh rollout id gives a fresh cohort (the same agents are not always the canaries).

/// Buckets per fleet: weights are in 1/10,000 (0.01 %) of the fleet.
pub const BUCKETS: u32 = 10_000;

/// MurmurHash3 x86_32 of `bytes` with `seed` (the `murmur3` crate's implementation).
pub fn murmur3_x86_32(bytes: &[u8], seed: u32) -> u32 {
    // Reading from a slice cannot fail.
    murmur3::murmur3_32(&mut std::io::Cursor::new(bytes), seed).unwrap_or_default()
}

/// The bucket, in `0..10_000`, of `subject` in rollout `rollout_id`.
pub fn bucket(rollout_id: &str, subject: &str) -> u32 {
    let key = format!("{rollout_id}:{subject}");
    murmur3_x86_32(key.as_bytes(), 0) % BUCKETS
}

/// Whether a subject in `bucket` gets the candidate at `weight` (in 1/10,000).
pub fn is_candidate(bucket: u32, weight: u32) -> bool {
    bucket < weight
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Published MurmurHash3 x86_32 vectors (SMHasher's verification values as quoted by
    /// the reference implementations' test suites).
    #[test]
    fn murmur3_matches_published_vectors() {
        let cases: &[(&[u8], u32, u32)] = &[
            (b"", 0, 0),
            (b"", 1, 0x514E_28B7),
            (b"", 0xffff_ffff, 0x81F1_6F39),
            (b"\xff\xff\xff\xff", 0, 0x7629_3B50),
            (b"\x21\x43\x65\x87", 0, 0xF55B_516B),
            (b"\x21\x43\x65\x87", 0x5082_EDEE, 0x2362_F9DE),
            (b"\x21\x43\x65", 0, 0x7E4A_8634),
            (b"\x21\x43", 0, 0xA0F7_B07A),
            (b"\x21", 0, 0x7266_1CF4),
            (b"\x00\x00\x00\x00", 0, 0x2362_F9DE),
            (b"Hello, world!", 1234, 0xFAF6_CDB3),
            (
                b"The quick brown fox jumps over the lazy dog",
                0,
                0x2E4F_F723,
            ),
        ];
        for (input, seed, expected) in cases {
            assert_eq!(
                murmur3_x86_32(input, *seed),
                *expected,
                "{input:?} seed {seed:#x}"
            );
        }
    }

    /// Unleash's own vectors: `murmur3("<group>:<id>", 0) % 100 + 1` (client specification,
    /// gradual rollout by user id), so our hash is the one every Unleash SDK computes.
    #[test]
    fn unleash_normalized_vectors() {
        let unleash =
            |group: &str, id: &str| murmur3_x86_32(format!("{group}:{id}").as_bytes(), 0) % 100 + 1;
        assert_eq!(unleash("AB12A", "123"), 51);
        assert_eq!(unleash("AB12A", "122"), 23);
        assert_eq!(unleash("AB12A", "155"), 100);
    }

    #[test]
    fn buckets_are_sticky_and_uniform() {
        assert_eq!(bucket("r1", "agent-7"), bucket("r1", "agent-7"));
        let mut hits = 0;
        for i in 0..100_000 {
            if is_candidate(bucket("rollout-x", &format!("agent-{i}")), 500) {
                hits += 1;
            }
        }
        // 5 % of 100,000 = 5,000; 4 standard deviations is ~276.
        assert!((4_724..=5_276).contains(&hits), "{hits}");
    }

    #[test]
    fn raising_the_weight_only_adds_subjects() {
        for i in 0..1_000 {
            let b = bucket("r", &format!("s{i}"));
            for (low, high) in [(100, 500), (500, 5_000), (5_000, 10_000)] {
                assert!(!is_candidate(b, low) || is_candidate(b, high));
            }
        }
        assert!(!is_candidate(0, 0));
        assert!(is_candidate(9_999, 10_000));
    }
}
