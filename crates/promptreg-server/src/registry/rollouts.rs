//! Rollouts: start one, the commands people give it, and the controller's steps. Each is one
//! unit of work that records the rollout's new state and its event (and, on promotion or a
//! blue-green switch, the pointer move) through the same write path as every other change.

use promptreg_core::change::Approval;
use promptreg_core::deploy::{live_stack, plan_move, MoveRequest};
use promptreg_core::rollout::{self, machine, PointerTarget, RolloutSpec, Transition};
use promptreg_core::{EnvName, EventRecord, PromptName, Version};
use promptreg_store::{RolloutRecord, StoreTx, VersionRecord};

use super::pointers::{environment, pointer, PendingMove};
use super::{Action, Caller, Known, Registry, ServiceError, ServiceResult};
use crate::auth::Principal;

/// What a person asks of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutCommand {
    /// Complete the current step (`full`: make the candidate live now).
    Promote {
        /// Skip every remaining step.
        full: bool,
    },
    /// Hold where it is.
    Pause,
    /// Go on after a pause.
    Resume,
    /// Stop: stable serves everyone.
    Abort,
    /// Stop analysing (steps still run).
    SkipAnalysis,
}

impl RolloutCommand {
    /// The policy action for it.
    fn action(self) -> Action {
        match self {
            RolloutCommand::Promote { .. } => Action::PromoteRollout,
            RolloutCommand::Pause | RolloutCommand::Resume => Action::ControlRollout,
            RolloutCommand::Abort => Action::AbortRollout,
            RolloutCommand::SkipAnalysis => Action::SkipAnalysis,
        }
    }
}

/// Changes written in an open transaction, to apply in memory after commit.
#[derive(Default)]
pub(crate) struct Effects {
    moves: Vec<PendingMove>,
    events: Vec<(EventRecord, VersionRecord)>,
    /// Events with nothing to apply in memory (a change request applied by the start).
    plain: Vec<EventRecord>,
}

/// What starting a rollout asks for.
#[derive(Debug, Clone)]
pub struct RolloutStart {
    /// The version to roll out.
    pub candidate: Version,
    /// How.
    pub spec: RolloutSpec,
    /// Why.
    pub reason: Option<String>,
    /// The approved change request it applies (a protected environment needs one).
    pub change_request: Option<String>,
}

impl Registry {
    /// Starts a rollout of `start.candidate` in `env`, from the version live there now.
    pub async fn start_rollout(
        &self,
        caller: &Caller,
        env: EnvName,
        name: PromptName,
        start: RolloutStart,
    ) -> ServiceResult<RolloutRecord> {
        let RolloutStart {
            candidate,
            spec,
            reason,
            change_request,
        } = start;
        let mut tx = self.store.begin(&caller.project).await?;
        let environment = environment(&mut *tx, &env).await?;
        self.check(caller, Action::StartRollout, pointer(&environment, &name))?;
        if environment.protected && change_request.is_none() {
            // A rollout into a protected environment is a deploy: it applies an approved
            // change request (`change_request`), which starting it marks applied.
            return Err(super::changes::approval_required(&env, &name, candidate));
        }
        let target = self
            .find_version(&mut *tx, &caller.project, &name, candidate)
            .await?;
        let history = tx.pointer_history(&env, &name).await?;
        let Some(&stable) = live_stack(history.iter().map(|r| (r.kind, r.to_version))).last()
        else {
            return Err(ServiceError::conflict(
                "not_deployed",
                format!(
                    "prompt '{name}' has no version live in environment '{env}' to roll out from; \
                     deploy a first version with PUT /v1/environments/{env}/prompts/{{name}}"
                ),
            ));
        };
        if stable == candidate {
            return Err(ServiceError::conflict(
                "candidate_is_stable",
                format!("version {candidate} is already live in environment '{env}'"),
            ));
        }
        if let Some(active) = tx.active_rollout(&env, &name).await? {
            return Err(in_progress(&active));
        }
        // A rollout exposes the candidate to the environment's traffic: its gates apply at
        // the start, and again when it is promoted (`write_transition`).
        self.check_gates(&mut *tx, &env, &target, change_request.as_deref())
            .await?;
        let stable_version = self
            .find_version(&mut *tx, &caller.project, &name, stable)
            .await?;
        let now = self.now();
        let (state, immediate) = machine::start(&spec, now);
        let mut record = RolloutRecord {
            id: uuid::Uuid::now_v7().to_string(),
            project: caller.project.clone(),
            env,
            name,
            stable_version: stable,
            stable_digest: stable_version.digest,
            candidate_version: candidate,
            candidate_digest: target.digest.clone(),
            spec,
            state,
            revision: 1,
            reason: reason.clone(),
            created_by: caller.principal.actor(),
            created_at: now,
            updated_at: now,
            analysis: serde_json::json!({}),
        };
        tx.insert_rollout(&record).await?;
        let event = tx
            .append_event(self.draft(
                caller,
                reason.clone(),
                record.event(rollout::RolloutAction::Started),
            ))
            .await?;
        let mut effects = Effects::default();
        effects.events.push((event, target.clone()));
        if let Some(id) = &change_request {
            let applied = self
                .apply_change_by_rollout(
                    &mut *tx,
                    caller,
                    &environment,
                    &record.name,
                    candidate,
                    id,
                    &record.id,
                )
                .await?;
            effects.plain.push(applied);
        }
        if let Some(t) = immediate {
            self.write_transition(
                &mut *tx,
                caller,
                &mut record,
                t,
                reason,
                &target,
                &mut effects,
            )
            .await?;
        }
        tx.commit().await?;
        self.finish(effects).await;
        Ok(record)
    }

