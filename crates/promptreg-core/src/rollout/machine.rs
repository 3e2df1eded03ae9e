//! The rollout state machine: pure, with time and analysis verdicts passed in.
//!
//! The controller calls [`tick`] until it returns `None` (a `set_weight` step completes at
//! once, so several steps can pass in one tick), and the commands ([`promote`], [`pause`],
//! [`resume`], [`abort`], [`skip_analysis`]) for people. Each returns a [`Transition`]: the
//! next state, what happened (recorded as an event), and whether the environment's pointer
//! moves (to the candidate on promotion or a blue-green switch, back to stable when a switched
//! blue-green rollout is rolled back).
//!
//! Analysis verdicts follow Argo Rollouts: Failed or Error rolls back, Inconclusive pauses for a
//! person; Pending means "not enough sample yet", so a step waits (and pauses once it has
//! waited longer than the analysis's `max_wait`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::spec::{RolloutSpec, Step, Strategy};
use crate::analysis::Phase;

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Moving through its steps.
    Progressing,
    /// Waiting for a person (see [`PauseReason`]).
    Paused,
    /// Done: the candidate is live.
    Promoted,
    /// Stopped by a person: stable serves everyone.
    Aborted,
    /// Stopped by analysis: stable serves everyone.
    RolledBack,
}

impl Status {
    /// Storage and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Progressing => "progressing",
            Status::Paused => "paused",
            Status::Promoted => "promoted",
            Status::Aborted => "aborted",
            Status::RolledBack => "rolled_back",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "progressing" => Status::Progressing,
            "paused" => Status::Paused,
            "promoted" => Status::Promoted,
            "aborted" => Status::Aborted,
            "rolled_back" => Status::RolledBack,
            _ => return None,
        })
    }

    /// Whether the rollout is over.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Promoted | Status::Aborted | Status::RolledBack
        )
    }
}

/// Why a rollout waits for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// Someone paused it.
    Manual,
    /// A `pause` step without a duration.
    PauseStep,
    /// An `approval` step, or a blue-green switch without auto-promotion.
    Approval,
    /// An analysis was Inconclusive.
    Inconclusive,
    /// The step's minimum sample was not reached within `max_wait`.
    MinSample,
}

/// What analysis triggered a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisKind {
    /// The rollout's background analysis.
    Background,
    /// A blocking `analysis` step (or blue-green pre-promotion analysis).
    Step,
    /// Blue-green post-promotion analysis.
    PostPromotion,
}

/// The rollout's moving parts (the spec does not change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutState {
    /// Where it is.
    pub status: Status,
    /// Canary: index of the current step (`steps.len()` once all completed).
    /// Blue-green: 0 before the switch, 1 after it.
    pub step: u32,
    /// Share of subjects served the candidate, in 1/10,000.
    pub weight: u32,
    /// When the current step began (pauses and `max_wait` count from here).
    pub step_started_at: DateTime<Utc>,
    /// Why it is paused.
    pub paused: Option<PauseReason>,
    /// A person skipped analysis: no analysis runs any more.
    pub analysis_skipped: bool,
    /// The pointer is on the candidate (promoted, or a blue-green after its switch).
    pub switched: bool,
}

/// What happened in a transition (recorded as an event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RolloutAction {
    /// The rollout was created.
    Started,
    /// A step completed (canary) and the next one begins.
    StepCompleted {
        /// The completed step's index.
        step: u32,
    },
    /// It paused.
    Paused {
        /// Why.
        reason: PauseReason,
    },
    /// A person resumed it.
    Resumed,
    /// The candidate is live and the rollout is done.
    Promoted,
    /// Blue-green: the pointer switched to the candidate; post-promotion analysis begins.
    Switched,
    /// A person aborted it.
    Aborted,
    /// Analysis rolled it back.
    RolledBack {
        /// Which analysis.
        analysis: AnalysisKind,
        /// Its verdict (Failed or Error).
        phase: Phase,
    },
    /// A person skipped the remaining analysis.
    AnalysisSkipped,
}

