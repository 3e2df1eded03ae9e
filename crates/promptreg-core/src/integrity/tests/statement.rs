use chrono::{TimeZone, Utc};

use super::test_key;
use crate::integrity::statement::{
    open_deployment, open_version, DEPLOYMENT_PREDICATE, STATEMENT_TYPE, VERSION_PREDICATE,
};
use crate::integrity::{
    DeploymentPredicate, Envelope, IntegrityError, KeyRing, Statement, VersionPredicate,
    IN_TOTO_PAYLOAD_TYPE,
};
use crate::{DeployKind, Digest, EnvName, ProjectId, PromptName, Version};

fn content() -> Digest {
    Digest::of_bytes(b"the content")
}

fn version_predicate() -> VersionPredicate {
    VersionPredicate {
        project: ProjectId::parse("acme").unwrap(),
        name: PromptName::parse("support/triage").unwrap(),
        version: Version::new(3).unwrap(),
        parent: Some(Version::new(2).unwrap()),
        author: "alice".into(),
        commit_message: Some("tighter tone".into()),
        metadata_digest: Digest::of_bytes(b"{}"),
        created_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
    }
}

fn deployment_predicate() -> DeploymentPredicate {
    DeploymentPredicate {
        project: ProjectId::parse("acme").unwrap(),
        env: EnvName::parse("production").unwrap(),
        name: PromptName::parse("support/triage").unwrap(),
        seq: 42,
        kind: DeployKind::Rollback,
        from_version: Some(Version::new(3).unwrap()),
        to_version: Version::new(2).unwrap(),
        actor: "bob".into(),
        reason: None,
        at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 6).unwrap(),
    }
}

#[test]
fn a_version_statement_names_its_subject_and_digest() {
    let st = Statement::for_version(&content(), &version_predicate());
    assert_eq!(st.type_, STATEMENT_TYPE);
    assert_eq!(st.predicate_type, VERSION_PREDICATE);
    assert_eq!(st.subject.len(), 1);
    assert_eq!(st.subject[0].name, "acme/support/triage@3");
    assert_eq!(st.subject_digest(), Some(content()));
    assert_eq!(
        st.subject[0].digest["sha256"],
        content().as_str().trim_start_matches("sha256:")
    );
    assert_eq!(st.predicate["created_at"], "2026-01-02T03:04:05Z");

    let bytes = String::from_utf8(st.canonical_bytes()).unwrap();
    assert!(
        bytes.starts_with(
            r#"{"_type":"https://in-toto.io/Statement/v1","predicate":{"author":"alice""#
        ),
        "{bytes}"
    );
    assert_eq!(serde_json::from_str::<Statement>(&bytes).unwrap(), st);
}

#[test]
fn signed_statements_open_to_their_typed_predicate() {
    let key = test_key(7);
    let ring = KeyRing::new(vec![key.public()]);

    let env = Statement::for_version(&content(), &version_predicate()).sign(&key);
    assert_eq!(env.payload_type, IN_TOTO_PAYLOAD_TYPE);
    let (st, p) = open_version(&env, &ring).unwrap();
    assert_eq!(p, version_predicate());
    st.verify_subject(&content()).unwrap();

    let env = Statement::for_deployment(&content(), &deployment_predicate()).sign(&key);
    let (st, p) = open_deployment(&env, &ring).unwrap();
    assert_eq!(p, deployment_predicate());
    assert_eq!(st.subject[0].name, "acme/production/support/triage#42");
    assert_eq!(st.predicate_type, DEPLOYMENT_PREDICATE);
}

#[test]
fn a_statement_of_another_kind_or_thing_is_refused() {
    let key = test_key(7);
    let ring = KeyRing::new(vec![key.public()]);

    // A deployment presented as a version.
    let env = Statement::for_deployment(&content(), &deployment_predicate()).sign(&key);
    let err = open_version(&env, &ring).unwrap_err();
    assert!(
        matches!(
            err,
            IntegrityError::StatementType {
                field: "predicateType",
                ..
            }
        ),
        "{err}"
    );

    // The right bytes under another payload type (signed as such, so the signature holds).
    let st = Statement::for_version(&content(), &version_predicate());
    let env = Envelope::sign("application/json", &st.canonical_bytes(), &key);
    assert!(matches!(
        open_version(&env, &ring),
        Err(IntegrityError::PayloadType { .. })
    ));

    // A subject that is not the version the predicate describes.
    let mut st = Statement::for_version(&content(), &version_predicate());
    st.subject[0].name = "acme/support/triage@4".into();
    let err = open_version(&st.sign(&key), &ring).unwrap_err();
    assert_eq!(
        err,
        IntegrityError::Subject {
            expected: "acme/support/triage@3".into(),
            found: "acme/support/triage@4".into()
        }
    );

    // Two subjects.
    let mut st = Statement::for_version(&content(), &version_predicate());
    st.subject.push(st.subject[0].clone());
    assert!(matches!(
        open_version(&st.sign(&key), &ring),
        Err(IntegrityError::Subject { .. })
    ));

    // Not a statement at all.
    let env = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, b"[]", &key);
    assert!(matches!(
        open_version(&env, &ring),
        Err(IntegrityError::Statement(_))
    ));

    // Content other than the subject's.
    let st = Statement::for_version(&content(), &version_predicate());
    let err = st.verify_subject(&Digest::of_bytes(b"other")).unwrap_err();
    assert!(matches!(err, IntegrityError::Subject { .. }), "{err}");
}

#[test]
fn another_statement_under_the_same_signature_is_refused() {
    let key = test_key(7);
    let ring = KeyRing::new(vec![key.public()]);
    let mut env = Statement::for_version(&content(), &version_predicate()).sign(&key);
    let mut other = version_predicate();
    other.author = "mallory".into();
    env.payload = Statement::for_version(&content(), &other)
        .sign(&key)
        .payload;
    let err = open_version(&env, &ring).unwrap_err();
    assert!(matches!(err, IntegrityError::BadSignature { .. }), "{err}");
}

#[test]
fn an_export_statement_names_the_snapshot_and_opens_only_as_an_export() {
    use crate::integrity::statement::{open_export, EXPORT_PREDICATE};
    use crate::integrity::ExportPredicate;
    let p = ExportPredicate {
        project: ProjectId::parse("acme").unwrap(),
        tree_size: 12,
        root_hash: "cm9vdA==".into(),
        exported_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 7).unwrap(),
    };
    let snapshot = Digest::of_bytes(b"{\"format\":\"promptreg-snapshot/v1\"}");
    let st = Statement::for_export(&snapshot, &p);
    assert_eq!(st.predicate_type, EXPORT_PREDICATE);
    assert_eq!(st.subject[0].name, "acme/snapshot@12");
    let key = super::test_key(5);
    let ring = KeyRing::new(vec![key.public()]);
    let envelope = st.sign(&key);
    let (opened, predicate) = open_export(&envelope, &ring).unwrap();
    assert_eq!(predicate, p);
    assert!(opened.verify_subject(&snapshot).is_ok());
    assert!(opened.verify_subject(&content()).is_err());
    assert!(matches!(
        open_version(&envelope, &ring),
        Err(IntegrityError::StatementType { .. })
    ));
    let foreign = KeyRing::new(vec![super::test_key(6).public()]);
    assert!(matches!(
        open_export(&envelope, &foreign),
        Err(IntegrityError::Untrusted { .. })
    ));
}
