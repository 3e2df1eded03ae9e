//! A simulated agent fleet against a real promptreg server, to prove release control end to end.
//!
//! Each simulated agent has its own subject (`agent-<i>`). On every run it resolves the prompt
//! with its subject (so a rollout's sticky assignment decides its arm), "runs" the version it
//! got by drawing an outcome from that version's rates ([`Rates`]), and hands the outcome to a
//! reporter that batches outcomes to `POST /v1/outcomes`. Runs are spread evenly so the fleet
//! reports at a set rate.
//!
//! A [`Scenario`] sets up a prompt with a stable and a candidate version, starts a canary with
//! an analysis, runs the fleet and watches the rollout. It measures what the issue asks:
//! the time from the candidate arm reaching the analysis's minimum sample to the last agent
//! that was on the candidate resolving the stable version again.
//!
//! - [`scenario`]: setting up, running and judging one rollout.
//! - [`agents`]: the agents and the outcome reporter.

pub mod agents;
pub mod scenario;

pub use agents::{Fleet, FleetStats, Rates};
pub use scenario::{run_scenario, Scenario, ScenarioResult};