impl RolloutAction {
    /// Short name for events, webhooks and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            RolloutAction::Started => "started",
            RolloutAction::StepCompleted { .. } => "step_completed",
            RolloutAction::Paused { .. } => "paused",
            RolloutAction::Resumed => "resumed",
            RolloutAction::Promoted => "promoted",
            RolloutAction::Switched => "switched",
            RolloutAction::Aborted => "aborted",
            RolloutAction::RolledBack { .. } => "rolled_back",
            RolloutAction::AnalysisSkipped => "analysis_skipped",
        }
    }
}

/// Where the pointer moves with a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointerTarget {
    /// The candidate becomes the live version.
    Candidate,
    /// The stable version becomes live again.
    Stable,
}

/// One step of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The state after it.
    pub state: RolloutState,
    /// What happened.
    pub action: RolloutAction,
    /// A pointer move to record with it.
    pub pointer: Option<PointerTarget>,
}

/// What the analyses say now (computed by the controller from the outcome windows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// The background analysis, when there is one and it ran.
    pub background: Option<Phase>,
    /// The analysis of the current step (a canary `analysis` step, blue-green pre- or
    /// post-promotion analysis).
    pub step: Option<Phase>,
    /// Whether the current step has the minimum sample the background analysis asks for
    /// (a timed pause waits for it); `true` when there is no background analysis.
    pub step_sample_reached: bool,
}

/// A command that the rollout's state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The rollout is over.
    #[error("the rollout is already {}", .0.as_str())]
    Finished(Status),
    /// The command makes no sense now (the message says why).
    #[error("{0}")]
    NotNow(String),
}

impl CommandError {
    /// snake_case code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::Finished(_) => "rollout_finished",
            CommandError::NotNow(_) => "invalid_rollout_state",
        }
    }
}

/// The state of a new rollout, and for `immediate` the promotion that ends it at once.
pub fn start(spec: &RolloutSpec, now: DateTime<Utc>) -> (RolloutState, Option<Transition>) {
    let state = RolloutState {
        status: Status::Progressing,
        step: 0,
        weight: 0,
        step_started_at: now,
        paused: None,
        analysis_skipped: false,
        switched: false,
    };
    let promoted = matches!(spec.strategy, Strategy::Immediate).then(|| promote_now(&state));
    (state, promoted)
}

fn promote_now(state: &RolloutState) -> Transition {
    let pointer = (!state.switched).then_some(PointerTarget::Candidate);
    Transition {
        state: RolloutState {
            status: Status::Promoted,
            weight: super::bucket::BUCKETS,
            paused: None,
            switched: true,
            ..state.clone()
        },
        action: RolloutAction::Promoted,
        pointer,
    }
}

fn rolled_back(state: &RolloutState, analysis: AnalysisKind, phase: Phase) -> Transition {
    Transition {
        state: RolloutState {
            status: Status::RolledBack,
            weight: 0,
            paused: None,
            switched: false,
            ..state.clone()
        },
        action: RolloutAction::RolledBack { analysis, phase },
        pointer: state.switched.then_some(PointerTarget::Stable),
    }
}

fn paused(state: &RolloutState, reason: PauseReason) -> Transition {
    Transition {
        state: RolloutState {
            status: Status::Paused,
            paused: Some(reason),
            ..state.clone()
        },
        action: RolloutAction::Paused { reason },
        pointer: None,
    }
}

fn next_step(state: &RolloutState, now: DateTime<Utc>) -> Transition {
    Transition {
        state: RolloutState {
            step: state.step + 1,
            step_started_at: now,
            status: Status::Progressing,
            paused: None,
            ..state.clone()
        },
        action: RolloutAction::StepCompleted { step: state.step },
        pointer: None,
    }
}

fn elapsed(state: &RolloutState, now: DateTime<Utc>) -> Duration {
    (now - state.step_started_at).to_std().unwrap_or_default()
}

fn failing(phase: Option<Phase>) -> Option<Phase> {
    phase.filter(|p| matches!(p, Phase::Failed | Phase::Error))
}

