//! in-toto Statement v1 with promptreg's predicates: a published version, a pointer move
//! (deploy or rollback), and an export (the server's word on a snapshot of a project).
//!
//! The subject names the thing (`<project>/<name>@<version>`, `<project>/<env>/<name>#<seq>`,
//! `<project>/snapshot@<tree size>`) and carries its digest; the predicate says who did what when. Opening a statement
//! checks the payload type, the statement and predicate types, and that the subject's name is
//! the one its own predicate implies, so a signed version 3 cannot be presented as version 4.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE};
use super::keys::{KeyRing, SigningKey};
use super::IntegrityError;
use crate::{DeployKind, Digest, EnvName, ProjectId, PromptName, Version};

/// The `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of a published prompt version.
pub const VERSION_PREDICATE: &str = "https://promptreg.dev/attestation/prompt-version/v1";
/// The predicate type of a pointer move (deploy or rollback).
pub const DEPLOYMENT_PREDICATE: &str = "https://promptreg.dev/attestation/deployment/v1";
/// The predicate type of an export bundle's signature.
pub const EXPORT_PREDICATE: &str = "https://promptreg.dev/attestation/export/v1";

/// An in-toto statement: subjects (name and digests) and a typed predicate about them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// Which predicate schema `predicate` follows.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The claim itself.
    pub predicate: Value,
}

/// One subject of a statement.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// A name for humans and for matching: see the module doc.
    pub name: String,
    /// Algorithm to lowercase hex digest, here `{"sha256": …}`.
    pub digest: BTreeMap<String, String>,
}

/// The claim that a prompt version with the subject's digest was published.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct VersionPredicate {
    /// The tenant.
    pub project: ProjectId,
    /// The prompt.
    pub name: PromptName,
    /// Its number.
    pub version: Version,
    /// The version it was published on top of, if any.
    pub parent: Option<Version>,
    /// Who published it.
    pub author: String,
    /// Why, in the author's words.
    pub commit_message: Option<String>,
    /// Digest of the version's metadata (which is not content).
    pub metadata_digest: Digest,
    /// When it was published.
    pub created_at: DateTime<Utc>,
}

/// The claim that an environment's pointer moved to the subject's content.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct DeploymentPredicate {
    /// The tenant.
    pub project: ProjectId,
    /// The environment.
    pub env: EnvName,
    /// The prompt.
    pub name: PromptName,
    /// The project's event sequence number of the move.
    pub seq: i64,
    /// Deploy or rollback.
    pub kind: DeployKind,
    /// The version live before, if any.
    pub from_version: Option<Version>,
    /// The version live after.
    pub to_version: Version,
    /// Who moved it.
    pub actor: String,
    /// Why.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The claim that the subject (the SHA-256 of a snapshot's RFC 8785 canonical JSON) is an
/// export of the project whose ledger had `root_hash` at `tree_size` leaves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ExportPredicate {
    /// The tenant.
    pub project: ProjectId,
    /// The ledger's size the snapshot covers.
    pub tree_size: u64,
    /// Base64 RFC 6962 root of the ledger at that size (the server's own tree).
    pub root_hash: String,
    /// When the server signed.
    pub exported_at: DateTime<Utc>,
}

impl ExportPredicate {
    /// The subject name: `<project>/snapshot@<tree size>`.
    pub fn subject_name(&self) -> String {
        format!("{}/snapshot@{}", self.project, self.tree_size)
    }
}

impl VersionPredicate {
    /// The subject name: `<project>/<name>@<version>`.
    pub fn subject_name(&self) -> String {
        format!("{}/{}@{}", self.project, self.name, self.version)
    }
}

impl DeploymentPredicate {
    /// The subject name: `<project>/<env>/<name>#<seq>`.
    pub fn subject_name(&self) -> String {
        format!("{}/{}/{}#{}", self.project, self.env, self.name, self.seq)
    }
}

/// A predicate promptreg signs: its type URI and its subject name.
pub trait Predicate: Serialize + DeserializeOwned {
    /// The `predicateType` URI.
    const TYPE: &'static str;
    /// The name of the statement's one subject.
    fn subject_name(&self) -> String;
}

impl Predicate for VersionPredicate {
    const TYPE: &'static str = VERSION_PREDICATE;
    fn subject_name(&self) -> String {
        VersionPredicate::subject_name(self)
    }
}

impl Predicate for DeploymentPredicate {
    const TYPE: &'static str = DEPLOYMENT_PREDICATE;
    fn subject_name(&self) -> String {
        DeploymentPredicate::subject_name(self)
    }
}

impl Predicate for ExportPredicate {
    const TYPE: &'static str = EXPORT_PREDICATE;
    fn subject_name(&self) -> String {
        ExportPredicate::subject_name(self)
    }
}

