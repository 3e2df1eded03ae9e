//! A pure model of the registry's rules, for differential tests.
//!
//! It keeps prompts, environments and pointer histories in plain maps and decides every answer
//! with the same core rules the server applies inside its transactions ([`publish::plan`],
//! [`live_stack`], [`plan_move`]), in the order the server checks them. A test runs one random
//! sequence of operations against the HTTP API and against this model and compares the answers;
//! a difference is a bug in a backend or in the service layer, not in the rules themselves.

use std::collections::{BTreeMap, BTreeSet};

use crate::content::{Digest, PromptContent, PromptType};
use crate::deploy::{live_stack, plan_move, DeployKind, MoveRequest, RollbackError};
use crate::name::{EnvName, PromptName, Version};
use crate::publish::{self, Latest, PublishError, PublishPlan};

/// One recorded pointer move, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    /// Deploy or rollback.
    pub kind: DeployKind,
    /// What was live before.
    pub from: Option<Version>,
    /// What is live after.
    pub to: Version,
}

/// What an operation answers, without HTTP: the fields a differential test compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A publish: the version answered and whether it was created.
    Published {
        /// The version number.
        version: Version,
        /// False for an idempotent push.
        created: bool,
    },
    /// A deploy or rollback: the record answered and whether the pointer moved.
    Moved {
        /// The new record, or the last one when nothing changed.
        record: Move,
        /// Whether the pointer moved.
        changed: bool,
    },
    /// A refusal, by its API error code (`not_found`, `type_change`, …).
    Refused(&'static str),
}

/// The registry's state as the rules see it.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Per prompt, its versions' digests and types in order (version n at index n-1).
    prompts: BTreeMap<PromptName, Vec<(Digest, PromptType)>>,
    /// The environments that exist.
    envs: BTreeSet<EnvName>,
    /// Per (environment, prompt), the recorded moves, oldest first.
    pointers: BTreeMap<(EnvName, PromptName), Vec<Move>>,
}

impl Model {
    /// A registry whose project starts with development, staging and production.
    pub fn new() -> Self {
        let envs = ["development", "staging", "production"]
            .into_iter()
            .filter_map(|e| EnvName::parse(e).ok())
            .collect();
        Self {
            envs,
            ..Self::default()
        }
    }

    /// Publishes `content` under `name`.
    pub fn publish(&mut self, name: &str, content: &PromptContent) -> Outcome {
        let Ok(name) = PromptName::parse(name) else {
            return Outcome::Refused("invalid_request");
        };
        let versions = self.prompts.entry(name).or_default();
        let digest = content.digest();
        let latest = versions.last().and_then(|(d, t)| {
            Some(Latest {
                version: Version::new(i64::try_from(versions.len()).ok()?).ok()?,
                digest: d,
                prompt_type: *t,
            })
        });
        let latest_version = latest.map(|l| l.version);
        match publish::plan(latest, &digest, content.prompt_type()) {
            Ok(PublishPlan::Create { version, .. }) => {
                versions.push((digest, content.prompt_type()));
                Outcome::Published {
                    version,
                    created: true,
                }
            }
            Ok(PublishPlan::Unchanged) => match latest_version {
                Some(version) => Outcome::Published {
                    version,
                    created: false,
                },
                None => Outcome::Refused("internal"),
            },
            Err(PublishError::TypeChange { .. }) => Outcome::Refused("type_change"),
            Err(PublishError::Exhausted) => Outcome::Refused("version_limit"),
        }
    }

    /// Deploys version `version` of `name` to `env`.
    pub fn deploy(&mut self, env: &str, name: &str, version: i64) -> Outcome {
        let (Ok(env), Ok(name), Ok(version)) = (
            EnvName::parse(env),
            PromptName::parse(name),
            Version::new(version),
        ) else {
            return Outcome::Refused("invalid_request");
        };
        if !self.envs.contains(&env) || self.latest(&name).is_none_or(|l| version > l) {
            return Outcome::Refused("not_found");
        }
        let history = self.pointers.entry((env, name)).or_default();
        let stack = live_stack(history.iter().map(|m| (m.kind, m.to)));
        record_plan(history, plan_move(&stack, MoveRequest::Deploy(version)))
    }

