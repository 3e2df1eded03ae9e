//! Signing inside the write path, and the ledger and keys as an auditor reads them.

use promptreg_core::integrity::merkle::{Hash, ProofError};
use promptreg_core::integrity::note::{Checkpoint, NoteSigner};
use promptreg_core::integrity::statement::{
    open_version, DeploymentPredicate, Statement, VersionPredicate,
};
use promptreg_core::integrity::{Envelope, KeyRing, PublicKey};
use promptreg_core::{Digest, ProjectId};
use promptreg_store::{DeploymentRecord, SigningKeyRecord, VersionRecord};

use super::{Action, Caller, Registry, Resource, ServiceError, ServiceResult};

/// Entries returned by one ledger page at most.
pub const MAX_ENTRIES: u32 = 1_000;

/// A signed checkpoint of a project's ledger.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// It as a C2SP signed note.
    pub note: String,
    /// The key that signed it.
    pub key_id: String,
    /// The note verifier key (`<name>+<hex id>+<base64 key>`).
    pub verifier_key: String,
}

/// One leaf of the ledger.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    /// The leaf index (`seq - 1`).
    pub index: u64,
    /// The leaf's bytes: the change record's canonical JSON, as stored.
    pub leaf: String,
    /// `SHA-256(0x00 || canonical JSON)`.
    pub leaf_hash: Hash,
}

/// A query the ledger cannot answer (an index or size past the tree): 400.
fn bad_query(message: String) -> ServiceError {
    ServiceError::Invalid {
        code: "invalid_request",
        message,
    }
}

fn proof_error(e: ProofError) -> ServiceError {
    bad_query(e.to_string())
}

impl Registry {
    /// The DSSE envelope over a new version's statement, and the envelope's digest.
    pub(crate) fn sign_version(
        &self,
        project: &ProjectId,
        v: &VersionRecord,
    ) -> Option<(String, Digest)> {
        let predicate = VersionPredicate {
            project: project.clone(),
            name: v.name.clone(),
            version: v.version,
            parent: v.parent,
            author: v.created_by.clone(),
            commit_message: v.commit_message.clone(),
            metadata_digest: v.metadata.digest(),
            created_at: v.created_at,
        };
        self.signer
            .sign(&Statement::for_version(&v.digest, &predicate))
    }

    /// The DSSE envelope over a pointer move's statement.
    pub(crate) fn sign_move(&self, project: &ProjectId, r: &DeploymentRecord) -> Option<String> {
        let predicate = DeploymentPredicate {
            project: project.clone(),
            env: r.env.clone(),
            name: r.name.clone(),
            seq: r.seq,
            kind: r.kind,
            from_version: r.from_version,
            to_version: r.to_version,
            actor: r.actor.clone(),
            reason: r.reason.clone(),
            at: r.at,
        };
        self.signer
            .sign(&Statement::for_deployment(&r.digest, &predicate))
            .map(|(text, _)| text)
    }

    /// The note signer of the current key (checkpoints are signed by the same key as
    /// versions, under the log's name).
    fn note_signer(&self) -> ServiceResult<NoteSigner> {
        NoteSigner::new(&self.options.ledger_name, (*self.signer.current()).clone())
            .map_err(|e| ServiceError::Internal(Box::new(e)))
    }

    /// The origin line of a project's checkpoints.
    pub fn ledger_origin(&self, project: &ProjectId) -> String {
        format!("{}/{project}", self.options.ledger_name)
    }

    /// The caller's project's current checkpoint, signed.
    pub fn checkpoint(&self, caller: &Caller) -> ServiceResult<SignedCheckpoint> {
        self.check(
            caller,
            Action::ReadLedger,
            Resource::Project(&caller.project),
        )?;
        let signer = self.note_signer()?;
        let (checkpoint, note) = self
            .ledger
            .checkpoint(
                &caller.project,
                self.ledger_origin(&caller.project),
                &signer,
            )
            .map_err(|e| ServiceError::Internal(Box::new(e)))?;
        Ok(SignedCheckpoint {
            checkpoint,
            note,
            key_id: self.signer.current().key_id().to_owned(),
            verifier_key: signer.verifier_key(),
        })
    }

    /// Leaves `start..start + limit` of the caller's project's ledger (up to its size).
    pub async fn ledger_entries(
        &self,
        caller: &Caller,
        start: u64,
        limit: u32,
    ) -> ServiceResult<(Vec<LedgerEntry>, u64)> {
        self.check(
            caller,
            Action::ReadLedger,
            Resource::Project(&caller.project),
        )?;
        let size = self.ledger.size(&caller.project);
        if start > size {
            return Err(bad_query(format!(
                "start {start} is past the ledger's size {size}"
            )));
        }
        let limit = limit.min(MAX_ENTRIES);
        let after = i64::try_from(start).unwrap_or(i64::MAX);
        let stored = self
            .store
            .log_entries(&caller.project, after, limit)
            .await?;
        let mut entries = Vec::with_capacity(stored.len());
        for entry in stored {
            let index = u64::try_from(entry.seq - 1).unwrap_or_default();
            if index >= size {
                break;
            }
            let (leaf, leaf_hash) = crate::integrity::ledger::leaf_of_stored(&entry.body);
            if self.ledger.leaf(&caller.project, index) != Some(leaf_hash) {
                // The row changed after this process read it (or rows before it were
                // deleted): never hand out a leaf that the tree, and so every proof,
                // disagrees with.
                let finding = crate::integrity::Finding {
                    project: caller.project.clone(),
                    env: None,
                    name: None,
                    message: format!(
                        "event_log row seq {} no longer hashes to ledger leaf {index}",
                        entry.seq
                    ),
                };
                self.report(finding.clone());
                return Err(ServiceError::conflict(
                    "integrity_error",
                    format!("{finding}: the stored log was changed; run `promptreg verify`"),
                ));
            }
            entries.push(LedgerEntry {
                index,
                leaf,
                leaf_hash,
            });
        }
        Ok((entries, size))
    }