/// The next transition the passage of time or the analyses call for, if any.
pub fn tick(
    spec: &RolloutSpec,
    state: &RolloutState,
    now: DateTime<Utc>,
    verdicts: &Verdicts,
) -> Option<Transition> {
    if state.status.is_terminal() {
        return None;
    }
    let verdicts = if state.analysis_skipped {
        Verdicts {
            background: None,
            step: None,
            step_sample_reached: true,
        }
    } else {
        *verdicts
    };
    // Background analysis judges the candidate whenever it is served, paused or not.
    if let Some(phase) = failing(verdicts.background) {
        return Some(rolled_back(state, AnalysisKind::Background, phase));
    }
    if state.status == Status::Paused {
        return None;
    }
    if verdicts.background == Some(Phase::Inconclusive) {
        return Some(paused(state, PauseReason::Inconclusive));
    }
    match &spec.strategy {
        Strategy::Immediate => Some(promote_now(state)),
        Strategy::Canary { steps } => tick_canary(spec, steps, state, now, &verdicts),
        Strategy::BlueGreen(bg) => {
            if !state.switched {
                let analysis = bg.pre_promotion_analysis.as_ref();
                let judged = match (analysis, verdicts.step) {
                    (None, _) => true,
                    (Some(_), Some(Phase::Successful)) => true,
                    (Some(_), Some(p @ (Phase::Failed | Phase::Error))) => {
                        return Some(rolled_back(state, AnalysisKind::Step, p))
                    }
                    (Some(_), Some(Phase::Inconclusive)) => {
                        return Some(paused(state, PauseReason::Inconclusive))
                    }
                    (Some(a), _) => {
                        if a.max_wait.is_some_and(|w| elapsed(state, now) >= w) {
                            return Some(paused(state, PauseReason::MinSample));
                        }
                        false
                    }
                };
                match bg.auto_promote_after {
                    Some(after)
                        if judged && (analysis.is_some() || elapsed(state, now) >= after) =>
                    {
                        Some(switch(state, now))
                    }
                    Some(_) => None,
                    None if judged => Some(paused(state, PauseReason::Approval)),
                    None => None,
                }
            } else {
                if bg.post_promotion_analysis.is_some() {
                    match verdicts.step {
                        Some(p @ (Phase::Failed | Phase::Error)) => {
                            return Some(rolled_back(state, AnalysisKind::PostPromotion, p))
                        }
                        Some(Phase::Inconclusive) => {
                            return Some(paused(state, PauseReason::Inconclusive))
                        }
                        _ => {}
                    }
                }
                (elapsed(state, now) >= bg.post_promotion_window).then(|| promote_now(state))
            }
        }
    }
}

fn tick_canary(
    spec: &RolloutSpec,
    steps: &[Step],
    state: &RolloutState,
    now: DateTime<Utc>,
    verdicts: &Verdicts,
) -> Option<Transition> {
    let Some(step) = steps.get(state.step as usize) else {
        return Some(promote_now(state));
    };
    let waited_too_long =
        |max_wait: Option<Duration>| max_wait.is_some_and(|w| elapsed(state, now) >= w);
    match step {
        Step::SetWeight(weight) => {
            let mut t = next_step(state, now);
            t.state.weight = *weight;
            Some(t)
        }
        Step::Pause {
            duration: Some(duration),
        } => {
            if elapsed(state, now) < *duration {
                return None;
            }
            if verdicts.step_sample_reached {
                return Some(next_step(state, now));
            }
            let max_wait = spec.analysis.as_ref().and_then(|a| a.max_wait);
            waited_too_long(max_wait.map(|w| w.max(*duration)))
                .then(|| paused(state, PauseReason::MinSample))
        }
        Step::Pause { duration: None } => Some(paused(state, PauseReason::PauseStep)),
        Step::Approval => Some(paused(state, PauseReason::Approval)),
        Step::Analysis(analysis) => match verdicts.step {
            _ if state.analysis_skipped => Some(next_step(state, now)),
            Some(Phase::Successful) => Some(next_step(state, now)),
            Some(p @ (Phase::Failed | Phase::Error)) => {
                Some(rolled_back(state, AnalysisKind::Step, p))
            }
            Some(Phase::Inconclusive) => Some(paused(state, PauseReason::Inconclusive)),
            _ => waited_too_long(analysis.max_wait).then(|| paused(state, PauseReason::MinSample)),
        },
    }
}

