//! Environments and their pointers: create, deploy, roll back, and Langfuse labels (a label is
//! an environment; setting one is a deploy).

use promptreg_core::deploy::{live_stack, plan_move, MoveRequest};
use promptreg_core::{
    ChangeEvent, EnvName, EventRecord, PointerMove, ProjectId, PromptName, Version,
};
use promptreg_store::{DeploymentRecord, Environment, StoreTx, VersionRecord};

use super::{Action, Caller, Known, Registry, Resource, ServiceError, ServiceResult};

/// Result of a deploy or rollback.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The new record, or the one that made the version live when nothing changed.
    pub record: DeploymentRecord,
    /// Whether the pointer moved.
    pub changed: bool,
}

/// Under which authority a deploy is made: what a protected environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Authority {
    /// A plain deploy: refused in a protected environment (`approval_required`).
    Direct,
    /// An admin's break-glass deploy (the policy has allowed `BreakGlass`).
    BreakGlass,
    /// It applies this approved change request.
    ChangeRequest(String),
}

/// A pointer move written in an open transaction, to finish after commit.
pub(crate) enum PendingMove {
    /// The version was already live.
    Unchanged(Box<DeploymentRecord>),
    /// Recorded, with the version now live and the event appended.
    Moved(Box<(DeploymentRecord, VersionRecord, EventRecord)>),
}

impl Registry {
    /// Creates an environment.
    pub async fn create_environment(
        &self,
        caller: &Caller,
        name: EnvName,
        protected: bool,
        description: Option<String>,
        approvals_required: Option<u32>,
    ) -> ServiceResult<Environment> {
        self.check(
            caller,
            Action::ManageEnvironments,
            Resource::Project(&caller.project),
        )?;
        let approvals_required = approvals_required.unwrap_or(1);
        super::changes::check_approvals(approvals_required)?;
        let env = Environment {
            name,
            protected,
            description,
            created_by: caller.principal.actor(),
            created_at: self.now(),
            approvals_required,
        };
        let mut tx = self.store.begin(&caller.project).await?;
        tx.insert_environment(&env).await?;
        let change = ChangeEvent::EnvironmentCreated {
            project: caller.project.clone(),
            env: env.name.clone(),
        };
        let event = self.commit(tx, self.draft(caller, None, change)).await?;
        self.applied(&event, Known::Nothing).await;
        Ok(env)
    }

