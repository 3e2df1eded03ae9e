//! Pointer moves and live pointers: each pointer's history is exactly its `pointer_moved`
//! leaves, in order, each record signed and saying what the ledger says; the live catalog is
//! what the last move made live.

use std::collections::{BTreeMap, BTreeSet};

use promptreg_api::DeploymentView;
use promptreg_core::integrity::statement::open_deployment;

use super::ledger::{Ledger, MoveLeaf, UNRECORDED_ACTOR};
use super::report::{deployment_row, leaf_row, pointer_row, Report};
use super::signed::{envelope_digest, mismatches, open, opt, text, time};
use super::Snapshot;

type Pointer = (String, String);

/// Checks every pointer's history against the ledger, then the live catalog.
pub(super) fn check(snapshot: &Snapshot, ledger: &Ledger, report: &mut Report) {
    let mut rows: BTreeMap<Pointer, Vec<&DeploymentView>> = BTreeMap::new();
    for h in &snapshot.history {
        rows.entry((h.env.clone(), h.name.clone()))
            .or_default()
            .extend(h.moves.iter());
    }
    let pointers: BTreeSet<Pointer> = rows.keys().chain(ledger.moves.keys()).cloned().collect();
    for pointer in &pointers {
        let history = rows.get(pointer).map_or(&[][..], Vec::as_slice);
        let leaves = ledger.moves.get(pointer).map_or(&[][..], Vec::as_slice);
        history_of(pointer, history, leaves, ledger, report);
    }
    live(snapshot, ledger, report);
}

/// One pointer: rows and leaves pair up by `seq`, in ledger order.
fn history_of(
    (env, name): &Pointer,
    history: &[&DeploymentView],
    leaves: &[MoveLeaf],
    ledger: &Ledger,
    report: &mut Report,
) {
    let mut by_seq: BTreeMap<i64, &DeploymentView> = BTreeMap::new();
    for row in history {
        if by_seq.insert(row.seq, row).is_some() {
            report.fail(deployment_row(env, name, row.seq), "listed twice");
        }
    }
    for (n, leaf) in leaves.iter().enumerate() {
        if leaf.seq != n as i64 + 1 {
            report.fail(
                leaf_row(leaf.index),
                format!(
                    "records move seq {} of ({env}, '{name}'), but it is that pointer's move {} \
                     in the ledger",
                    leaf.seq,
                    n + 1
                ),
            );
        }
        match by_seq.remove(&leaf.seq) {
            Some(row) => {
                report.checked.moves += 1;
                fields(row, leaf, report);
                signature(row, Some(leaf), ledger, report);
            }
            None => report.fail(
                deployment_row(env, name, leaf.seq),
                format!(
                    "missing, but ledger leaf {} records the move (to version {})",
                    leaf.index, leaf.to_version
                ),
            ),
        }
        if let Some(version) = ledger.versions.get(&(name.clone(), leaf.to_version)) {
            if version.digest != leaf.digest {
                report.fail(
                    leaf_row(leaf.index),
                    format!(
                        "moves to version {} with digest {}, but ledger leaf {} created that \
                         version with digest {}",
                        leaf.to_version, leaf.digest, version.index, version.digest
                    ),
                );
            }
        }
    }
    for row in by_seq.into_values() {
        report.checked.moves += 1;
        let message = match row.ledger_index {
            Some(i) if i >= ledger.size => format!(
                "not in the ledger: its ledger_index {i} is past the signed ledger's {} leaves",
                ledger.size
            ),
            _ => "not in the ledger: no pointer_moved leaf records this move".to_owned(),
        };
        report.fail(deployment_row(env, name, row.seq), message);
        signature(row, None, ledger, report);
    }
}

/// A history row against its leaf.
fn fields(row: &DeploymentView, leaf: &MoveLeaf, report: &mut Report) {
    let at = || deployment_row(&row.env, &row.name, row.seq);
    let legacy = leaf.actor == UNRECORDED_ACTOR && row.signature.is_none();
    let pairs = [
        (
            "from_version",
            opt(row.from_version.as_ref()),
            opt(leaf.from_version.as_ref()),
        ),
        (
            "to_version",
            row.to_version.to_string(),
            leaf.to_version.to_string(),
        ),
        ("digest", row.digest.clone(), leaf.digest.to_string()),
        (
            "kind",
            row.kind.as_str().to_owned(),
            leaf.kind.as_str().to_owned(),
        ),
        (
            "actor",
            row.actor.clone(),
            if legacy {
                row.actor.clone()
            } else {
                leaf.actor.clone()
            },
        ),
        (
            "reason",
            text(row.reason.as_ref()),
            text(leaf.reason.as_ref()),
        ),
    ];
    for (field, mine, theirs) in pairs {
        if mine != theirs {
            report.fail(
                at(),
                format!(
                    "{field} {mine} but the ledger's move (leaf {}) says {theirs}",
                    leaf.index
                ),
            );
        }
    }
    match row.ledger_index {
        Some(i) if i != leaf.index => report.fail(
            at(),
            format!(
                "ledger_index {i}, but the ledger records the move at leaf {}",
                leaf.index
            ),
        ),
        None if row.signature.is_some() => report.fail(at(), "signed but has no ledger_index"),
        _ => {}
    }
}