    /// The inclusion proof of leaf `index` in the tree of `tree_size` leaves, with the leaf
    /// hash and the root it proves against.
    pub fn inclusion_proof(
        &self,
        caller: &Caller,
        index: u64,
        tree_size: u64,
    ) -> ServiceResult<(Hash, Vec<Hash>, Hash)> {
        self.check(
            caller,
            Action::ReadLedger,
            Resource::Project(&caller.project),
        )?;
        let p = &caller.project;
        let hashes = self
            .ledger
            .inclusion(p, index, tree_size)
            .map_err(proof_error)?;
        let leaf = self
            .ledger
            .leaf(p, index)
            .ok_or_else(|| bad_query(format!("the ledger has no leaf {index}")))?;
        let root = self.ledger.root_at(p, tree_size).map_err(proof_error)?;
        Ok((leaf, hashes, root))
    }

    /// The consistency proof between the trees of `from` and `to` leaves, with both roots.
    pub fn consistency_proof(
        &self,
        caller: &Caller,
        from: u64,
        to: u64,
    ) -> ServiceResult<(Vec<Hash>, Hash, Hash)> {
        self.check(
            caller,
            Action::ReadLedger,
            Resource::Project(&caller.project),
        )?;
        let p = &caller.project;
        let hashes = self.ledger.consistency(p, from, to).map_err(proof_error)?;
        let from_root = self.ledger.root_at(p, from).map_err(proof_error)?;
        let to_root = self.ledger.root_at(p, to).map_err(proof_error)?;
        Ok((hashes, from_root, to_root))
    }

    /// Every public signing key, retired ones included.
    pub async fn signing_keys(&self, caller: &Caller) -> ServiceResult<Vec<SigningKeyRecord>> {
        self.check(
            caller,
            Action::ReadLedger,
            Resource::Project(&caller.project),
        )?;
        Ok(self.store.list_signing_keys().await?)
    }

    /// Registers the current signing key (start-up; nothing changes when it is known) and
    /// loads every public key, to check signatures with.
    pub async fn register_signing_key(&self) -> ServiceResult<()> {
        let record = self.signer.record(self.now());
        self.store.add_signing_key(&record, None).await?;
        self.reload_keys().await
    }

    /// Reads the public keys again (after a rotation here or on another replica).
    pub(super) async fn reload_keys(&self) -> ServiceResult<()> {
        // This process's own key always counts, even before it is registered.
        let mut keys = vec![self.signer.current().public()];
        for k in self.store.list_signing_keys().await? {
            match PublicKey::from_base64(&k.public_key) {
                Ok(key) => keys.push(key),
                Err(e) => {
                    tracing::error!(key_id = %k.key_id, error = %e, "a stored signing key does not parse")
                }
            }
        }
        *self.keys.write() = KeyRing::new(keys);
        Ok(())
    }

    /// Before a version is made live: its signature (when it has one) must verify with a
    /// known key and name its digest, so content and digest edited together in the database
    /// are not deployed either.
    pub(crate) async fn check_signature(
        &self,
        project: &ProjectId,
        v: &VersionRecord,
    ) -> ServiceResult<()> {
        let Some(text) = &v.signature else {
            return Ok(()); // written before signing existed
        };
        let refuse = |why: String| {
            ServiceError::conflict(
                "integrity_error",
                format!(
                    "prompt '{}' version {}: its signature does not verify ({why}); it was changed in the database and will not be deployed",
                    v.name, v.version
                ),
            )
        };
        let envelope: Envelope =
            serde_json::from_str(text).map_err(|e| refuse(format!("not an envelope: {e}")))?;
        let known = envelope
            .signatures
            .iter()
            .any(|s| self.keys.read().get(&s.keyid).is_some());
        if !known {
            self.reload_keys().await?;
        }
        let ring = self.keys.read().clone();
        let (statement, predicate) =
            open_version(&envelope, &ring).map_err(|e| refuse(e.to_string()))?;
        statement
            .verify_subject(&v.digest)
            .map_err(|e| refuse(e.to_string()))?;
        if &predicate.project != project
            || predicate.name != v.name
            || predicate.version != v.version
            || predicate.metadata_digest != v.metadata.digest()
        {
            return Err(refuse("it was made for another version or metadata".into()));
        }
        Ok(())
    }

    /// Replaces the signing key with a new one and retires the old one (which stays listed:
    /// what it signed still verifies).
    pub async fn rotate_signing_key(&self, caller: &Caller) -> ServiceResult<SigningKeyRecord> {
        self.check(
            caller,
            Action::RotateKeys,
            Resource::Project(&caller.project),
        )?;
        let (new, old) = self
            .signer
            .rotate()
            .map_err(|e| ServiceError::Internal(Box::new(e)))?;
        let record = crate::integrity::keys::record(&new, self.now());
        self.store.add_signing_key(&record, Some(&old)).await?;
        self.reload_keys().await?;
        tracing::info!(key_id = %record.key_id, retired = %old, "rotated the signing key");
        Ok(record)
    }

    /// Records an integrity error found while running (logged, counted, named by `/readyz`).
    pub(crate) fn report(&self, finding: crate::integrity::Finding) {
        self.findings.add(finding);
        self.metrics
            .integrity_errors
            .set(i64::try_from(self.findings.count()).unwrap_or(i64::MAX));
    }

    /// What did not verify (for `/readyz` and `/metrics`).
    pub fn integrity_findings(&self) -> Vec<crate::integrity::Finding> {
        self.findings.list()
    }
}