    /// Deploys a version to an environment. Into a protected environment only as an admin's
    /// `break_glass` (with a reason); otherwise through an approved change request.
    pub async fn deploy(
        &self,
        caller: &Caller,
        env: EnvName,
        name: PromptName,
        version: Version,
        reason: Option<String>,
        break_glass: bool,
    ) -> ServiceResult<Moved> {
        if break_glass && reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(ServiceError::invalid(
                "reason: a break-glass deploy needs a reason",
            ));
        }
        let mut tx = self.store.begin(&caller.project).await?;
        let environment = environment(&mut *tx, &env).await?;
        let authority = if break_glass {
            self.check(caller, Action::BreakGlass, pointer(&environment, &name))?;
            Authority::BreakGlass
        } else {
            self.check(caller, Action::Deploy, pointer(&environment, &name))?;
            Authority::Direct
        };
        let target = self
            .find_version(&mut *tx, &caller.project, &name, version)
            .await?;
        let pending = self
            .plan_deploy(&mut *tx, caller, &environment, target, reason, authority)
            .await?;
        tx.commit().await?;
        Ok(self.finish_move(pending).await)
    }

    /// Rolls an environment's pointer back: to the version live before, or to `to`.
    pub async fn rollback(
        &self,
        caller: &Caller,
        env: EnvName,
        name: PromptName,
        to: Option<Version>,
        reason: Option<String>,
    ) -> ServiceResult<Moved> {
        let mut tx = self.store.begin(&caller.project).await?;
        let environment = environment(&mut *tx, &env).await?;
        self.check(caller, Action::Rollback, pointer(&environment, &name))?;
        if let Some(active) = tx.active_rollout(&env, &name).await? {
            return Err(super::rollouts::in_progress(&active));
        }
        if tx.latest_version(&name).await?.is_none() {
            return Err(ServiceError::not_found(format!(
                "prompt '{name}' not found"
            )));
        }
        let history = tx.pointer_history(&env, &name).await?;
        if history.is_empty() {
            return Err(ServiceError::conflict(
                "nothing_to_roll_back",
                format!("prompt '{name}' was never deployed in environment '{env}', so there is nothing to roll back"),
            ));
        }
        let stack = live_stack(history.iter().map(|r| (r.kind, r.to_version)));
        let Some(planned) = plan_move(&stack, MoveRequest::Rollback(to))? else {
            // `to_version` is the live version: nothing changes, nothing is recorded.
            let last = history.into_iter().next_back().ok_or_else(|| {
                ServiceError::Internal("unchanged rollback without history".into())
            })?;
            return Ok(Moved {
                record: last,
                changed: false,
            });
        };
        let target = self
            .find_version(&mut *tx, &caller.project, &name, planned.to)
            .await?;
        // No approval needed (speed matters in an incident), but it is flagged.
        let approval = environment
            .protected
            .then_some(promptreg_core::change::Approval::ProtectedRollback);
        let pending = self
            .record_move(
                &mut *tx, caller, &env, &history, planned, target, reason, approval,
            )
            .await?;
        tx.commit().await?;
        Ok(self.finish_move(pending).await)
    }

    /// Langfuse: puts labels on a version, i.e. deploys it to each label's environment (the
    /// label moves off the version that had it), all in one transaction.
    pub async fn set_labels(
        &self,
        caller: &Caller,
        name: PromptName,
        version: Version,
        labels: &[EnvName],
    ) -> ServiceResult<(VersionRecord, Vec<Moved>)> {
        self.check(caller, Action::Read, Resource::Prompt(&name))?;
        let mut tx = self.store.begin(&caller.project).await?;
        let target = self
            .find_version(&mut *tx, &caller.project, &name, version)
            .await?;
        let mut pending = Vec::with_capacity(labels.len());
        for env in labels {
            let environment = self.label_environment(&mut *tx, caller, env).await?;
            pending.push(
                self.plan_deploy(
                    &mut *tx,
                    caller,
                    &environment,
                    target.clone(),
                    None,
                    Authority::Direct,
                )
                .await?,
            );
        }
        tx.commit().await?;
        let mut moves = Vec::with_capacity(pending.len());
        for p in pending {
            moves.push(self.finish_move(p).await);
        }
        Ok((target, moves))
    }

    /// The environment a label names; created (and recorded) when it does not exist, the
    /// project allows it and the caller may deploy.
    pub(crate) async fn label_environment(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        env: &EnvName,
    ) -> ServiceResult<Environment> {
        if let Some(existing) = tx.get_environment(env).await? {
            return Ok(existing);
        }
        if !self.options.create_environments_from_labels {
            return Err(ServiceError::invalid(format!(
                "labels: '{env}' is not an environment of this project (labels are promptreg \
                 environments; create it with POST /v1/environments)"
            )));
        }
        self.check(
            caller,
            Action::CreateEnvironmentByLabel,
            Resource::Project(&caller.project),
        )?;
        let environment = Environment {
            name: env.clone(),
            protected: false,
            description: Some("created by a Langfuse label".into()),
            created_by: caller.principal.actor(),
            created_at: self.now(),
            approvals_required: 1,
        };
        tx.insert_environment(&environment).await?;
        let change = ChangeEvent::EnvironmentCreated {
            project: caller.project.clone(),
            env: env.clone(),
        };
        tx.append_event(self.draft(caller, Some("Langfuse label".into()), change))
            .await?;
        Ok(environment)
    }

    /// Inside a transaction: checks the policy and the approval, and records a deploy of
    /// `target`. Every deploy (native, Langfuse labels, change requests) comes through here,
    /// so none bypasses a protected environment.
    pub(crate) async fn plan_deploy(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        environment: &Environment,
        target: VersionRecord,
        reason: Option<String>,
        authority: Authority,
    ) -> ServiceResult<PendingMove> {
        if authority != Authority::BreakGlass {
            self.check(caller, Action::Deploy, pointer(environment, &target.name))?;
        }
        if let Some(active) = tx.active_rollout(&environment.name, &target.name).await? {
            return Err(super::rollouts::in_progress(&active));
        }
        // The change request this deploy applies: its approvals are a fact the gates see.
        let applying = match &authority {
            Authority::ChangeRequest(id) => Some(id.clone()),
            _ => None,
        };
        let approval = match authority {
            Authority::Direct if environment.protected => {
                return Err(super::changes::approval_required(
                    &environment.name,
                    &target.name,
                    target.version,
                ));
            }
            Authority::Direct => None,
            Authority::BreakGlass => environment
                .protected
                .then_some(promptreg_core::change::Approval::BreakGlass),
            Authority::ChangeRequest(id) => {
                Some(promptreg_core::change::Approval::ChangeRequest { id })
            }
        };
        let history = tx.pointer_history(&environment.name, &target.name).await?;
        let stack = live_stack(history.iter().map(|r| (r.kind, r.to_version)));
        let Some(planned) = plan_move(&stack, MoveRequest::Deploy(target.version))? else {
            let last = history
                .into_iter()
                .next_back()
                .ok_or_else(|| ServiceError::Internal("unchanged move without history".into()))?;
            return Ok(PendingMove::Unchanged(Box::new(last)));
        };
        // Inside the transaction, under the writer lock: what the gates read cannot change
        // before this move commits.
        self.check_gates(tx, &environment.name, &target, applying.as_deref())
            .await?;
        self.record_move(
            tx,
            caller,
            &environment.name,
            &history,
            planned,
            target,
            reason,
            approval,
        )
        .await
    }

    /// Inside a transaction: records a planned move (the record, the pointer, the event).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_move(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        env: &EnvName,
        history: &[DeploymentRecord],
        planned: PointerMove,
        target: VersionRecord,
        reason: Option<String>,
        approval: Option<promptreg_core::change::Approval>,
    ) -> ServiceResult<PendingMove> {
        let mut record = DeploymentRecord {
            env: env.clone(),
            name: target.name.clone(),
            seq: history.last().map_or(1, |r| r.seq + 1),
            from_version: planned.from,
            to_version: planned.to,
            digest: target.digest.clone(),
            actor: caller.principal.actor(),
            reason: reason.clone(),
            at: self.now(),
            kind: planned.kind,
            signature: None,
            ledger_seq: None,
            approval,
        };
        self.check_signature(&caller.project, &target).await?;
        record.signature = self.sign_move(&caller.project, &record);
        tx.insert_deployment(&record).await?;
        let event = tx
            .append_event(self.draft(caller, reason, record.event(&caller.project)))
            .await?;
        record.ledger_seq = Some(event.seq);
        Ok(PendingMove::Moved(Box::new((record, target, event))))
    }

    /// After commit: applies the move in memory and logs it.
    pub(crate) async fn finish_move(&self, pending: PendingMove) -> Moved {
        match pending {
            PendingMove::Unchanged(record) => Moved {
                record: *record,
                changed: false,
            },
            PendingMove::Moved(moved) => {
                let (record, version, event) = *moved;
                tracing::info!(env = %record.env, prompt.name = %record.name, prompt.version = %record.to_version,
                    prompt.digest = %record.digest, kind = record.kind.as_str(), "pointer moved");
                self.applied(&event, Known::Live(version)).await;
                Moved {
                    record,
                    changed: true,
                }
            }
        }
    }
}

