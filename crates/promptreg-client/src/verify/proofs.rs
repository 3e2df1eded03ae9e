//! Against a live server: its inclusion proof of every version, prune and move leaf, and its
//! consistency proof from an earlier checkpoint, must verify against the signed roots (the
//! API must agree with the data it served).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures::stream::{self, StreamExt as _};
use promptreg_api::InclusionProofView;
use promptreg_core::integrity::merkle::{verify_consistency, verify_inclusion, Hash};

use super::ledger::Ledger;
use super::report::{leaf_row, Report};
use crate::{Client, ClientError};

/// Proof requests in flight at once.
const CONCURRENCY: usize = 16;

fn hashes(texts: &[String]) -> Option<Vec<Hash>> {
    texts
        .iter()
        .map(|t| B64.decode(t).ok()?.try_into().ok())
        .collect()
}

fn hash(text: &str) -> Option<Hash> {
    B64.decode(text).ok()?.try_into().ok()
}

/// Fetches and checks the inclusion proof of every version, prune and move leaf, and the
/// consistency proof from the earlier checkpoint, if one verified.
pub(super) async fn check(
    client: &Client,
    ledger: &Ledger,
    report: &mut Report,
) -> Result<(), ClientError> {
    let mut indexes: Vec<u64> = ledger
        .versions
        .values()
        .map(|v| v.index)
        .chain(ledger.pruned.values().map(|p| p.index))
        .chain(ledger.moves.values().flatten().map(|m| m.index))
        .filter(|i| *i < ledger.size && *i < ledger.tree.len())
        .collect();
    indexes.sort_unstable();
    let size = ledger.size;
    let mut answers = stream::iter(indexes)
        .map(|index| async move { (index, client.inclusion_proof(index, Some(size)).await) })
        .buffered(CONCURRENCY);
    while let Some((index, answer)) = answers.next().await {
        match answer {
            Ok(proof) => inclusion(index, &proof, ledger, report),
            Err(e @ ClientError::Api { .. }) => report.fail(
                leaf_row(index),
                format!("the server gives no inclusion proof: {e}"),
            ),
            Err(e) => return Err(e),
        }
    }
    if let Some(old) = &ledger.since {
        if old.size > 0 {
            consistency(client, old.size, &old.root, ledger, report).await?;
        }
    }
    Ok(())
}

fn inclusion(index: u64, proof: &InclusionProofView, ledger: &Ledger, report: &mut Report) {
    let Some(mine) = ledger.tree.leaf(index) else {
        return;
    };
    let (Some(theirs), Some(path)) = (hash(&proof.leaf_hash), hashes(&proof.hashes)) else {
        report.fail(
            leaf_row(index),
            "the server's inclusion proof is not base64 hashes",
        );
        return;
    };
    if theirs != mine {
        report.fail(
            leaf_row(index),
            format!(
                "the server proves leaf hash {}, but the leaf it serves hashes to {}",
                B64.encode(theirs),
                B64.encode(mine)
            ),
        );
        return;
    }
    match verify_inclusion(&mine, index, ledger.size, &path, &ledger.root) {
        Ok(()) => report.checked.inclusion_proofs += 1,
        Err(e) => report.fail(
            leaf_row(index),
            format!("the server's inclusion proof does not verify against the signed root: {e}"),
        ),
    }
}

async fn consistency(
    client: &Client,
    from: u64,
    from_root: &Hash,
    ledger: &Ledger,
    report: &mut Report,
) -> Result<(), ClientError> {
    const WHAT: &str = "since checkpoint";
    let proof = match client.consistency_proof(from, Some(ledger.size)).await {
        Ok(proof) => proof,
        Err(e @ ClientError::Api { .. }) => {
            report.fail_whole(WHAT, format!("the server gives no consistency proof: {e}"));
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let Some(path) = hashes(&proof.hashes) else {
        report.fail_whole(WHAT, "the server's consistency proof is not base64 hashes");
        return Ok(());
    };
    match verify_consistency(from, ledger.size, &path, from_root, &ledger.root) {
        Ok(()) => report.checked.consistency_proof = true,
        Err(e) => report.fail_whole(
            WHAT,
            format!(
                "the server's consistency proof from size {from} to {} does not verify: {e}",
                ledger.size
            ),
        ),
    }
    Ok(())
}
