//! [`plan`]: the versions lifecycle rules let go, and those a hold keeps.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use super::{format_age, Rules};
use crate::deploy::{live_stack, DeployKind};
use crate::name::{EnvName, PromptName, Version};

/// A version as the rules see it: no content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionFact {
    /// The prompt.
    pub name: PromptName,
    /// The version.
    pub version: Version,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Whether it was pruned already (then it is left out of the plan).
    pub pruned: bool,
}

/// One recorded pointer move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveFact {
    /// The environment.
    pub env: EnvName,
    /// The prompt.
    pub name: PromptName,
    /// The record's number in its pointer's history.
    pub seq: i64,
    /// Deploy or rollback.
    pub kind: DeployKind,
    /// The version it made live.
    pub to_version: Version,
    /// When.
    pub at: DateTime<Utc>,
}

/// A rollout of a pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutFact {
    /// Its id.
    pub id: String,
    /// The environment.
    pub env: EnvName,
    /// The prompt.
    pub name: PromptName,
    /// The version live when it started.
    pub stable: Version,
    /// The version rolled out.
    pub candidate: Version,
    /// Whether it is not over (its versions are served, or may be again).
    pub active: bool,
    /// Its last change (for one that is over: when its versions stopped being served by it).
    pub updated_at: DateTime<Utc>,
}

/// Everything the rules look at, for one project.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// Every version.
    pub versions: &'a [VersionFact],
    /// Every recorded pointer move, in any order.
    pub moves: &'a [MoveFact],
    /// The protected environments.
    pub protected: &'a BTreeSet<EnvName>,
    /// Every rollout, over or not.
    pub rollouts: &'a [RolloutFact],
}

/// Why a version the rules would let go stays.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hold {
    /// It is live in this environment.
    Live {
        /// The environment.
        env: EnvName,
    },
    /// It was deployed to this protected environment at some time.
    ProtectedDeploy {
        /// The environment.
        env: EnvName,
    },
    /// A rollback in this environment may make it live again.
    RollbackTarget {
        /// The environment.
        env: EnvName,
    },
    /// It is the stable or the candidate version of a rollout that is not over.
    Rollout {
        /// The rollout.
        id: String,
        /// Its environment.
        env: EnvName,
        /// Whether it is the candidate (else the stable version).
        candidate: bool,
    },
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hold::Live { env } => write!(f, "live in {env}"),
            Hold::ProtectedDeploy { env } => {
                write!(f, "was deployed to the protected environment {env}")
            }
            Hold::RollbackTarget { env } => write!(f, "a rollback target in {env}"),
            Hold::Rollout { id, env, candidate } => {
                let role = if *candidate {
                    "candidate"
                } else {
                    "stable version"
                };
                write!(f, "the {role} of active rollout {id} in {env}")
            }
        }
    }
}

/// A version that may be pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prunable {
    /// The prompt.
    pub name: PromptName,
    /// The version.
    pub version: Version,
    /// Why the rules let it go, in one line.
    pub reason: String,
}

/// A version the rules would let go, kept by holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The prompt.
    pub name: PromptName,
    /// The version.
    pub version: Version,
    /// What keeps it, each once.
    pub holds: Vec<Hold>,
}

/// What the rules say, by prompt then version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Versions that may be pruned.
    pub prune: Vec<Prunable>,
    /// Versions the rules would let go but a hold keeps.
    pub held: Vec<Held>,
}

type Key = (PromptName, Version);