pub(crate) fn pointer<'a>(environment: &'a Environment, name: &'a PromptName) -> Resource<'a> {
    Resource::Pointer {
        env: &environment.name,
        protected: environment.protected,
        name,
    }
}

pub(crate) async fn environment(tx: &mut dyn StoreTx, env: &EnvName) -> ServiceResult<Environment> {
    tx.get_environment(env)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("environment '{env}' not found")))
}

impl Registry {
    /// A version that must exist, its content opened; the message says whether the prompt or
    /// the version is missing (or why its content does not open). A stored version whose
    /// content no longer hashes to its digest (edited behind the server's back) is refused:
    /// it is never made live.
    pub(crate) async fn find_version(
        &self,
        tx: &mut dyn StoreTx,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
    ) -> ServiceResult<VersionRecord> {
        if let Some(v) = tx.get_version(name, version).await? {
            let v = self.open_or_report(project, None, v)?;
            super::verifies(&v, &v.digest).map_err(|message| {
                ServiceError::conflict(
                    "integrity_error",
                    format!("prompt '{name}': {message}; it was changed in the database and will not be deployed"),
                )
            })?;
            return Ok(v);
        }
        Err(match tx.latest_version(name).await? {
            Some(_) => ServiceError::not_found(format!("prompt '{name}' has no version {version}")),
            None => ServiceError::not_found(format!("prompt '{name}' not found")),
        })
    }
}
