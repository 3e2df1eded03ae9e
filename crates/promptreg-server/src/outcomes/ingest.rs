//! One batch: every event checked and resolved against what it names (the only part that may
//! read the store, for names not met before), then, under the memory lock, de-duplicated and
//! added to its windows. Nothing is recorded for a refused event; a refused event never stops
//! the others.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use promptreg_api::{ErrorDetail, OutcomeReport, OutcomeResult};
use promptreg_core::{ProjectId, Version};

use super::catalog::Misses;
use super::event::{check, refuse, Arm, Checked, Refusal, TimeBounds};
use super::ids::hash_id;
use super::{delta, minute_of, Outcomes, RolloutKey, VersionKey};
use crate::index::ResolveIndex;
use crate::registry::ServiceResult;

/// An event ready to count.
struct Ready {
    checked: Checked,
    version: Version,
    /// (rollout id, step, arm) when the event belongs to a rollout.
    rollout: Option<(String, u32, Arm)>,
}

/// Result codes of `promptreg_outcomes_total`, in tally order.
const RESULTS: [&str; 5] = [
    "success",
    "failure",
    "unreported",
    "unsafe_action",
    "policy_violation",
];

impl Outcomes {
    /// Checks, de-duplicates and counts a batch of events of `project` at `now`.
    pub async fn ingest(
        &self,
        project: &ProjectId,
        events: Vec<serde_json::Value>,
        now: DateTime<Utc>,
        index: &ResolveIndex,
    ) -> ServiceResult<OutcomeReport> {
        let bounds = TimeBounds::at(
            now,
            delta(self.options.max_future),
            delta(self.options.accept_window),
        );
        let mut misses = Misses::default();
        let mut staged: Vec<(Option<String>, Result<Ready, Refusal>)> =
            Vec::with_capacity(events.len());
        for value in events {
            let checked = match check(&value, &bounds) {
                Ok(c) => c,
                Err(r) => {
                    let id = value.get("id").and_then(|v| v.as_str()).map(str::to_owned);
                    staged.push((id, Err(r)));
                    continue;
                }
            };
            let ready = self.resolve(project, checked, index, &mut misses).await?;
            staged.push((None, ready));
        }
        Ok(self.record(project, staged, now))
    }

    /// What the event names: its environment, version and rollout arm.
    async fn resolve(
        &self,
        project: &ProjectId,
        checked: Checked,
        index: &ResolveIndex,
        misses: &mut Misses,
    ) -> ServiceResult<Result<Ready, Refusal>> {
        if let Err(r) = self.catalog.env(project, &checked.env, misses).await? {
            return Ok(Err(r));
        }
        let version = match self
            .catalog
            .version(
                project,
                &checked.name,
                checked.version,
                checked.digest.as_ref(),
                misses,
            )
            .await?
        {
            Ok(v) => v,
            Err(r) => return Ok(Err(r)),
        };
        let active = index.rollout(
            project.as_str(),
            checked.env.as_str(),
            checked.name.as_str(),
        );
        let (id, explicit) = match (&checked.rollout, &active) {
            (Some(id), _) => (id.clone(), true),
            (None, Some(a)) => (a.overlay.id.clone(), false),
            (None, None) => {
                return Ok(Ok(Ready {
                    checked,
                    version,
                    rollout: None,
                }))
            }
        };
        let in_index = active.as_ref().filter(|a| a.overlay.id == id);
        let mut info = match self.catalog.rollout(project, &id, false, misses).await? {
            Ok(info) => info,
            Err(r) => return Ok(Err(r)),
        };
        if info.active && in_index.is_none() {
            // Cached while active and gone from the index since: read its final step.
            info = match self.catalog.rollout(project, &id, true, misses).await? {
                Ok(info) => info,
                Err(r) => return Ok(Err(r)),
            };
        }
        if info.env != checked.env || info.name != checked.name {
            return Ok(Err(refuse(
                "rollout_mismatch",
                format!(
                    "rollout: '{id}' rolls out '{}' in '{}', not '{}' in '{}'",
                    info.name, info.env, checked.name, checked.env
                ),
            )));
        }
        let arm = match checked.arm {
            Some(arm) => {
                let served = match arm {
                    Arm::Stable => info.stable,
                    Arm::Candidate | Arm::Preview => info.candidate,
                };
                if served != version {
                    return Ok(Err(refuse(
                        "arm_mismatch",
                        format!(
                            "arm: the {} arm of rollout '{id}' serves version {served}, not {version}",
                            arm.as_str()
                        ),
                    )));
                }
                arm
            }
            None if version == info.stable => Arm::Stable,
            None if version == info.candidate => Arm::Candidate,
            None if explicit => {
                return Ok(Err(refuse(
                    "arm_mismatch",
                    format!(
                        "version: rollout '{id}' serves versions {} and {}, not {version}",
                        info.stable, info.candidate
                    ),
                )))
            }
            // An older version still reported while a rollout runs: it counts for its version.
            None => {
                return Ok(Ok(Ready {
                    checked,
                    version,
                    rollout: None,
                }))
            }
        };
        let step = in_index.map_or(info.step, |a| a.overlay.step);
        Ok(Ok(Ready {
            checked,
            version,
            rollout: Some((id, step, arm)),
        }))
    }

