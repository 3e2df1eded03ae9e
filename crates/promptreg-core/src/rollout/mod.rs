//! Progressive delivery, as pure rules: sticky bucketing, the rollout spec and its state machine.
//!
//! - [`mod@bucket`]: `murmur3_x86_32("<rollout id>:<subject>") % 10_000`, the arm a subject gets.
//! - [`spec`]: the `strategy` and `analysis` of a rollout request, parsed with field paths.
//! - [`machine`]: the state machine (time and analysis verdicts passed in), and the commands
//!   people give it.

pub mod bucket;
pub mod machine;
pub mod spec;

pub use bucket::{bucket, is_candidate, BUCKETS};
pub use machine::{
    AnalysisKind, CommandError, PauseReason, PointerTarget, RolloutAction, RolloutState, Status,
    Transition, Verdicts,
};
pub use spec::{BlueGreen, RolloutSpec, SpecError, Step, Strategy};

#[cfg(test)]
mod tests;
