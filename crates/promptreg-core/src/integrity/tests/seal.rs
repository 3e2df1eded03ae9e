//! Sealing content at rest: what opens, and everything that must not.

use crate::content::{Digest, PromptContent};
use crate::integrity::seal::{self, Binding, DataKey, KeyEncryptionKey, SealError, SealedContent};
use crate::name::{ProjectId, PromptName, Version};

/// A local KEK as the server's key file provider builds one, with nonces from a counter.
struct TestKek {
    key: [u8; 32],
    id: String,
    next: std::sync::atomic::AtomicU8,
}

impl TestKek {
    fn new(n: u8) -> Self {
        let key = [n; 32];
        Self {
            key,
            id: seal::kek_id(&key),
            next: Default::default(),
        }
    }
}

impl KeyEncryptionKey for TestKek {
    fn id(&self) -> &str {
        &self.id
    }
    fn wrap(&self, key: &DataKey, aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        seal::wrap_key(&self.key, [n; 12], key, aad)
    }
    fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<DataKey, SealError> {
        seal::unwrap_key(&self.key, &self.id, wrapped, aad)
    }
}

const TEMPLATE: &str = "You are a careful assistant for {{ customer }}.";

fn content(template: &str) -> PromptContent {
    PromptContent::from_value(&serde_json::json!({
        "type": "text",
        "template": template,
        "variables": {"type": "object"},
        "model": {"name": "gpt-x", "temperature": 0.2},
    }))
    .unwrap()
}

struct Row {
    project: ProjectId,
    name: PromptName,
    version: Version,
    digest: Digest,
}

impl Row {
    fn new(project: &str, name: &str, version: i64, c: &PromptContent) -> Self {
        Self {
            project: ProjectId::parse(project).unwrap(),
            name: PromptName::parse(name).unwrap(),
            version: Version::new(version).unwrap(),
            digest: c.digest(),
        }
    }
    fn binding(&self) -> Binding<'_> {
        Binding {
            project: &self.project,
            name: &self.name,
            version: self.version,
            digest: &self.digest,
        }
    }
}

fn sealed(kek: &TestKek, row: &Row, c: &PromptContent) -> SealedContent {
    seal::seal(
        kek,
        &row.binding(),
        c,
        DataKey::from_bytes([7; 32]),
        [9; 12],
    )
    .unwrap()
}

#[test]
fn seals_and_opens_without_plaintext_in_the_row() {
    let kek = TestKek::new(1);
    let c = content(TEMPLATE);
    let row = Row::new("default", "greeting", 1, &c);
    let s = sealed(&kek, &row, &c);
    assert_eq!(s.alg, "aes-256-gcm");
    assert_eq!(s.kek_id, kek.id());
    assert_eq!(s.wrapped_key.len(), 60);
    let stored = format!("{s:?}");
    assert!(!stored.contains("careful assistant"), "{stored}");
    assert!(!String::from_utf8_lossy(&s.ciphertext).contains("careful"));
    let opened = seal::open(&kek, &row.binding(), &s).unwrap();
    assert_eq!(opened.digest(), c.digest());
    assert_eq!(opened.body().template(), Some(TEMPLATE));
    assert_eq!(opened.model(), c.model());
}

#[test]
fn another_rows_binding_does_not_open() {
    let kek = TestKek::new(1);
    let c = content(TEMPLATE);
    let row = Row::new("default", "greeting", 1, &c);
    let s = sealed(&kek, &row, &c);
    for other in [
        Row::new("default", "greeting", 2, &c),
        Row::new("default", "farewell", 1, &c),
        Row::new("other", "greeting", 1, &c),
        Row {
            digest: content("another").digest(),
            ..Row::new("default", "greeting", 1, &c)
        },
    ] {
        let e = seal::open(&kek, &other.binding(), &s).unwrap_err();
        // The wrapped key is bound too, so the data key does not even come out.
        assert!(matches!(e, SealError::Unwrap { .. }), "{e}");
    }
}

