//! Tests of the integrity primitives, against published test vectors where they exist: RFC 8032
//! and RFC 8410 (keys), DSSE's PAE example, Go's `transparency-dev/merkle` RFC 6962 vectors and
//! Go's `golang.org/x/mod/sumdb/note` notes. The Merkle tree is also cross-checked against the
//! `ct-merkle` crate by property tests.

mod dsse;
mod keys;
mod merkle_probes;
mod merkle_props;
mod merkle_vectors;
mod note;
mod seal;
mod statement;

use super::keys::SigningKey;

/// A fixed key, so that signatures in the tests are reproducible.
fn test_key(n: u8) -> SigningKey {
    SigningKey::from_seed([n; 32])
}

/// Decodes hex that the test wrote itself.
fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}
