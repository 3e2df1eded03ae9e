//! The bundle's rows against its leaves: every version's content hashes to its digest and its
//! signature (by a listed key) says what the row says; every deployment record likewise; each
//! `version_created`, `pointer_moved` and `environment_created` leaf has its row and agrees
//! with it. The result is the replay: each leaf with the row to insert before it.

use std::collections::HashMap;

use promptreg_api::{DeploymentView, EnvironmentView, VersionView};
use promptreg_core::content::canonical_json;
use promptreg_core::integrity::statement::{open_deployment, open_version};
use promptreg_core::integrity::{
    DeploymentPredicate, Envelope, IntegrityError, KeyRing, Statement, VersionPredicate,
};
use promptreg_core::{ChangeEvent, Digest, EnvName, ProjectId, PromptName, Version};
use promptreg_store::{DeploymentRecord, Environment, StoredContent, StoredVersion, VersionRecord};
use serde_json::Value;

use super::check::{refuse, Checked, Leaf};
use crate::registry::ServiceError;

/// A row an import writes before its leaf.
pub(super) enum Row {
    /// A version (`version_created`): plaintext to seal, or a pruned version's tombstone.
    Version(Box<StoredVersion>),
    /// A deployment record and its pointer (`pointer_moved`).
    Deployment(Box<DeploymentRecord>),
    /// An environment (`environment_created`).
    Environment(Environment),
}

/// The import, in log order.
pub(super) struct Plan {
    /// Environments no leaf records (created before the ledger): written first.
    pub unlogged: Vec<Environment>,
    /// Each leaf, with the row it records.
    pub steps: Vec<(Option<Row>, Leaf)>,
    /// Versions, deployment records and environments written.
    pub counts: (usize, usize, usize),
}

type MoveKey = (EnvName, PromptName, i64);

/// Checks every row and pairs it with its leaf.
pub(super) fn plan(checked: Checked, project: &ProjectId) -> Result<Plan, ServiceError> {
    let ring = &checked.ring;
    let snapshot = checked.snapshot;
    let mut versions = HashMap::new();
    for view in &snapshot.versions {
        let v = version(view, project, ring)?;
        let key = (v.name.clone(), v.version);
        if versions.insert(key, v).is_some() {
            return Err(refuse(
                &version_row(&view.name, view.version),
                "listed twice",
            ));
        }
    }
    let mut moves: HashMap<MoveKey, DeploymentRecord> = HashMap::new();
    for view in snapshot.history.iter().flat_map(|h| &h.moves) {
        let r = deployment(view, project, ring)?;
        let key = (r.env.clone(), r.name.clone(), r.seq);
        if moves.insert(key, r).is_some() {
            return Err(refuse(&move_row(view), "listed twice"));
        }
    }
    let mut environments = HashMap::new();
    for view in &snapshot.environments {
        let e = environment(view)?;
        environments.insert(e.name.clone(), e);
    }
    let counts = (versions.len(), moves.len(), environments.len());

    let mut steps = Vec::with_capacity(checked.leaves.len());
    for leaf in checked.leaves {
        let index = leaf.entry.seq - 1;
        let row = match leaf.record.as_ref().map(|r| &r.change) {
            Some(ChangeEvent::VersionCreated {
                name,
                version,
                digest,
                signature,
                ..
            }) => {
                let check = version_row(name, *version);
                let v = versions.remove(&(name.clone(), *version)).ok_or_else(|| {
                    refuse(
                        &check,
                        format!("missing, but ledger leaf {index} records its creation"),
                    )
                })?;
                agree(
                    &check,
                    index,
                    &v.digest,
                    digest,
                    v.signature.as_deref(),
                    signature,
                )?;
                Some(Row::Version(Box::new(v)))
            }
            Some(ChangeEvent::PointerMoved {
                env,
                name,
                seq,
                from_version,
                to_version,
                digest,
                kind,
                signature,
                ..
            }) => {
                let r = moves
                    .remove(&(env.clone(), name.clone(), *seq))
                    .ok_or_else(|| {
                        refuse(
                            &format!("deployment record ({env}, '{name}', seq {seq})"),
                            format!("missing, but ledger leaf {index} records the move"),
                        )
                    })?;
                let check = format!("deployment record ({env}, '{name}', seq {seq})");
                if r.from_version != *from_version || r.to_version != *to_version || r.kind != *kind
                {
                    return Err(refuse(
                        &check,
                        format!("it differs from ledger leaf {index}"),
                    ));
                }
                agree(
                    &check,
                    index,
                    &r.digest,
                    digest,
                    r.signature.as_deref(),
                    signature,
                )?;
                Some(Row::Deployment(Box::new(r)))
            }
            Some(ChangeEvent::EnvironmentCreated { env, .. }) => {
                let e = environments.remove(env).ok_or_else(|| {
                    refuse(
                        &format!("environment '{env}'"),
                        format!("missing, but ledger leaf {index} records its creation"),
                    )
                })?;
                Some(Row::Environment(e))
            }
            _ => None,
        };
        steps.push((row, leaf));
    }
    if let Some((name, version)) = versions.keys().next() {
        return Err(refuse(
            &version_row(name, *version),
            "no ledger leaf records its creation",
        ));
    }
    if let Some((env, name, seq)) = moves.keys().next() {
        return Err(refuse(
            &format!("deployment record ({env}, '{name}', seq {seq})"),
            "no ledger leaf records the move",
        ));
    }
    Ok(Plan {
        unlogged: environments.into_values().collect(),
        steps,
        counts,
    })
}