    /// Counts what is ready, refusing ids seen before (in this batch or earlier).
    fn record(
        &self,
        project: &ProjectId,
        staged: Vec<(Option<String>, Result<Ready, Refusal>)>,
        now: DateTime<Utc>,
    ) -> OutcomeReport {
        let mut results = Vec::with_capacity(staged.len());
        let mut accepted = 0;
        let mut tally: HashMap<(String, String, Version, &'static str), [u64; 5]> = HashMap::new();
        let mut latencies: HashMap<(String, String, Version, &'static str), Vec<f64>> =
            HashMap::new();
        {
            let mut memory = self.memory.lock();
            let memory = &mut *memory;
            let ids = memory.ids.entry(project.clone()).or_default();
            for (index, (bad_id, staged)) in staged.into_iter().enumerate() {
                let ready = match staged {
                    Ok(ready) => ready,
                    Err(r) => {
                        results.push(refused(index, bad_id, r));
                        continue;
                    }
                };
                let hash = hash_id(&ready.checked.id);
                if ids.contains(hash) {
                    let r = refuse(
                        "duplicate_id",
                        format!(
                            "id: an event with id '{}' was already accepted",
                            ready.checked.id
                        ),
                    );
                    results.push(refused(index, Some(ready.checked.id), r));
                    continue;
                }
                ids.insert(hash, now, true);
                let Ready {
                    checked,
                    version,
                    rollout,
                } = ready;
                let o = &checked.observation;
                let arm = rollout.as_ref().map_or("none", |(_, _, arm)| arm.as_str());
                let counts = tally
                    .entry((
                        checked.env.to_string(),
                        checked.name.to_string(),
                        version,
                        arm,
                    ))
                    .or_default();
                counts[match o.success {
                    Some(true) => 0,
                    Some(false) => 1,
                    None => 2,
                }] += 1;
                counts[3] += u64::from(o.unsafe_action);
                counts[4] += u64::from(o.policy_violation);
                if let Some(ms) = o.latency_ms {
                    latencies
                        .entry((
                            checked.env.to_string(),
                            checked.name.to_string(),
                            version,
                            arm,
                        ))
                        .or_default()
                        .push(ms);
                }
                let key = VersionKey {
                    project: project.clone(),
                    env: checked.env,
                    name: checked.name,
                    version,
                    minute: minute_of(checked.time),
                };
                memory.versions.entry(key).or_default().record(o);
                if let Some((rollout, step, arm)) = rollout {
                    let key = RolloutKey {
                        project: project.clone(),
                        rollout,
                        step,
                        arm,
                    };
                    memory.rollouts.entry(key).or_default().record(o);
                }
                accepted += 1;
                results.push(OutcomeResult {
                    index,
                    id: Some(checked.id),
                    accepted: true,
                    error: None,
                });
            }
        }
        for ((env, prompt, version, arm), counts) in tally {
            let version = version.to_string();
            for (result, n) in RESULTS.iter().zip(counts) {
                if n > 0 {
                    self.metrics.outcomes.add(
                        project.as_str(),
                        &env,
                        &prompt,
                        &version,
                        arm,
                        result,
                        n,
                    );
                }
            }
        }
        for ((env, prompt, version, arm), values) in latencies {
            self.metrics.outcomes.observe_latency(
                project.as_str(),
                &env,
                &prompt,
                &version.to_string(),
                arm,
                &values,
            );
        }
        OutcomeReport {
            accepted,
            rejected: results.len() - accepted,
            results,
        }
    }
}

fn refused(index: usize, id: Option<String>, r: Refusal) -> OutcomeResult {
    OutcomeResult {
        index,
        id,
        accepted: false,
        error: Some(ErrorDetail {
            code: r.code.to_owned(),
            message: r.message,
            details: None,
        }),
    }
}