#[test]
fn a_ciphertext_moved_under_another_rows_wrapped_key_does_not_open() {
    let kek = TestKek::new(1);
    let (a, b) = (content(TEMPLATE), content("Goodbye, {{ customer }}."));
    let (ra, rb) = (
        Row::new("default", "greeting", 1, &a),
        Row::new("default", "greeting", 2, &b),
    );
    let (sa, sb) = (sealed(&kek, &ra, &a), sealed(&kek, &rb, &b));
    // Only the ciphertext (and nonce) swapped: the key unwraps, the content AEAD refuses.
    let swapped = SealedContent {
        ciphertext: sb.ciphertext.clone(),
        nonce: sb.nonce.clone(),
        ..sa.clone()
    };
    assert_eq!(
        seal::open(&kek, &ra.binding(), &swapped).unwrap_err(),
        SealError::Decrypt
    );
    // Everything swapped: the key is bound to the other row.
    assert!(matches!(
        seal::open(&kek, &ra.binding(), &sb).unwrap_err(),
        SealError::Unwrap { .. }
    ));
}

#[test]
fn the_wrong_kek_does_not_open() {
    let c = content(TEMPLATE);
    let row = Row::new("default", "greeting", 1, &c);
    let s = sealed(&TestKek::new(1), &row, &c);
    // Another key under the same id (a replaced key file) fails the unwrap.
    let mut impostor = TestKek::new(2);
    impostor.id = s.kek_id.clone();
    assert!(matches!(
        seal::open(&impostor, &row.binding(), &s).unwrap_err(),
        SealError::Unwrap { .. }
    ));
    // A KEK with another id is not even tried.
    assert_eq!(
        seal::open(&TestKek::new(2), &row.binding(), &s).unwrap_err(),
        SealError::UnknownKek(s.kek_id.clone())
    );
}

#[test]
fn every_tampered_byte_fails() {
    let kek = TestKek::new(1);
    let c = content(TEMPLATE);
    let row = Row::new("default", "greeting", 1, &c);
    let s = sealed(&kek, &row, &c);
    for i in 0..s.ciphertext.len() {
        let mut t = s.clone();
        t.ciphertext[i] ^= 1;
        assert_eq!(
            seal::open(&kek, &row.binding(), &t).unwrap_err(),
            SealError::Decrypt
        );
    }
    for i in 0..s.wrapped_key.len() {
        let mut t = s.clone();
        t.wrapped_key[i] ^= 0x80;
        assert!(seal::open(&kek, &row.binding(), &t).is_err(), "byte {i}");
    }
    let mut t = s.clone();
    t.nonce[0] ^= 1;
    assert_eq!(
        seal::open(&kek, &row.binding(), &t).unwrap_err(),
        SealError::Decrypt
    );
    let mut t = s.clone();
    t.ciphertext.truncate(4);
    assert_eq!(
        seal::open(&kek, &row.binding(), &t).unwrap_err(),
        SealError::Decrypt
    );
    let mut t = s.clone();
    t.nonce.pop();
    assert_eq!(
        seal::open(&kek, &row.binding(), &t).unwrap_err(),
        SealError::Malformed("nonce")
    );
    let t = SealedContent {
        alg: "rot13".into(),
        ..s
    };
    assert_eq!(
        seal::open(&kek, &row.binding(), &t).unwrap_err(),
        SealError::Algorithm("rot13".into())
    );
}

#[test]
fn rewrap_changes_only_the_wrapped_key() {
    let (old, new) = (TestKek::new(1), TestKek::new(2));
    let c = content(TEMPLATE);
    let row = Row::new("default", "greeting", 3, &c);
    let s = sealed(&old, &row, &c);
    let r = seal::rewrap(&old, &new, &row.binding(), &s).unwrap();
    assert_eq!(r.ciphertext, s.ciphertext);
    assert_eq!(r.nonce, s.nonce);
    assert_eq!(r.kek_id, new.id());
    assert_ne!(r.wrapped_key, s.wrapped_key);
    assert_eq!(
        seal::open(&new, &row.binding(), &r).unwrap().digest(),
        c.digest()
    );
    assert!(seal::open(&old, &row.binding(), &r).is_err());
    // A rewrap cannot move a key to another row either.
    let other = Row::new("default", "greeting", 4, &c);
    assert!(seal::rewrap(&old, &new, &other.binding(), &s).is_err());
}

#[test]
fn kek_ids_name_the_key() {
    assert_eq!(seal::kek_id(&[1; 32]), seal::kek_id(&[1; 32]));
    assert_ne!(seal::kek_id(&[1; 32]), seal::kek_id(&[2; 32]));
    assert_eq!(seal::kek_id(&[1; 32]).len(), 16);
}
