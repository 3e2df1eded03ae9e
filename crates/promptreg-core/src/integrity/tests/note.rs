//! Signed notes and checkpoints against Go's `golang.org/x/mod/sumdb/note` (note_test.go) and
//! `sumdb/tlog` (note_test.go) vectors.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::test_key;
use crate::integrity::merkle::Hash;
use crate::integrity::note::{open_checkpoint, open_note, sign_checkpoint};
use crate::integrity::{Checkpoint, NoteError, NoteSigner, NoteVerifier, SigningKey};

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
/// Go's private key text: `PRIVATE+KEY+<name>+<hash>+base64(0x01 || seed)`.
const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn peter_signer() -> NoteSigner {
    let typed = STANDARD
        .decode(PETER_SKEY.splitn(5, '+').nth(4).unwrap())
        .unwrap();
    assert_eq!(typed[0], 0x01);
    NoteSigner::new(
        "PeterNeumann",
        SigningKey::from_seed(typed[1..].try_into().unwrap()),
    )
    .unwrap()
}

fn peter() -> NoteVerifier {
    NoteVerifier::parse(PETER_VKEY).unwrap()
}

#[test]
fn signs_exactly_as_go_does() {
    let signer = peter_signer();
    assert_eq!(signer.key_hash(), 0xc74f20a3);
    assert_eq!(signer.verifier_key(), PETER_VKEY);
    assert_eq!(signer.verifier(), peter());
    assert_eq!(signer.sign(TEXT).unwrap(), format!("{TEXT}\n{PETER_SIG}"));
    assert!(matches!(signer.sign("abc"), Err(NoteError::Malformed(_))));
    assert!(matches!(
        signer.sign("a\tb\n"),
        Err(NoteError::Malformed(_))
    ));
}

#[test]
fn opens_go_notes_ignoring_unknown_keys() {
    let enoch = NoteVerifier::parse(ENOCH_VKEY).unwrap();
    let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    assert_eq!(open_note(&both, &[peter()]).unwrap(), TEXT);
    assert_eq!(
        open_note(&both, std::slice::from_ref(&enoch)).unwrap(),
        TEXT
    );
    assert_eq!(open_note(&both, &[peter(), enoch.clone()]).unwrap(), TEXT);
    assert_eq!(
        open_note(&both, &[]).unwrap_err(),
        NoteError::Unverified {
            keys: vec!["PeterNeumann+c74f20a3".into(), "EnochRoot+af0cfe78".into()]
        }
    );
    // Repeated signatures are fine; 101 signature lines are too many to look at.
    let many = |n| format!("{TEXT}\n{}", PETER_SIG.repeat(n));
    assert_eq!(open_note(&many(100), &[peter()]).unwrap(), TEXT);
    assert!(matches!(
        open_note(&many(101), &[peter()]),
        Err(NoteError::Malformed(_))
    ));
    assert!(matches!(
        open_note(&many(101), &[]),
        Err(NoteError::Malformed(_))
    ));
}

#[test]
fn a_changed_note_or_signature_fails() {
    let mut sig = PETER_SIG.to_owned();
    sig.insert_str(60, "ABCD");
    assert_eq!(
        open_note(&format!("{TEXT}\n{sig}"), &[peter()]).unwrap_err(),
        NoteError::BadSignature {
            key: "PeterNeumann+c74f20a3".into()
        }
    );
    let changed = format!("{}\n{PETER_SIG}", TEXT.replace("answer", "Answer"));
    assert!(matches!(
        open_note(&changed, &[peter()]),
        Err(NoteError::BadSignature { .. })
    ));
    // Go's malformed notes (the one with a 0xff byte cannot be a Rust string).
    for bad in [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ] {
        assert!(matches!(open_note(&bad, &[peter()]), Err(NoteError::Malformed(_))), "{bad:?}");
    }
}

/// Go's `TestNewVerifier`: no substring and no one-byte change of a key parses.
#[test]
fn verifier_keys_parse_only_when_intact() {
    assert_eq!(peter().verifier_key(), PETER_VKEY);
    assert_eq!(peter().name(), "PeterNeumann");
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len()) {
                let part = &PETER_VKEY[i..j];
                assert!(NoteVerifier::parse(part).is_err(), "{part}");
            }
        }
    }
    for i in 0..b.len() {
        let mut changed = b.to_vec();
        changed[i] += 1;
        let changed = String::from_utf8(changed).unwrap();
        assert!(NoteVerifier::parse(&changed).is_err(), "{changed}");
    }
    for bad in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(NoteVerifier::parse(bad).is_err(), "{bad}");
    }
    let key = test_key(3).public();
    assert_eq!(
        NoteVerifier::parse(
            &NoteVerifier::from_public("log", &key)
                .unwrap()
                .verifier_key()
        )
        .unwrap(),
        NoteVerifier::from_public("log", &key).unwrap()
    );
    for name in ["", "a b", "a+b", "a\nb"] {
        assert_eq!(
            NoteVerifier::from_public(name, &key).unwrap_err(),
            NoteError::Name(name.into())
        );
        assert!(NoteSigner::new(name, test_key(3)).is_err());
    }
}

#[test]
fn checkpoint_bodies_read_go_sumdb_tree_heads() {
    // sumdb/tlog's golden tree head.
    let golden =
        "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
    let cp = Checkpoint::parse_body(golden).unwrap();
    assert_eq!(
        (cp.origin.as_str(), cp.size),
        ("go.sum database tree", 123456789012)
    );
    assert_eq!(cp.body(), golden);
    let root: Hash = [7; 32];
    let zero = Checkpoint {
        origin: "o".into(),
        size: 0,
        root,
    };
    assert_eq!(Checkpoint::parse_body(&zero.body()).unwrap(), zero);
    for bad in [
        "o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        "o\n01\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
        "o\n+1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
        "o\n1\nBwcH\n",
        "\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
        "o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\nextension\n",
    ] {
        assert!(
            matches!(Checkpoint::parse_body(bad), Err(NoteError::Checkpoint(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn signed_checkpoints_round_trip_and_resist_tampering() {
    let signer = NoteSigner::new("registry.example/acme", test_key(5)).unwrap();
    let cp = Checkpoint {
        origin: "registry.example/acme".into(),
        size: 42,
        root: [9; 32],
    };
    let note = sign_checkpoint(&cp, &signer).unwrap();
    assert!(
        note.starts_with(&format!("{}\n— registry.example/acme ", cp.body())),
        "{note}"
    );
    let verifier = NoteVerifier::parse(&signer.verifier_key()).unwrap();
    assert_eq!(
        open_checkpoint(&note, std::slice::from_ref(&verifier)).unwrap(),
        cp
    );

    let grown = note.replacen("\n42\n", "\n43\n", 1);
    assert!(matches!(
        open_checkpoint(&grown, std::slice::from_ref(&verifier)),
        Err(NoteError::BadSignature { .. })
    ));
    let stranger =
        NoteVerifier::from_public("registry.example/acme", &test_key(6).public()).unwrap();
    assert!(matches!(
        open_checkpoint(&note, &[stranger]),
        Err(NoteError::Unverified { .. })
    ));

    let bad_origin = Checkpoint {
        origin: "two\nlines".into(),
        ..cp
    };
    assert!(matches!(
        sign_checkpoint(&bad_origin, &signer),
        Err(NoteError::Checkpoint(_))
    ));
}