    /// Carries out a person's command on a rollout.
    pub async fn command_rollout(
        &self,
        caller: &Caller,
        id: &str,
        command: RolloutCommand,
        reason: Option<String>,
    ) -> ServiceResult<RolloutRecord> {
        let mut tx = self.store.begin(&caller.project).await?;
        let mut record = tx
            .get_rollout(id)
            .await?
            .ok_or_else(|| ServiceError::not_found(format!("rollout '{id}' not found")))?;
        let environment = environment(&mut *tx, &record.env).await?;
        self.check(
            caller,
            command.action(),
            pointer(&environment, &record.name),
        )?;
        let now = self.now();
        let (spec, state) = (&record.spec, &record.state);
        let transition = match command {
            RolloutCommand::Promote { full } => machine::promote(spec, state, now, full),
            RolloutCommand::Pause => machine::pause(state),
            RolloutCommand::Resume => machine::resume(spec, state, now),
            RolloutCommand::Abort => machine::abort(state),
            RolloutCommand::SkipAnalysis => machine::skip_analysis(state),
        }
        .map_err(|e| ServiceError::conflict(e.code(), e.to_string()))?;
        if command == RolloutCommand::Resume {
            // An Inconclusive verdict was looked at: analysis counts start afresh.
            record.analysis = serde_json::json!({});
        }
        let candidate = self
            .find_version(
                &mut *tx,
                &record.project,
                &record.name,
                record.candidate_version,
            )
            .await?;
        let mut effects = Effects::default();
        self.write_transition(
            &mut *tx,
            caller,
            &mut record,
            transition,
            reason,
            &candidate,
            &mut effects,
        )
        .await?;
        // `promote` may complete a step that leads straight on (a `set_weight`, or the end).
        self.settle(&mut *tx, caller, &mut record, &candidate, &mut effects)
            .await?;
        tx.commit().await?;
        self.finish(effects).await;
        Ok(record)
    }

    /// The controller's step for one rollout (`current`, as this pass read it): applies what
    /// time and the analysis verdicts call for, saving `analysis` (the controller's memory)
    /// with it. Returns the record when something changed.
    pub(crate) async fn drive_rollout(
        &self,
        current: &RolloutRecord,
        verdicts: &rollout::Verdicts,
        analysis: serde_json::Value,
        reason: impl Fn(&rollout::RolloutAction) -> Option<String>,
        analysis_events: Vec<promptreg_core::ChangeEvent>,
    ) -> ServiceResult<Option<RolloutRecord>> {
        let (project, id) = (&current.project, current.id.as_str());
        let caller = controller(project);
        let now = self.now();
        if analysis_events.is_empty() {
            // Most passes change nothing: look (at the record this pass read) before taking
            // the project's writer lock; the transaction reads it again before changing it.
            if current.state.status.is_terminal()
                || machine::tick(&current.spec, &current.state, now, verdicts).is_none()
            {
                // Saved only when it changed: most passes between intervals change nothing.
                if current.analysis != analysis {
                    self.store
                        .save_rollout_analysis(project, id, current.revision, &analysis)
                        .await?;
                }
                return Ok(None);
            }
        }
        let mut tx = self.store.begin(project).await?;
        let Some(mut record) = tx.get_rollout(id).await? else {
            return Ok(None);
        };
        if record.state.status.is_terminal() {
            return Ok(None);
        }
        record.analysis = analysis;
        let candidate = self
            .find_version(
                &mut *tx,
                &record.project,
                &record.name,
                record.candidate_version,
            )
            .await?;
        let mut effects = Effects::default();
        for change in analysis_events {
            let event = tx.append_event(self.draft(&caller, None, change)).await?;
            effects.events.push((event, candidate.clone()));
        }
        let mut changed = false;
        while let Some(t) = machine::tick(&record.spec, &record.state, now, verdicts) {
            let why = reason(&t.action);
            self.write_transition(
                &mut *tx,
                &caller,
                &mut record,
                t,
                why,
                &candidate,
                &mut effects,
            )
            .await?;
            changed = true;
            if effects.events.len() > 200 {
                break;
            }
        }
        if !changed {
            tx.update_rollout(&record).await?;
        }
        tx.commit().await?;
        self.finish(effects).await;
        Ok(changed.then_some(record))
    }