impl Statement {
    /// The statement that the snapshot with digest `digest` is the export `p` describes.
    pub fn for_export(digest: &Digest, p: &ExportPredicate) -> Self {
        Statement::about(digest, p)
    }

    /// The statement that the version with content `digest` was published as `p` says.
    pub fn for_version(digest: &Digest, p: &VersionPredicate) -> Self {
        Statement::about(digest, p)
    }

    /// The statement that a pointer moved to the content `digest` as `p` says.
    pub fn for_deployment(digest: &Digest, p: &DeploymentPredicate) -> Self {
        Statement::about(digest, p)
    }

    fn about<P: Predicate>(digest: &Digest, p: &P) -> Self {
        let hex = digest.as_str().trim_start_matches("sha256:").to_owned();
        Statement {
            type_: STATEMENT_TYPE.to_owned(),
            subject: vec![Subject {
                name: p.subject_name(),
                digest: BTreeMap::from([("sha256".to_owned(), hex)]),
            }],
            predicate_type: P::TYPE.to_owned(),
            // The predicates are strings, numbers and timestamps: they always serialise.
            predicate: serde_json::to_value(p).unwrap_or(Value::Null),
        }
    }

    /// RFC 8785 canonical JSON: the bytes that are signed.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // A `Value` predicate cannot hold a non-finite number, the one thing JCS refuses.
        serde_json_canonicalizer::to_vec(self).unwrap_or_default()
    }

    /// The SHA-256 digest of the first subject, if it has one.
    pub fn subject_digest(&self) -> Option<Digest> {
        let hex = self.subject.first()?.digest.get("sha256")?;
        Digest::parse(&format!("sha256:{hex}")).ok()
    }

    /// Checks that the subject is the content `digest` (a statement proves nothing about
    /// content it does not name).
    pub fn verify_subject(&self, digest: &Digest) -> Result<(), IntegrityError> {
        match self.subject_digest() {
            Some(d) if &d == digest => Ok(()),
            found => Err(IntegrityError::Subject {
                expected: digest.to_string(),
                found: found.map(|d| d.to_string()).unwrap_or_default(),
            }),
        }
    }

    /// Signs the canonical bytes as a DSSE envelope of type [`IN_TOTO_PAYLOAD_TYPE`].
    pub fn sign(&self, key: &SigningKey) -> Envelope {
        Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &self.canonical_bytes(), key)
    }
}

/// Verifies `envelope` against `ring` and reads the statement and its predicate `P` from the
/// verified bytes, checking payload type, statement type, predicate type, and that there is one
/// subject, named as the predicate implies, with a SHA-256 digest.
pub fn open<P: Predicate>(
    envelope: &Envelope,
    ring: &KeyRing,
) -> Result<(Statement, P), IntegrityError> {
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(IntegrityError::PayloadType {
            expected: IN_TOTO_PAYLOAD_TYPE.to_owned(),
            found: envelope.payload_type.clone(),
        });
    }
    let payload = envelope.verify(ring)?;
    let statement: Statement =
        serde_json::from_slice(&payload).map_err(|e| IntegrityError::Statement(e.to_string()))?;
    for (field, expected, found) in [
        ("_type", STATEMENT_TYPE, &statement.type_),
        ("predicateType", P::TYPE, &statement.predicate_type),
    ] {
        if found != expected {
            return Err(IntegrityError::StatementType {
                field,
                expected: expected.to_owned(),
                found: found.clone(),
            });
        }
    }
    let predicate: P = serde_json::from_value(statement.predicate.clone())
        .map_err(|e| IntegrityError::Statement(format!("predicate: {e}")))?;
    let expected = predicate.subject_name();
    let found = match statement.subject.as_slice() {
        [one] if statement.subject_digest().is_some() => one.name.clone(),
        [one] => format!("{} without a sha256 digest", one.name),
        many => format!("{} subjects", many.len()),
    };
    if found != expected {
        return Err(IntegrityError::Subject { expected, found });
    }
    Ok((statement, predicate))
}

/// [`open`] for a published version.
pub fn open_version(
    envelope: &Envelope,
    ring: &KeyRing,
) -> Result<(Statement, VersionPredicate), IntegrityError> {
    open(envelope, ring)
}

/// [`open`] for a pointer move.
pub fn open_deployment(
    envelope: &Envelope,
    ring: &KeyRing,
) -> Result<(Statement, DeploymentPredicate), IntegrityError> {
    open(envelope, ring)
}

/// [`open`] for an export bundle's signature.
pub fn open_export(
    envelope: &Envelope,
    ring: &KeyRing,
) -> Result<(Statement, ExportPredicate), IntegrityError> {
    open(envelope, ring)
}