/// A history row's signature: by a trusted key, about its digest, saying what the row says,
/// and the one the ledger recorded.
fn signature(row: &DeploymentView, leaf: Option<&MoveLeaf>, ledger: &Ledger, report: &mut Report) {
    let at = || deployment_row(&row.env, &row.name, row.seq);
    let Some(value) = &row.signature else {
        match leaf.and_then(|l| l.signature.as_ref().map(|s| (l.index, s))) {
            Some((index, d)) => report.fail(
                at(),
                format!("has no signature, but ledger leaf {index} records signature {d}"),
            ),
            None => report.warn(at(), "unsigned (written before signing)"),
        }
        return;
    };
    let digest = envelope_digest(value);
    if let Some(leaf) = leaf {
        if leaf.signature.as_ref() != Some(&digest) {
            report.fail(
                at(),
                format!(
                    "its signature hashes to {digest}, but ledger leaf {} records {}",
                    leaf.index,
                    opt(leaf.signature.as_ref())
                ),
            );
        }
    }
    let (statement, p) = match open(value, &ledger.ring, open_deployment) {
        Ok(opened) => opened,
        Err(e) => {
            report.fail(at(), format!("signature does not verify: {e}"));
            return;
        }
    };
    report.checked.move_signatures += 1;
    if statement.subject_digest().map(|d| d.to_string()).as_deref() != Some(row.digest.as_str()) {
        report.fail(
            at(),
            format!(
                "digest {} but the signature is for {}",
                row.digest,
                opt(statement.subject_digest().as_ref())
            ),
        );
    }
    let pairs = [
        ("project", ledger.project.clone(), p.project.to_string()),
        ("env", row.env.clone(), p.env.to_string()),
        ("name", row.name.clone(), p.name.to_string()),
        ("seq", row.seq.to_string(), p.seq.to_string()),
        (
            "kind",
            row.kind.as_str().to_owned(),
            p.kind.as_str().to_owned(),
        ),
        (
            "from_version",
            opt(row.from_version.as_ref()),
            opt(p.from_version.as_ref()),
        ),
        (
            "to_version",
            row.to_version.to_string(),
            p.to_version.to_string(),
        ),
        ("actor", row.actor.clone(), p.actor.clone()),
        ("reason", text(row.reason.as_ref()), text(p.reason.as_ref())),
        ("at", time(&row.at), time(&p.at)),
    ];
    for message in mismatches(&pairs) {
        report.fail(at(), message);
    }
}

/// The live catalog: every pointer is what its last move made live, and every pointer the
/// ledger moved is live.
fn live(snapshot: &Snapshot, ledger: &Ledger, report: &mut Report) {
    let mut seen = BTreeSet::new();
    for catalog in &snapshot.catalog {
        for entry in &catalog.entries {
            let pointer = (catalog.env.clone(), entry.name.clone());
            let row = || pointer_row(&catalog.env, &entry.name);
            if !seen.insert(pointer.clone()) {
                report.fail(row(), "listed twice");
                continue;
            }
            report.checked.pointers += 1;
            let Some(last) = ledger.moves.get(&pointer).and_then(|m| m.last()) else {
                report.fail(
                    row(),
                    format!(
                        "version {} is live, but the ledger records no move of this pointer",
                        entry.version
                    ),
                );
                continue;
            };
            if entry.version != last.to_version {
                report.fail(
                    row(),
                    format!(
                        "version {} is live, but the ledger's last move (seq {}, leaf {}) made \
                         version {} live",
                        entry.version, last.seq, last.index, last.to_version
                    ),
                );
            } else if entry.digest != last.digest.as_str() {
                report.fail(
                    row(),
                    format!(
                        "live digest {}, but the ledger's last move (seq {}, leaf {}) recorded {}",
                        entry.digest, last.seq, last.index, last.digest
                    ),
                );
            }
        }
    }
    for ((env, name), moves) in &ledger.moves {
        let Some(last) = moves.last() else { continue };
        if !seen.contains(&(env.clone(), name.clone())) {
            report.fail(
                pointer_row(env, name),
                format!(
                    "missing from the live catalog, but the ledger's last move (seq {}, leaf {}) \
                     made version {} live",
                    last.seq, last.index, last.to_version
                ),
            );
        }
    }
}