fn version_row(name: impl std::fmt::Display, version: Version) -> String {
    format!("version (prompt '{name}', version {version})")
}

fn move_row(view: &DeploymentView) -> String {
    format!(
        "deployment record ({}, '{}', seq {})",
        view.env, view.name, view.seq
    )
}

/// A row and its leaf name the same digest and the same signature (by the digest of its
/// stored text); a row without a signature is accepted only when its leaf records none.
fn agree(
    check: &str,
    index: i64,
    row: &Digest,
    leaf: &Digest,
    signature: Option<&str>,
    recorded: &Option<Digest>,
) -> Result<(), ServiceError> {
    if row != leaf {
        return Err(refuse(
            check,
            format!("digest {row}, but ledger leaf {index} recorded {leaf}"),
        ));
    }
    let signed = signature.map(|s| Digest::of_bytes(s.as_bytes()));
    if &signed != recorded {
        return Err(refuse(
            check,
            format!("its signature is not the one ledger leaf {index} recorded"),
        ));
    }
    Ok(())
}

/// A signature as stored: the envelope's canonical JSON (what the ledger's digest names).
fn envelope(
    check: &str,
    value: Option<&Value>,
) -> Result<Option<(String, Envelope)>, ServiceError> {
    let Some(value) = value else { return Ok(None) };
    let envelope = serde_json::from_value(value.clone())
        .map_err(|e| refuse(check, format!("its signature is not a DSSE envelope ({e})")))?;
    Ok(Some((canonical_json(value), envelope)))
}