    /// Applies ticks that need nothing but the passage of steps (after a command).
    async fn settle(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        record: &mut RolloutRecord,
        candidate: &VersionRecord,
        effects: &mut Effects,
    ) -> ServiceResult<()> {
        let now = self.now();
        let quiet = rollout::Verdicts {
            step_sample_reached: record.spec.analysis.is_none(),
            ..Default::default()
        };
        for _ in 0..200 {
            let Some(t) = machine::tick(&record.spec, &record.state, now, &quiet) else {
                break;
            };
            // Only steps that complete at once: weights and the end of the steps.
            let instant = matches!(
                t.action,
                rollout::RolloutAction::StepCompleted { .. } | rollout::RolloutAction::Promoted
            ) && record
                .spec
                .steps()
                .get(record.state.step as usize)
                .is_none_or(|s| matches!(s, rollout::Step::SetWeight(_)));
            if !instant {
                break;
            }
            self.write_transition(tx, caller, record, t, None, candidate, effects)
                .await?;
        }
        Ok(())
    }

    /// Inside a transaction: records a transition (pointer move, rollout row, event).
    #[allow(clippy::too_many_arguments)]
    async fn write_transition(
        &self,
        tx: &mut dyn StoreTx,
        caller: &Caller,
        record: &mut RolloutRecord,
        t: Transition,
        reason: Option<String>,
        candidate: &VersionRecord,
        effects: &mut Effects,
    ) -> ServiceResult<()> {
        if let Some(target) = t.pointer {
            let history = tx.pointer_history(&record.env, &record.name).await?;
            let stack = live_stack(history.iter().map(|r| (r.kind, r.to_version)));
            let request = match target {
                PointerTarget::Candidate => MoveRequest::Deploy(record.candidate_version),
                PointerTarget::Stable => MoveRequest::Rollback(Some(record.stable_version)),
            };
            if let Some(planned) = plan_move(&stack, request)? {
                let version = self
                    .find_version(tx, &record.project, &record.name, planned.to)
                    .await?;
                if matches!(target, PointerTarget::Candidate) {
                    let applying = tx.change_request_of_rollout(&record.id).await?;
                    let applying = applying.as_ref().map(|r| r.id.as_str());
                    self.check_gates(tx, &record.env, &version, applying)
                        .await?;
                }
                let why = Some(format!(
                    "rollout {}: {}{}",
                    record.id,
                    t.action.as_str(),
                    reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ));
                let approval = self.rollout_approval(tx, record, planned.kind).await?;
                let pending = self
                    .record_move(
                        tx,
                        caller,
                        &record.env,
                        &history,
                        planned,
                        version,
                        why,
                        approval,
                    )
                    .await?;
                effects.moves.push(pending);
            }
        }
        record.state = t.state;
        record.revision += 1;
        record.updated_at = self.now();
        tx.update_rollout(record).await?;
        let event = tx
            .append_event(self.draft(caller, reason, record.event(t.action)))
            .await?;
        effects.events.push((event, candidate.clone()));
        Ok(())
    }

    /// Under which authority a rollout moves a protected environment's pointer: back to
    /// stable needs none (flagged), forward to the candidate needs the change request the
    /// rollout was started with.
    async fn rollout_approval(
        &self,
        tx: &mut dyn StoreTx,
        record: &RolloutRecord,
        kind: promptreg_core::DeployKind,
    ) -> ServiceResult<Option<Approval>> {
        let protected = tx
            .get_environment(&record.env)
            .await?
            .is_some_and(|e| e.protected);
        if !protected {
            return Ok(None);
        }
        if kind == promptreg_core::DeployKind::Rollback {
            return Ok(Some(Approval::ProtectedRollback));
        }
        match tx.change_request_of_rollout(&record.id).await? {
            Some(request) => Ok(Some(Approval::ChangeRequest { id: request.id })),
            None => Err(super::changes::approval_required(
                &record.env,
                &record.name,
                record.candidate_version,
            )),
        }
    }

    /// After commit: pointer moves first, then the rollout events, in log order.
    async fn finish(&self, effects: Effects) {
        for pending in effects.moves {
            self.finish_move(pending).await;
        }
        for (event, candidate) in effects.events {
            self.applied(&event, Known::Candidate(candidate)).await;
        }
        for event in effects.plain {
            self.applied(&event, Known::Nothing).await;
        }
    }
}

/// 409 `rollout_in_progress` naming the rollout.
pub(crate) fn in_progress(active: &RolloutRecord) -> ServiceError {
    ServiceError::conflict(
        "rollout_in_progress",
        format!(
            "prompt '{}' has rollout {} in progress in environment '{}' (version {} → {}); \
             promote or abort it first (POST /v1/rollouts/{}/promote or /abort)",
            active.name,
            active.id,
            active.env,
            active.stable_version,
            active.candidate_version,
            active.id
        ),
    )
}

/// The principal the controller acts as (recorded as the actor of automatic changes).
fn controller(project: &promptreg_core::ProjectId) -> Caller {
    Caller::internal(Principal::system("rollout-controller", "analysis", project))
}