fn switch(state: &RolloutState, now: DateTime<Utc>) -> Transition {
    Transition {
        state: RolloutState {
            step: 1,
            step_started_at: now,
            status: Status::Progressing,
            paused: None,
            switched: true,
            ..state.clone()
        },
        action: RolloutAction::Switched,
        pointer: Some(PointerTarget::Candidate),
    }
}

fn active(state: &RolloutState) -> Result<(), CommandError> {
    if state.status.is_terminal() {
        Err(CommandError::Finished(state.status))
    } else {
        Ok(())
    }
}

/// A person promotes: `full` makes the candidate live now; otherwise the current step is
/// completed (a pause or approval ends; blue-green switches, or ends its watch after the switch).
pub fn promote(
    spec: &RolloutSpec,
    state: &RolloutState,
    now: DateTime<Utc>,
    full: bool,
) -> Result<Transition, CommandError> {
    active(state)?;
    if full {
        return Ok(promote_now(state));
    }
    Ok(match &spec.strategy {
        Strategy::Canary { steps } => {
            if state.step as usize >= steps.len() {
                promote_now(state)
            } else {
                let mut t = next_step(state, now);
                if let Some(Step::SetWeight(w)) = steps.get(state.step as usize) {
                    t.state.weight = *w;
                }
                t
            }
        }
        Strategy::BlueGreen(_) if !state.switched => switch(state, now),
        Strategy::BlueGreen(_) | Strategy::Immediate => promote_now(state),
    })
}

/// A person pauses the rollout where it is (the current weight keeps being served).
pub fn pause(state: &RolloutState) -> Result<Transition, CommandError> {
    active(state)?;
    if state.status == Status::Paused {
        return Err(CommandError::NotNow("the rollout is already paused".into()));
    }
    Ok(paused(state, PauseReason::Manual))
}

/// A person resumes a paused rollout. At a pause step or an approval this completes the step;
/// after a minimum-sample timeout the step's clock starts again.
pub fn resume(
    spec: &RolloutSpec,
    state: &RolloutState,
    now: DateTime<Utc>,
) -> Result<Transition, CommandError> {
    active(state)?;
    let Some(reason) = state.paused.filter(|_| state.status == Status::Paused) else {
        return Err(CommandError::NotNow("the rollout is not paused".into()));
    };
    let resumed = |mut t: Transition| {
        t.action = RolloutAction::Resumed;
        t
    };
    Ok(match reason {
        PauseReason::PauseStep | PauseReason::Approval => {
            let mut t = promote(spec, state, now, false)?;
            t.action = RolloutAction::Resumed;
            t
        }
        PauseReason::MinSample => resumed(Transition {
            state: RolloutState {
                status: Status::Progressing,
                paused: None,
                step_started_at: now,
                ..state.clone()
            },
            action: RolloutAction::Resumed,
            pointer: None,
        }),
        PauseReason::Manual | PauseReason::Inconclusive => resumed(Transition {
            state: RolloutState {
                status: Status::Progressing,
                paused: None,
                ..state.clone()
            },
            action: RolloutAction::Resumed,
            pointer: None,
        }),
    })
}

/// A person aborts: stable serves everyone again (a switched blue-green switches back).
pub fn abort(state: &RolloutState) -> Result<Transition, CommandError> {
    active(state)?;
    Ok(Transition {
        state: RolloutState {
            status: Status::Aborted,
            weight: 0,
            paused: None,
            switched: false,
            ..state.clone()
        },
        action: RolloutAction::Aborted,
        pointer: state.switched.then_some(PointerTarget::Stable),
    })
}

/// A person skips analysis for the rest of the rollout (recorded; steps still run).
pub fn skip_analysis(state: &RolloutState) -> Result<Transition, CommandError> {
    active(state)?;
    if state.analysis_skipped {
        return Err(CommandError::NotNow("analysis is already skipped".into()));
    }
    Ok(Transition {
        state: RolloutState {
            analysis_skipped: true,
            ..state.clone()
        },
        action: RolloutAction::AnalysisSkipped,
        pointer: None,
    })
}