/// A version row: its content recomputes to its digest (a pruned version has none: it is
/// restored as the tombstone it is), and its signature (if any) is by a listed key and signs
/// exactly this row.
fn version(
    view: &VersionView,
    project: &ProjectId,
    ring: &KeyRing,
) -> Result<StoredVersion, ServiceError> {
    let check = version_row(&view.name, view.version);
    let digest = Digest::parse(&view.digest).map_err(|e| refuse(&check, e))?;
    let content = match view.pruned_at {
        Some(pruned_at) => StoredContent::Pruned {
            prompt_type: view.prompt_type,
            pruned_at,
        },
        None => {
            let content = view.content().map_err(|e| refuse(&check, e))?;
            let recomputed = content.digest();
            if recomputed != digest {
                return Err(refuse(
                    &check,
                    format!("its content hashes to {recomputed}, not to its digest {digest}"),
                ));
            }
            StoredContent::Plain(content)
        }
    };
    let signature = envelope(&check, view.signature.as_ref())?;
    if let Some((_, env)) = &signature {
        let expected = VersionPredicate {
            project: project.clone(),
            name: view.name.clone(),
            version: view.version,
            parent: view.parent,
            author: view.created_by.clone(),
            commit_message: view.commit_message.clone(),
            metadata_digest: view.metadata.digest(),
            created_at: view.created_at,
        };
        signs(&check, open_version(env, ring), &digest, &expected)?;
    }
    Ok(VersionRecord {
        name: view.name.clone(),
        version: view.version,
        digest,
        content,
        commit_message: view.commit_message.clone(),
        metadata: view.metadata.clone(),
        parent: view.parent,
        created_by: view.created_by.clone(),
        created_at: view.created_at,
        signature: signature.map(|(text, _)| text),
        ledger_seq: None,
    })
}

/// A deployment record: its signature (if any) is by a listed key and signs exactly it.
fn deployment(
    view: &DeploymentView,
    project: &ProjectId,
    ring: &KeyRing,
) -> Result<DeploymentRecord, ServiceError> {
    let check = move_row(view);
    let env = EnvName::parse(&view.env).map_err(|e| refuse(&check, e))?;
    let name = PromptName::parse(&view.name).map_err(|e| refuse(&check, e))?;
    let digest = Digest::parse(&view.digest).map_err(|e| refuse(&check, e))?;
    let signature = envelope(&check, view.signature.as_ref())?;
    if let Some((_, e)) = &signature {
        let expected = DeploymentPredicate {
            project: project.clone(),
            env: env.clone(),
            name: name.clone(),
            seq: view.seq,
            kind: view.kind,
            from_version: view.from_version,
            to_version: view.to_version,
            actor: view.actor.clone(),
            reason: view.reason.clone(),
            at: view.at,
        };
        signs(&check, open_deployment(e, ring), &digest, &expected)?;
    }
    Ok(DeploymentRecord {
        env,
        name,
        seq: view.seq,
        from_version: view.from_version,
        to_version: view.to_version,
        digest,
        actor: view.actor.clone(),
        reason: view.reason.clone(),
        at: view.at,
        kind: view.kind,
        signature: signature.map(|(text, _)| text),
        ledger_seq: None,
        approval: match (view.approval.as_deref(), &view.change_request) {
            (Some("change_request"), Some(id)) => {
                Some(promptreg_core::change::Approval::ChangeRequest { id: id.clone() })
            }
            (Some(kind), _) => promptreg_core::change::Approval::from_column(kind),
            (None, _) => None,
        },
    })
}

/// An opened signature names `digest` and its predicate is `expected`.
fn signs<P: PartialEq>(
    check: &str,
    opened: Result<(Statement, P), IntegrityError>,
    digest: &Digest,
    expected: &P,
) -> Result<(), ServiceError> {
    let (statement, predicate) =
        opened.map_err(|e| refuse(check, format!("its signature does not verify: {e}")))?;
    statement
        .verify_subject(digest)
        .map_err(|e| refuse(check, format!("its signature is for other content: {e}")))?;
    if &predicate != expected {
        return Err(refuse(
            check,
            "its signature says something else than the row",
        ));
    }
    Ok(())
}

fn environment(view: &EnvironmentView) -> Result<Environment, ServiceError> {
    let check = format!("environment '{}'", view.name);
    Ok(Environment {
        name: EnvName::parse(&view.name).map_err(|e| refuse(&check, e))?,
        protected: view.protected,
        description: view.description.clone(),
        created_by: view.created_by.clone(),
        created_at: view.created_at,
        approvals_required: view.approvals_required,
    })
}
