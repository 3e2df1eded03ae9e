use sha2::{Digest as _, Sha256};

use super::{test_key, unhex};
use crate::integrity::{IntegrityError, KeyRing, PublicKey, SigningKey};

/// RFC 8410 §10.3: an Ed25519 private key as PKCS#8 PEM, and its public key (§10.1).
const RFC8410_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
-----END PRIVATE KEY-----\n";
const RFC8410_PUBLIC: &str = "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1";

#[test]
fn reads_and_writes_the_rfc_8410_pem_byte_for_byte() {
    let key = SigningKey::from_pkcs8_pem(RFC8410_PEM).unwrap();
    assert_eq!(hex::encode(key.public().bytes()), RFC8410_PUBLIC);
    assert_eq!(key.to_pkcs8_pem(), RFC8410_PEM);
    // Surrounding whitespace, as a file read from disk or an environment variable may carry.
    let padded = format!("\n  {RFC8410_PEM}\n");
    assert_eq!(
        SigningKey::from_pkcs8_pem(&padded).unwrap().key_id(),
        key.key_id()
    );
}

#[test]
fn the_key_id_is_the_first_8_bytes_of_sha256_of_the_public_key() {
    let key = SigningKey::from_pkcs8_pem(RFC8410_PEM).unwrap();
    let want = hex::encode(&Sha256::digest(unhex(RFC8410_PUBLIC))[..8]);
    assert_eq!(key.key_id(), want);
    assert_eq!(key.key_id().len(), 16);
    assert_eq!(key.public().key_id(), want);
}

#[test]
fn a_pem_that_is_not_an_ed25519_key_says_how_to_make_one() {
    for bad in ["", "hello", RFC8410_PEM.replace("MC4C", "MC5C").as_str()] {
        let err = SigningKey::from_pkcs8_pem(bad).unwrap_err();
        assert!(matches!(err, IntegrityError::PrivateKey(_)), "{err}");
        assert!(err
            .to_string()
            .contains("openssl genpkey -algorithm ed25519"));
    }
}

/// RFC 8032 §7.1, TEST 1 and TEST 2.
#[test]
fn signs_and_verifies_the_rfc_8032_vectors() {
    let vectors = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (seed, public, msg, sig) in vectors {
        let key = SigningKey::from_seed(unhex(seed).try_into().unwrap());
        assert_eq!(hex::encode(key.public().bytes()), public);
        assert_eq!(hex::encode(key.sign(&unhex(msg))), sig);
        let public = PublicKey::from_bytes(&unhex(public)).unwrap();
        public.verify(&unhex(msg), &unhex(sig)).unwrap();

        let mut flipped = unhex(sig);
        flipped[10] ^= 1;
        assert!(public.verify(&unhex(msg), &flipped).is_err());
        assert!(public.verify(b"another message", &unhex(sig)).is_err());
        assert!(public.verify(&unhex(msg), &unhex(sig)[..63]).is_err());
    }
}

#[test]
fn public_keys_round_trip_through_base64_and_refuse_bad_bytes() {
    let public = test_key(1).public();
    assert_eq!(PublicKey::from_base64(&public.to_base64()).unwrap(), public);
    assert!(PublicKey::from_bytes(&[0; 31]).is_err());
    assert!(PublicKey::from_base64("not base64!").is_err());
    // The identity point: every signature "verifies" under a small-order key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let err = PublicKey::from_bytes(&identity).unwrap_err();
    assert!(err.to_string().contains("small-order"), "{err}");
}

#[test]
fn debug_output_never_shows_the_secret() {
    let key = SigningKey::from_seed([0xab; 32]);
    let shown = format!("{key:?}");
    assert!(shown.contains(key.key_id()));
    assert!(
        !shown.contains("abab") && !shown.contains("171, 171"),
        "{shown}"
    );
}

#[test]
fn a_key_ring_finds_keys_by_id() {
    let (a, b) = (test_key(1).public(), test_key(2).public());
    let ring = KeyRing::new(vec![a.clone(), b.clone(), a.clone()]);
    assert_eq!(ring.len(), 2);
    assert_eq!(ring.get(a.key_id()), Some(&a));
    assert_eq!(ring.get(b.key_id()), Some(&b));
    assert_eq!(ring.get("0000000000000000"), None);
    assert!(KeyRing::default().is_empty());
}
