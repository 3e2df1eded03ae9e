//! Environment rows: each `environment_created` leaf has its row, created by the leaf's actor.
//! A row without a leaf is only a warning: environments are not signed, and rows older than
//! the ledger have none.

use std::collections::BTreeSet;

use super::ledger::{Ledger, UNRECORDED_ACTOR};
use super::report::{leaf_row, Report};
use super::Snapshot;

fn environment_row(env: &str) -> (&'static str, String) {
    ("environments", env.to_owned())
}

/// Checks every environment row and every `environment_created` leaf.
pub(super) fn check(snapshot: &Snapshot, ledger: &Ledger, report: &mut Report) {
    let mut seen = BTreeSet::new();
    for env in &snapshot.environments {
        seen.insert(env.name.as_str());
        match ledger.environments.get(&env.name) {
            Some((index, actor)) if actor != &env.created_by && actor != UNRECORDED_ACTOR => {
                report.fail(
                    leaf_row(*index),
                    format!(
                        "actor '{actor}', but environments row ({}) was created by '{}'",
                        env.name, env.created_by
                    ),
                );
            }
            Some(_) => {}
            None => report.warn(
                environment_row(&env.name),
                "no environment_created leaf records it (created before the ledger?)",
            ),
        }
    }
    for (env, (index, _)) in &ledger.environments {
        if !seen.contains(env.as_str()) {
            report.fail(
                environment_row(env),
                format!("missing, but ledger leaf {index} records its creation"),
            );
        }
    }
}
