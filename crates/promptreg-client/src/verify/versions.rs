//! Version rows: the content recomputes to the stored digest, the signature verifies and says
//! what the row says, and the ledger's `version_created` leaf names the same version, digest
//! and signature; every such leaf has its row. A pruned row (a tombstone without content) is
//! checked by its signature and leaves, and a `version_pruned` leaf must record its pruning. A version the server refuses to serve (its
//! content no longer opens) is a failure naming its row.

use std::collections::BTreeSet;

use promptreg_api::VersionView;
use promptreg_core::integrity::statement::open_version;
use promptreg_core::Digest;

use super::ledger::{Ledger, VersionLeaf, UNRECORDED_ACTOR};
use super::report::{leaf_row, version_row, Report};
use super::signed::{envelope_digest, mismatches, open, opt, text, time};
use super::Snapshot;

/// Checks every version row and every `version_created` leaf.
pub(super) fn check(snapshot: &Snapshot, ledger: &Ledger, report: &mut Report) {
    let mut seen = BTreeSet::new();
    for v in &snapshot.versions {
        let name = v.name.as_str();
        if !seen.insert((name.to_owned(), v.version)) {
            report.fail(version_row(name, v.version), "listed twice");
            continue;
        }
        report.checked.versions += 1;
        let stored = match Digest::parse(&v.digest) {
            Ok(d) => Some(d),
            Err(e) => {
                report.fail(
                    version_row(name, v.version),
                    format!("stored digest {:?} is not a digest ({e})", v.digest),
                );
                None
            }
        };
        if v.pruned_at.is_some() {
            // A tombstone: its content is gone, so its digest cannot be recomputed; what
            // vouches for it is its signature, its creation leaf and its pruning leaf.
            report.checked.pruned_versions += 1;
            pruning(v, stored.as_ref(), ledger, report);
        } else if let Some(leaf) = ledger.pruned.get(&(name.to_owned(), v.version)) {
            report.fail(
                version_row(name, v.version),
                format!(
                    "ledger leaf {} records its pruning, but the row still holds its content",
                    leaf.index
                ),
            );
        }
        match v.content() {
            _ if v.pruned_at.is_some() => {} // nothing to hash
            Ok(content) => {
                let recomputed = content.digest();
                if Some(&recomputed) != stored.as_ref() {
                    report.fail(
                        version_row(name, v.version),
                        format!("content hashes to {recomputed}, stored digest {}", v.digest),
                    );
                }
            }
            Err(e) => report.fail(
                version_row(name, v.version),
                format!("content does not validate: {e}"),
            ),
        }
        let leaf = ledger.versions.get(&(name.to_owned(), v.version));
        signature(v, stored.as_ref(), leaf, ledger, report);
        in_ledger(v, stored.as_ref(), leaf, ledger, report);
    }
    for w in &snapshot.withheld {
        let row = || version_row(&w.name, w.version);
        if !seen.insert((w.name.clone(), w.version)) {
            report.fail(row(), "listed twice");
            continue;
        }
        report.checked.versions += 1;
        match (
            w.code.as_str(),
            ledger.pruned.get(&(w.name.clone(), w.version)),
        ) {
            // Read one by one because another version of its prompt was refused: a 410
            // says it is pruned, but not its tombstone's fields.
            ("pruned", Some(_)) => report.warn(
                row(),
                "pruned; its tombstone could not be read (its prompt's version list was refused)",
            ),
            ("pruned", None) => report.fail(
                row(),
                format!(
                    "the server says it was pruned ({}), but no version_pruned leaf of the \
                     ledger records it",
                    w.message
                ),
            ),
            _ => report.fail(
                row(),
                format!("the server refuses to serve it ({}): {}", w.code, w.message),
            ),
        }
    }
    for ((name, version), leaf) in &ledger.versions {
        if !seen.contains(&(name.clone(), *version)) {
            report.fail(
                version_row(name, version),
                format!(
                    "missing, but ledger leaf {} (event_log seq {}) records its creation",
                    leaf.index,
                    leaf.index + 1
                ),
            );
        }
    }
}

/// A pruned row: a `version_pruned` leaf records its pruning, for the digest it keeps.
fn pruning(v: &VersionView, stored: Option<&Digest>, ledger: &Ledger, report: &mut Report) {
    let row = || version_row(v.name.as_str(), v.version);
    match ledger.pruned.get(&(v.name.to_string(), v.version)) {
        None => report.fail(
            row(),
            "pruned, but no version_pruned leaf of the ledger records its pruning",
        ),
        Some(leaf) if Some(&leaf.digest) != stored => report.fail(
            row(),
            format!(
                "digest {} but ledger leaf {} pruned digest {}",
                v.digest, leaf.index, leaf.digest
            ),
        ),
        Some(_) => {}
    }
}

