//! What a deploy or rollback means for an environment's pointer.
//!
//! The pointer's history is a list of records, oldest first. Replaying it gives a *stack* of
//! versions that were live: a deploy pushes, a rollback pops back to its target. Rolling back
//! therefore walks back and never forward: after deploys of 1, 2, 3, rollbacks go to 2, then 1,
//! then there is nothing to roll back to; a version rolled back from is only live again through
//! a new deploy. Keeping this pure lets both storage backends apply the same rule inside their
//! transaction.

use serde::{Deserialize, Serialize};

use crate::name::Version;

/// Whether a pointer move was a deploy or a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployKind {
    /// A new version was made live.
    Deploy,
    /// The pointer went back to an earlier live version.
    Rollback,
}

impl DeployKind {
    /// Storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployKind::Deploy => "deploy",
            DeployKind::Rollback => "rollback",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "deploy" => Some(DeployKind::Deploy),
            "rollback" => Some(DeployKind::Rollback),
            _ => None,
        }
    }
}

/// A requested pointer move, before it is checked against history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveRequest {
    /// Make this version live.
    Deploy(Version),
    /// Go back to the previous live version, or to this earlier live one.
    Rollback(Option<Version>),
}

/// A checked pointer move, ready to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointerMove {
    /// What was live before (none for the first deploy).
    pub from: Option<Version>,
    /// What is live after.
    pub to: Version,
    /// Deploy or rollback.
    pub kind: DeployKind,
}

/// Why a rollback cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    /// Nothing was live before the current version (or nothing is live at all).
    #[error("nothing to roll back to: no earlier version was live in this environment")]
    NothingToRollBack,
    /// `to_version` was not live earlier in this environment (or was rolled back from since).
    #[error(
        "version {0} was not live earlier in this environment, so it cannot be rolled back to"
    )]
    NotAnEarlierVersion(Version),
}

/// The stack of live versions after replaying `history` (oldest first); the top is live.
pub fn live_stack(history: impl IntoIterator<Item = (DeployKind, Version)>) -> Vec<Version> {
    let mut stack = Vec::new();
    for (kind, to) in history {
        match kind {
            DeployKind::Deploy => stack.push(to),
            DeployKind::Rollback => {
                while stack.last().is_some_and(|top| *top != to) {
                    stack.pop();
                }
                if stack.is_empty() {
                    // A history that does not replay cleanly (should not happen) still ends
                    // with the recorded version live.
                    stack.push(to);
                }
            }
        }
    }
    stack
}

/// Checks a request against the live stack. `Ok(None)` means nothing changes (deploying the
/// version that is already live records nothing).
pub fn plan_move(
    stack: &[Version],
    request: MoveRequest,
) -> Result<Option<PointerMove>, RollbackError> {
    let current = stack.last().copied();
    match request {
        MoveRequest::Deploy(to) if current == Some(to) => Ok(None),
        MoveRequest::Deploy(to) => Ok(Some(PointerMove {
            from: current,
            to,
            kind: DeployKind::Deploy,
        })),
        MoveRequest::Rollback(target) => {
            let (Some(current), Some(earlier)) = (current, stack.len().checked_sub(1)) else {
                return Err(RollbackError::NothingToRollBack);
            };
            let below = &stack[..earlier];
            // Rolling back to the version that is live already changes nothing (as deploying
            // it does): no record, rather than a "rollback" from v to v that leaves the stack
            // as it was and sends the next rollback forward.
            if target == Some(current) {
                return Ok(None);
            }
            let to = match target {
                None => *below.last().ok_or(RollbackError::NothingToRollBack)?,
                Some(v) if below.contains(&v) => v,
                Some(v) => return Err(RollbackError::NotAnEarlierVersion(v)),
            };
            Ok(Some(PointerMove {
                from: Some(current),
                to,
                kind: DeployKind::Rollback,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: i64) -> Version {
        Version::new(n).unwrap()
    }

    /// Applies requests in order, returning what is live after each.
    fn run(requests: &[MoveRequest]) -> Vec<Result<Option<Version>, RollbackError>> {
        let mut history = Vec::new();
        requests
            .iter()
            .map(|r| {
                let stack = live_stack(history.clone());
                let planned = plan_move(&stack, *r)?;
                if let Some(m) = planned {
                    history.push((m.kind, m.to));
                }
                Ok(planned.map(|m| m.to))
            })
            .collect()
    }

    #[test]
    fn rollbacks_walk_back_and_never_forward() {
        use MoveRequest::*;
        let out = run(&[
            Deploy(v(1)),
            Deploy(v(2)),
            Deploy(v(3)),
            Rollback(None),
            Rollback(None),
            Rollback(None),
        ]);
        assert_eq!(out[3], Ok(Some(v(2))));
        assert_eq!(out[4], Ok(Some(v(1))));
        assert_eq!(out[5], Err(RollbackError::NothingToRollBack));
    }

    #[test]
    fn rolled_back_versions_return_only_by_deploy() {
        use MoveRequest::*;
        let out = run(&[
            Deploy(v(1)),
            Deploy(v(2)),
            Deploy(v(3)),
            Rollback(None),
            Rollback(Some(v(3))),
        ]);
        assert_eq!(out[4], Err(RollbackError::NotAnEarlierVersion(v(3))));
        let out = run(&[
            Deploy(v(1)),
            Deploy(v(2)),
            Rollback(None),
            Deploy(v(2)),
            Rollback(None),
        ]);
        assert_eq!(out[4], Ok(Some(v(1))));
    }

    #[test]
    fn rollback_to_an_earlier_version_goes_there_in_one_step() {
        use MoveRequest::*;
        let out = run(&[
            Deploy(v(1)),
            Deploy(v(2)),
            Deploy(v(3)),
            Deploy(v(4)),
            Rollback(Some(v(2))),
            Rollback(None),
            Rollback(None),
        ]);
        assert_eq!(out[4], Ok(Some(v(2))));
        assert_eq!(out[5], Ok(Some(v(1))));
        assert_eq!(out[6], Err(RollbackError::NothingToRollBack));
    }

    #[test]
    fn rolling_back_to_the_live_version_records_nothing() {
        use MoveRequest::*;
        let out = run(&[
            Deploy(v(1)),
            Deploy(v(2)),
            Deploy(v(1)),
            Rollback(Some(v(1))),
            Rollback(None),
            Rollback(None),
        ]);
        assert_eq!(out[3], Ok(None));
        assert_eq!(out[4], Ok(Some(v(2))));
        assert_eq!(out[5], Ok(Some(v(1))));
    }

    #[test]
    fn redeploying_the_live_version_records_nothing_and_empty_history_cannot_roll_back() {
        use MoveRequest::*;
        let out = run(&[Rollback(None), Deploy(v(1)), Deploy(v(1)), Rollback(None)]);
        assert_eq!(out[0], Err(RollbackError::NothingToRollBack));
        assert_eq!(out[2], Ok(None));
        assert_eq!(out[3], Err(RollbackError::NothingToRollBack));
    }
}
