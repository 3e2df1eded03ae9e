//! Retention: a project's lifecycle rules, and pruning by them.
//!
//! A prune is one unit of work: under the project's writer lock it reads what the rules look
//! at (versions without content, environments, every pointer move, every rollout), asks the
//! pure [`retention::plan`], then, unless it is a dry run, drops each chosen version's content
//! (`StoreTx::prune_version`: the ciphertext and the wrapped data key, crypto-shredding) and
//! appends a `version_pruned` event for it, so every prune is a ledger leaf. What the plan
//! holds (live, ever in a protected environment, a rollback target, in an active rollout)
//! is never touched: the rules and the deploys take the same lock, so the plan still holds at
//! commit.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use promptreg_core::retention::{self, Facts, Held, MoveFact, RolloutFact, Rules, VersionFact};
use promptreg_core::{ChangeEvent, Digest, EnvName, PromptName, Version};
use promptreg_store::{LifecycleRecord, StoreTx};

use super::{Action, Caller, Known, Registry, Resource, ServiceError, ServiceResult};

/// A version a prune removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrunedVersion {
    /// The prompt.
    pub name: PromptName,
    /// The version.
    pub version: Version,
    /// Its digest (which stays in the tombstone).
    pub digest: Digest,
    /// Why the rules let it go.
    pub reason: String,
    /// The `seq` of its `version_pruned` event (none in a dry run).
    pub ledger_seq: Option<i64>,
}

/// What a prune did, or would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// The rules applied.
    pub rules: Rules,
    /// When (the time the ages count back from, and `pruned_at`).
    pub at: DateTime<Utc>,
    /// The versions pruned, by prompt then version.
    pub pruned: Vec<PrunedVersion>,
    /// The versions the rules would let go but a hold keeps.
    pub held: Vec<Held>,
}

impl Registry {
    /// The caller's project's lifecycle rules, if they were ever set.
    pub async fn lifecycle(&self, caller: &Caller) -> ServiceResult<Option<LifecycleRecord>> {
        self.check(caller, Action::Read, Resource::Project(&caller.project))?;
        Ok(self.store.lifecycle(&caller.project).await?)
    }

    /// Sets the caller's project's lifecycle rules (both unset: nothing is pruned), recorded
    /// as a `lifecycle_set` event.
    pub async fn set_lifecycle(
        &self,
        caller: &Caller,
        rules: Rules,
    ) -> ServiceResult<LifecycleRecord> {
        self.check(
            caller,
            Action::ManageLifecycle,
            Resource::Project(&caller.project),
        )?;
        let record = LifecycleRecord {
            rules,
            updated_by: caller.principal.actor(),
            updated_at: self.now(),
        };
        let mut tx = self.store.begin(&caller.project).await?;
        tx.set_lifecycle(&record).await?;
        let change = ChangeEvent::LifecycleSet {
            project: caller.project.clone(),
            keep_last: rules.keep_last,
            prune_unused_after: rules.prune_unused_after.map(retention::format_age),
        };
        let event = self.commit(tx, self.draft(caller, None, change)).await?;
        self.applied(&event, Known::Nothing).await;
        tracing::info!(keep_last = ?rules.keep_last,
            prune_unused_after = ?rules.prune_unused_after.map(retention::format_age), "lifecycle rules set");
        Ok(record)
    }