/// Which versions `rules` let go at `now`. A version may go only when it is beyond the
/// newest `keep_last` of its prompt, was neither created nor live within
/// `prune_unused_after` (when set), and nothing holds it: it is not live anywhere, was never
/// deployed to a protected environment, is not a possible rollback target (in any pointer's
/// live stack) and is not the stable or candidate version of a rollout that is not over.
pub fn plan(rules: &Rules, now: DateTime<Utc>, facts: &Facts<'_>) -> Plan {
    if rules.is_empty() {
        return Plan::default();
    }
    let (holds, last_live) = replay(facts);
    let cutoff = rules.prune_unused_after.map(|age| {
        TimeDelta::from_std(age)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    });
    let keep = usize::try_from(rules.kept_newest()).unwrap_or(usize::MAX);

    let mut by_prompt: BTreeMap<&PromptName, Vec<&VersionFact>> = BTreeMap::new();
    for v in facts.versions {
        by_prompt.entry(&v.name).or_default().push(v);
    }
    let mut out = Plan::default();
    for versions in by_prompt.values_mut() {
        versions.sort_by_key(|v| std::cmp::Reverse(v.version));
        let mut older: Vec<&VersionFact> = versions
            .iter()
            .skip(keep)
            .filter(|v| !v.pruned)
            .copied()
            .collect();
        older.reverse();
        for v in older {
            let key = (v.name.clone(), v.version);
            let live_until = last_live.get(&key);
            let mut reason = format!(
                "beyond the newest {keep} version{} of '{}'",
                if keep == 1 { "" } else { "s" },
                v.name
            );
            if let (Some(cutoff), Some(age)) = (cutoff, rules.prune_unused_after) {
                if v.created_at >= cutoff || live_until.is_some_and(|(t, _)| *t >= cutoff) {
                    continue;
                }
                let used = match live_until {
                    None => "never live".to_owned(),
                    Some((t, env)) => format!("last live until {} in {env}", stamp(t)),
                };
                reason.push_str(&format!(
                    "; created {}, {used}: unused for more than {}",
                    stamp(&v.created_at),
                    format_age(age)
                ));
            }
            match holds.get(&key) {
                Some(h) if !h.is_empty() => out.held.push(Held {
                    name: v.name.clone(),
                    version: v.version,
                    holds: h.iter().cloned().collect(),
                }),
                _ => out.prune.push(Prunable {
                    name: v.name.clone(),
                    version: v.version,
                    reason,
                }),
            }
        }
    }
    out
}

fn stamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Replays every pointer's moves and every rollout: what holds each version, and until when
/// (and where) each was last live, for the intervals that ended.
#[allow(clippy::type_complexity)]
fn replay(
    facts: &Facts<'_>,
) -> (
    BTreeMap<Key, BTreeSet<Hold>>,
    BTreeMap<Key, (DateTime<Utc>, EnvName)>,
) {
    let mut holds: BTreeMap<Key, BTreeSet<Hold>> = BTreeMap::new();
    let mut last_live: BTreeMap<Key, (DateTime<Utc>, EnvName)> = BTreeMap::new();
    let mut lived = |name: &PromptName, version: Version, until: DateTime<Utc>, env: &EnvName| {
        let slot = last_live
            .entry((name.clone(), version))
            .or_insert((until, env.clone()));
        if until > slot.0 {
            *slot = (until, env.clone());
        }
    };

    let mut pointers: BTreeMap<(&EnvName, &PromptName), Vec<&MoveFact>> = BTreeMap::new();
    for m in facts.moves {
        pointers.entry((&m.env, &m.name)).or_default().push(m);
    }
    for ((env, name), moves) in &mut pointers {
        moves.sort_by_key(|m| m.seq);
        for pair in moves.windows(2) {
            lived(name, pair[0].to_version, pair[1].at, env);
        }
        let mut hold = |version: Version, h: Hold| {
            holds
                .entry(((*name).clone(), version))
                .or_default()
                .insert(h);
        };
        if facts.protected.contains(*env) {
            for m in moves.iter() {
                hold(
                    m.to_version,
                    Hold::ProtectedDeploy {
                        env: (*env).clone(),
                    },
                );
            }
        }
        let stack = live_stack(moves.iter().map(|m| (m.kind, m.to_version)));
        if let Some((live, below)) = stack.split_last() {
            hold(
                *live,
                Hold::Live {
                    env: (*env).clone(),
                },
            );
            for v in below {
                hold(
                    *v,
                    Hold::RollbackTarget {
                        env: (*env).clone(),
                    },
                );
            }
        }
    }
    for r in facts.rollouts {
        for (version, candidate) in [(r.stable, false), (r.candidate, true)] {
            if r.active {
                holds
                    .entry((r.name.clone(), version))
                    .or_default()
                    .insert(Hold::Rollout {
                        id: r.id.clone(),
                        env: r.env.clone(),
                        candidate,
                    });
            } else {
                lived(&r.name, version, r.updated_at, &r.env);
            }
        }
    }
    (holds, last_live)
}