    /// Rolls `name` back in `env`, to the version live before or to `to`.
    pub fn rollback(&mut self, env: &str, name: &str, to: Option<i64>) -> Outcome {
        let (Ok(env), Ok(name)) = (EnvName::parse(env), PromptName::parse(name)) else {
            return Outcome::Refused("invalid_request");
        };
        let to = match to.map(Version::new).transpose() {
            Ok(to) => to,
            Err(_) => return Outcome::Refused("invalid_request"),
        };
        if !self.envs.contains(&env) || self.latest(&name).is_none() {
            return Outcome::Refused("not_found");
        }
        let history = self.pointers.entry((env, name)).or_default();
        if history.is_empty() {
            return Outcome::Refused("nothing_to_roll_back");
        }
        let stack = live_stack(history.iter().map(|m| (m.kind, m.to)));
        record_plan(history, plan_move(&stack, MoveRequest::Rollback(to)))
    }

    /// The latest version of `name`, if it has any.
    pub fn latest(&self, name: &PromptName) -> Option<Version> {
        let n = self.prompts.get(name)?.len();
        Version::new(i64::try_from(n).ok()?).ok()
    }

    /// The prompts that have at least one version.
    pub fn prompts(&self) -> impl Iterator<Item = &PromptName> {
        self.prompts
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, _)| n)
    }

    /// The environments that exist.
    pub fn envs(&self) -> impl Iterator<Item = &EnvName> {
        self.envs.iter()
    }

    /// The version live for `name` in `env`, if any.
    pub fn live(&self, env: &EnvName, name: &PromptName) -> Option<Version> {
        let history = self.pointers.get(&(env.clone(), name.clone()))?;
        live_stack(history.iter().map(|m| (m.kind, m.to)))
            .last()
            .copied()
    }

    /// How many moves are recorded for `name` in `env`.
    pub fn history_len(&self, env: &EnvName, name: &PromptName) -> usize {
        self.pointers
            .get(&(env.clone(), name.clone()))
            .map_or(0, Vec::len)
    }
}

/// The API error code of a refused rollback.
/// Records a planned move in `history` (or answers the last record when nothing changes).
fn record_plan(
    history: &mut Vec<Move>,
    planned: Result<Option<crate::deploy::PointerMove>, RollbackError>,
) -> Outcome {
    match planned {
        Ok(Some(m)) => {
            let record = Move {
                kind: m.kind,
                from: m.from,
                to: m.to,
            };
            history.push(record);
            Outcome::Moved {
                record,
                changed: true,
            }
        }
        Ok(None) => match history.last() {
            Some(last) => Outcome::Moved {
                record: *last,
                changed: false,
            },
            None => Outcome::Refused("internal"),
        },
        Err(e) => Outcome::Refused(rollback_code(&e)),
    }
}

fn rollback_code(e: &RollbackError) -> &'static str {
    match e {
        RollbackError::NothingToRollBack => "nothing_to_roll_back",
        RollbackError::NotAnEarlierVersion(_) => "not_an_earlier_version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::PromptBody;

    fn text(t: &str) -> PromptContent {
        PromptContent::new(PromptBody::Text(t.into()), None, None).unwrap()
    }

    fn v(n: i64) -> Version {
        Version::new(n).unwrap()
    }

    #[test]
    fn refusals_come_in_the_servers_order() {
        let mut m = Model::new();
        assert_eq!(
            m.rollback("production", "p", None),
            Outcome::Refused("not_found")
        );
        assert_eq!(
            m.deploy("production", "Bad", 1),
            Outcome::Refused("invalid_request")
        );
        assert_eq!(
            m.publish("p", &text("a")),
            Outcome::Published {
                version: v(1),
                created: true
            }
        );
        assert_eq!(
            m.publish("p", &text("a")),
            Outcome::Published {
                version: v(1),
                created: false
            }
        );
        assert_eq!(m.deploy("nope", "p", 1), Outcome::Refused("not_found"));
        assert_eq!(
            m.deploy("production", "p", 2),
            Outcome::Refused("not_found")
        );
        assert_eq!(
            m.rollback("production", "p", None),
            Outcome::Refused("nothing_to_roll_back")
        );
        let first = Move {
            kind: DeployKind::Deploy,
            from: None,
            to: v(1),
        };
        assert_eq!(
            m.deploy("production", "p", 1),
            Outcome::Moved {
                record: first,
                changed: true
            }
        );
        assert_eq!(
            m.deploy("production", "p", 1),
            Outcome::Moved {
                record: first,
                changed: false
            }
        );
        assert_eq!(
            m.live(
                &EnvName::parse("production").unwrap(),
                &PromptName::parse("p").unwrap()
            ),
            Some(v(1))
        );
        assert_eq!(
            m.history_len(
                &EnvName::parse("production").unwrap(),
                &PromptName::parse("p").unwrap()
            ),
            1
        );
    }
}
