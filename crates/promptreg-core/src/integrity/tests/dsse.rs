use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::test_key;
use crate::integrity::{pae, Envelope, EnvelopeSignature, IntegrityError, KeyRing};
use crate::Digest;

#[test]
fn pae_matches_the_dsse_specification_example() {
    assert_eq!(
        pae("http://example.com/HelloWorld", b"hello world"),
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    );
    // Lengths are in bytes, not characters.
    assert_eq!(pae("t", "é".as_bytes()), "DSSEv1 1 t 2 é".as_bytes());
}

#[test]
fn a_signed_envelope_verifies_and_hands_back_the_payload() {
    let key = test_key(1);
    let env = Envelope::sign("application/x.test", b"{\"a\":1}", &key);
    assert_eq!(env.signatures[0].keyid, key.key_id());
    assert_eq!(STANDARD.decode(&env.payload).unwrap(), b"{\"a\":1}");
    let ring = KeyRing::new(vec![key.public()]);
    assert_eq!(env.verify(&ring).unwrap(), b"{\"a\":1}");

    // The JSON uses DSSE's field names and reads back identical.
    let json = serde_json::to_value(&env).unwrap();
    assert_eq!(json["payloadType"], "application/x.test");
    assert_eq!(serde_json::from_value::<Envelope>(json).unwrap(), env);
}

#[test]
fn a_changed_payload_or_type_does_not_verify() {
    let key = test_key(1);
    let ring = KeyRing::new(vec![key.public()]);
    let env = Envelope::sign("application/x.test", b"deploy v1", &key);

    let mut payload = env.clone();
    payload.payload = STANDARD.encode(b"deploy v2");
    let mut kind = env.clone();
    kind.payload_type = "application/x.other".into();
    let mut sig = env.clone();
    let mut bytes = STANDARD.decode(&sig.signatures[0].sig).unwrap();
    bytes[0] ^= 0x80;
    sig.signatures[0].sig = STANDARD.encode(bytes);
    for tampered in [payload, kind, sig] {
        let err = tampered.verify(&ring).unwrap_err();
        assert_eq!(
            err,
            IntegrityError::BadSignature {
                keyid: key.key_id().into()
            }
        );
    }

    let mut garbled = env.clone();
    garbled.payload = "%%%".into();
    assert_eq!(
        garbled.verify(&ring).unwrap_err(),
        IntegrityError::Base64("the envelope's payload")
    );
}

#[test]
fn only_keys_of_the_ring_count() {
    let (ours, theirs) = (test_key(1), test_key(2));
    let ring = KeyRing::new(vec![ours.public()]);
    let env = Envelope::sign("t", b"x", &theirs);
    let err = env.verify(&ring).unwrap_err();
    assert_eq!(
        err,
        IntegrityError::Untrusted {
            keyids: vec![theirs.key_id().into()]
        }
    );
    assert!(err.to_string().contains(theirs.key_id()));

    // A stranger claiming our key id: a bad signature, not a pass.
    let mut forged = env.clone();
    forged.signatures[0].keyid = ours.key_id().into();
    assert!(matches!(
        forged.verify(&ring),
        Err(IntegrityError::BadSignature { .. })
    ));

    // An untrusted signature next to a trusted one: the trusted one decides.
    let mut both = Envelope::sign("t", b"x", &theirs);
    both.signatures
        .push(Envelope::sign("t", b"x", &ours).signatures[0].clone());
    assert_eq!(both.verify(&ring).unwrap(), b"x");

    // No key id: every trusted key is tried.
    let mut anonymous = Envelope::sign("t", b"x", &ours);
    anonymous.signatures[0].keyid.clear();
    assert_eq!(anonymous.verify(&ring).unwrap(), b"x");

    let unsigned = Envelope {
        signatures: vec![],
        ..env
    };
    assert_eq!(
        unsigned.verify(&ring).unwrap_err(),
        IntegrityError::Untrusted { keyids: vec![] }
    );
}

#[test]
fn the_digest_is_sha256_of_the_canonical_json_whatever_the_layout() {
    let env = Envelope {
        payload: "eA==".into(),
        payload_type: "t".into(),
        signatures: vec![EnvelopeSignature {
            keyid: "k".into(),
            sig: "c2ln".into(),
        }],
    };
    let canonical =
        r#"{"payload":"eA==","payloadType":"t","signatures":[{"keyid":"k","sig":"c2ln"}]}"#;
    assert_eq!(env.digest(), Digest::of_bytes(canonical.as_bytes()));
    let relaid = r#"{ "signatures": [ {"sig": "c2ln", "keyid": "k"} ], "payloadType": "t", "payload": "eA==" }"#;
    assert_eq!(
        serde_json::from_str::<Envelope>(relaid).unwrap().digest(),
        env.digest()
    );
}
