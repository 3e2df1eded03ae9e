//! Export and import, for disaster recovery (`docs/recovery.md`).
//!
//! Export: the caller reads the project as a snapshot through the ordinary read routes (what
//! `promptreg verify` reads) and asks the server to sign its digest; the server names its own
//! ledger root at the snapshot's tree size, so the signature ties the file to the ledger.
//!
//! Import: the server checks the bundle itself (`check`: the signature, the checkpoint, the
//! leaves against the signed root; `rows`: every row against its leaf and signature), then
//! reproduces the project in one unit of work: the public keys, the environments, and every
//! leaf in log order, each after the row it records, stored verbatim, so digests, history,
//! `ledger_seq`s and the ledger root come out the same. Only into an empty project.

mod check;
mod rows;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use promptreg_api::Bundle;
use promptreg_core::integrity::{ExportPredicate, Hash, Statement};
use promptreg_core::Digest;
use promptreg_store::{ProjectCounts, StoredContent};

use self::rows::Row;
use super::{Action, Caller, Registry, Resource, ServiceError, ServiceResult};

/// The server's signature over an export.
#[derive(Debug, Clone)]
pub struct ExportSigned {
    /// The DSSE envelope, as JSON.
    pub envelope: serde_json::Value,
    /// The key that signed.
    pub key_id: String,
}

/// What an import restored.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The ledger's origin in the bundle.
    pub origin: String,
    /// Leaves restored.
    pub tree_size: u64,
    /// The restored (and signed) root.
    pub root: Hash,
    /// Versions written.
    pub versions: usize,
    /// Deployment records.
    pub deployments: usize,
    /// Environments.
    pub environments: usize,
    /// Keys listed in the bundle.
    pub keys: usize,
    /// When it committed.
    pub at: DateTime<Utc>,
}

impl Registry {
    /// Signs the export of the caller's project whose snapshot has `digest` and covers
    /// `tree_size` leaves: an in-toto statement about the digest, naming this server's ledger
    /// root at that size.
    pub fn sign_export(
        &self,
        caller: &Caller,
        digest: &str,
        tree_size: u64,
    ) -> ServiceResult<ExportSigned> {
        let project = &caller.project;
        self.check(caller, Action::Export, Resource::Project(project))?;
        let digest =
            Digest::parse(digest).map_err(|e| ServiceError::invalid(format!("digest: {e}")))?;
        let root = self
            .ledger
            .root_at(project, tree_size)
            .map_err(|e| ServiceError::Invalid {
                code: "invalid_request",
                message: format!("tree_size: {e}"),
            })?;
        let predicate = ExportPredicate {
            project: project.clone(),
            tree_size,
            root_hash: B64.encode(root),
            exported_at: self.now(),
        };
        // Signed whatever `Signer::unsigned` says: that switch is for measuring publishes.
        let key = self.signer.current();
        let envelope = Statement::for_export(&digest, &predicate).sign(&key);
        let envelope =
            serde_json::to_value(&envelope).map_err(|e| ServiceError::Internal(Box::new(e)))?;
        Ok(ExportSigned {
            envelope,
            key_id: key.key_id().to_owned(),
        })
    }

    /// Restores a bundle into the caller's project, which must hold nothing but environments
    /// (what a first start creates, which the bundle's replace). Everything is checked first;
    /// then one unit of work writes it all, or nothing.
    pub async fn import(&self, caller: &Caller, bundle: &Bundle) -> ServiceResult<Imported> {
        let project = &caller.project;
        self.check(caller, Action::Import, Resource::Project(project))?;
        let checked = check::bundle(bundle, project)?;
        let origin = checked.snapshot.checkpoint.origin.clone();
        let (root, tree_size) = (checked.root, checked.snapshot.checkpoint.tree_size);
        let mut keys = checked.keys.clone();
        let plan = rows::plan(checked, project)?;
        let now = self.now();
        let own = self.signer.current().key_id().to_owned();
        for k in &mut keys {
            // Listed so that what they signed verifies; this server signs with its own key.
            if k.retired_at.is_none() && k.key_id != own {
                k.retired_at = Some(now);
            }
        }

        let mut tx = self.store.begin(project).await?;
        refuse_unless_empty(tx.count_rows().await?)?;
        tx.clear_for_import().await?;
        for key in &keys {
            tx.import_signing_key(key).await?;
        }
        for env in &plan.unlogged {
            tx.insert_environment(env).await?;
        }
        for (row, leaf) in &plan.steps {
            match row {
                Some(Row::Version(v)) => match &v.content {
                    // Sealed under this server's KEK, like any version it stores.
                    StoredContent::Plain(content) => {
                        let open = (**v).clone().with_content(content.clone());
                        tx.insert_version(&self.seal(project, &open)?).await?
                    }
                    // A pruned version stays the tombstone it was.
                    _ => tx.insert_version(v).await?,
                },
                Some(Row::Deployment(r)) => tx.insert_deployment(r).await?,
                Some(Row::Environment(e)) => tx.insert_environment(e).await?,
                None => {}
            }
            tx.import_event(&leaf.entry, leaf.at).await?;
        }
        tx.commit().await?;
        tracing::info!(project = %project, origin, tree_size, "imported a bundle");
        self.reload_keys().await?;
        self.load().await?;
        let (versions, deployments, environments) = plan.counts;
        Ok(Imported {
            origin,
            tree_size,
            root,
            versions,
            deployments,
            environments,
            keys: keys.len(),
            at: now,
        })
    }
}

/// An import goes only where it replaces nothing but environments.
fn refuse_unless_empty(c: ProjectCounts) -> ServiceResult<()> {
    let held = [
        (c.versions, "versions"),
        (c.deployments, "deployment records"),
        (c.rollouts, "rollouts"),
        (c.tokens, "tokens"),
        (c.webhooks, "webhooks"),
        (c.other_events, "changes other than created environments"),
    ];
    let found: Vec<String> = held
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(ServiceError::conflict(
        "not_empty",
        format!(
            "the project is not empty ({}): a bundle is imported only into a fresh instance; \
             nothing was imported",
            found.join(", ")
        ),
    ))
}