/// The row's signature: by a trusted key, about this digest, saying what the row says, and
/// the one the ledger recorded.
fn signature(
    v: &VersionView,
    stored: Option<&Digest>,
    leaf: Option<&VersionLeaf>,
    ledger: &Ledger,
    report: &mut Report,
) {
    let row = || version_row(v.name.as_str(), v.version);
    let recorded = leaf.and_then(|l| l.signature.as_ref().map(|s| (l.index, s)));
    let Some(value) = &v.signature else {
        match recorded {
            Some((index, d)) => report.fail(
                row(),
                format!("has no signature, but ledger leaf {index} records signature {d}"),
            ),
            None => report.warn(row(), "unsigned (written before signing)"),
        }
        return;
    };
    let digest = envelope_digest(value);
    if let Some(leaf) = leaf {
        if leaf.signature.as_ref() != Some(&digest) {
            report.fail(
                row(),
                format!(
                    "its signature hashes to {digest}, but ledger leaf {} records {}",
                    leaf.index,
                    opt(leaf.signature.as_ref())
                ),
            );
        }
    }
    let (statement, p) = match open(value, &ledger.ring, open_version) {
        Ok(opened) => opened,
        Err(e) => {
            report.fail(row(), format!("signature does not verify: {e}"));
            return;
        }
    };
    report.checked.version_signatures += 1;
    if let Some(stored) = stored {
        if statement.verify_subject(stored).is_err() {
            report.fail(
                row(),
                format!(
                    "digest {stored} but the signature is for {}",
                    opt(statement.subject_digest().as_ref())
                ),
            );
        }
    }
    let fields = [
        ("project", ledger.project.clone(), p.project.to_string()),
        ("name", v.name.to_string(), p.name.to_string()),
        ("version", v.version.to_string(), p.version.to_string()),
        ("parent", opt(v.parent.as_ref()), opt(p.parent.as_ref())),
        ("created_by", v.created_by.clone(), p.author.clone()),
        (
            "commit_message",
            text(v.commit_message.as_ref()),
            text(p.commit_message.as_ref()),
        ),
        (
            "metadata digest",
            v.metadata.digest().to_string(),
            p.metadata_digest.to_string(),
        ),
        ("created_at", time(&v.created_at), time(&p.created_at)),
    ];
    for message in mismatches(&fields) {
        report.fail(row(), message);
    }
}

/// The row's leaf: the one its `ledger_index` names, with the same digest and actor.
fn in_ledger(
    v: &VersionView,
    stored: Option<&Digest>,
    leaf: Option<&VersionLeaf>,
    ledger: &Ledger,
    report: &mut Report,
) {
    let row = || version_row(v.name.as_str(), v.version);
    let Some(leaf) = leaf else {
        let message = match v.ledger_index {
            Some(i) if i >= ledger.size => format!(
                "ledger_index {i} is past the signed ledger's {} leaves: no leaf records its creation",
                ledger.size
            ),
            Some(i) => format!("ledger_index {i}, but no version_created leaf records it"),
            None => "no version_created leaf of the ledger records it".to_owned(),
        };
        report.fail(row(), message);
        return;
    };
    match v.ledger_index {
        Some(i) if i != leaf.index => report.fail(
            row(),
            format!(
                "ledger_index {i}, but the ledger records its creation at leaf {}",
                leaf.index
            ),
        ),
        None if v.signature.is_some() => report.fail(row(), "signed but has no ledger_index"),
        _ => {}
    }
    if Some(&leaf.digest) != stored {
        report.fail(
            row(),
            format!(
                "digest {} but ledger leaf {} recorded {}",
                v.digest, leaf.index, leaf.digest
            ),
        );
    }
    // Events carried over from before actors were recorded say `unrecorded`.
    let legacy = leaf.actor == UNRECORDED_ACTOR && v.signature.is_none();
    if leaf.actor != v.created_by && !legacy {
        report.fail(
            leaf_row(leaf.index),
            format!(
                "actor '{}', but versions row (prompt '{}', version {}) was created by '{}'",
                leaf.actor, v.name, v.version, v.created_by
            ),
        );
    }
}