    /// Prunes what the caller's project's lifecycle rules let go (`dry_run`: only says what).
    pub async fn prune(&self, caller: &Caller, dry_run: bool) -> ServiceResult<Pruned> {
        self.check(
            caller,
            Action::ManageLifecycle,
            Resource::Project(&caller.project),
        )?;
        let mut tx = self.store.begin(&caller.project).await?;
        let rules = tx.lifecycle().await?.map(|r| r.rules).unwrap_or_default();
        let at = self.now();
        let (plan, digests) = plan(&mut *tx, &rules, at).await?;
        let mut pruned = Vec::with_capacity(plan.prune.len());
        for p in plan.prune {
            // The plan only names versions it was given, with their digests.
            let digest = digests
                .get(&(p.name.clone(), p.version))
                .cloned()
                .ok_or_else(|| {
                    ServiceError::Internal(
                        format!("no digest for '{}' {}", p.name, p.version).into(),
                    )
                })?;
            pruned.push(PrunedVersion {
                name: p.name,
                version: p.version,
                digest,
                reason: p.reason,
                ledger_seq: None,
            });
        }
        let mut outcome = Pruned {
            dry_run,
            rules,
            at,
            pruned: Vec::new(),
            held: plan.held,
        };
        if dry_run || pruned.is_empty() {
            drop(tx); // rolled back: nothing was written
            outcome.pruned = pruned;
            return Ok(outcome);
        }
        let mut events = Vec::with_capacity(pruned.len());
        for p in &mut pruned {
            if !tx.prune_version(&p.name, p.version, at).await? {
                // Read unpruned under the same lock a moment ago: the store disagrees with
                // itself. Roll back rather than record a prune that did not happen.
                return Err(ServiceError::Internal(
                    format!(
                        "prompt '{}' version {} could not be pruned",
                        p.name, p.version
                    )
                    .into(),
                ));
            }
            let change = ChangeEvent::VersionPruned {
                project: caller.project.clone(),
                name: p.name.clone(),
                version: p.version,
                digest: p.digest.clone(),
            };
            let reason = format!("lifecycle rules: {}", p.reason);
            let event = tx
                .append_event(self.draft(caller, Some(reason), change))
                .await?;
            p.ledger_seq = Some(event.seq);
            events.push(event);
        }
        tx.commit().await?;
        for event in &events {
            self.applied(event, Known::Nothing).await;
        }
        tracing::info!(
            pruned = pruned.len(),
            held = outcome.held.len(),
            "versions pruned"
        );
        outcome.pruned = pruned;
        Ok(outcome)
    }
}

/// Reads the facts in the unit of work and plans; also every version's digest.
async fn plan(
    tx: &mut dyn StoreTx,
    rules: &Rules,
    at: DateTime<Utc>,
) -> ServiceResult<(retention::Plan, BTreeMap<(PromptName, Version), Digest>)> {
    if rules.is_empty() {
        return Ok((retention::Plan::default(), BTreeMap::new()));
    }
    let stubs = tx.version_stubs().await?;
    let protected: BTreeSet<EnvName> = tx
        .environments()
        .await?
        .into_iter()
        .filter(|e| e.protected)
        .map(|e| e.name)
        .collect();
    let moves: Vec<MoveFact> = tx
        .all_deployments()
        .await?
        .into_iter()
        .map(|r| MoveFact {
            env: r.env,
            name: r.name,
            seq: r.seq,
            kind: r.kind,
            to_version: r.to_version,
            at: r.at,
        })
        .collect();
    let rollouts: Vec<RolloutFact> = tx
        .all_rollouts()
        .await?
        .into_iter()
        .map(|r| RolloutFact {
            active: r.is_active(),
            id: r.id,
            env: r.env,
            name: r.name,
            stable: r.stable_version,
            candidate: r.candidate_version,
            updated_at: r.updated_at,
        })
        .collect();
    let versions: Vec<VersionFact> = stubs
        .iter()
        .map(|s| VersionFact {
            name: s.name.clone(),
            version: s.version,
            created_at: s.created_at,
            pruned: s.pruned_at.is_some(),
        })
        .collect();
    let facts = Facts {
        versions: &versions,
        moves: &moves,
        protected: &protected,
        rollouts: &rollouts,
    };
    let digests = stubs
        .into_iter()
        .map(|s| ((s.name, s.version), s.digest))
        .collect();
    Ok((retention::plan(rules, at, &facts), digests))
}
