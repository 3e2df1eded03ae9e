//! Reading a [`Snapshot`] (everything a verification reads, as plain data; the type is a wire
//! type of `promptreg-api`, shared with the server's import) from a live server, so that the
//! same checks run on a server and on a file (an export bundle).

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt as _, TryStreamExt as _};
use promptreg_api::{
    CheckpointView, EnvironmentCatalog, LedgerLeaf, PointerHistory, Snapshot, VersionView,
    WithheldVersion, SNAPSHOT_FORMAT,
};
use promptreg_core::{EnvName, PromptName, Version};

use crate::ledger::MAX_ENTRIES;
use crate::{all_pages, Client, ClientError, PromptFilter, VersionFilter};

/// How many times [`fetch_snapshot`] reads again when the registry changed while it read.
const FETCH_ATTEMPTS: usize = 3;
/// Requests in flight at once while fetching versions and histories.
const CONCURRENCY: usize = 8;

/// Reads the caller's project from the server. The checkpoint is read before and after
/// everything else; when it moved (a write happened meanwhile), everything is read again, so
/// the rows and the leaves describe one state of the registry.
pub async fn fetch_snapshot(client: &Client) -> Result<Snapshot, ClientError> {
    let mut last_sizes = (0, 0);
    for _ in 0..FETCH_ATTEMPTS {
        let before = client.checkpoint().await?;
        let snapshot = fetch_once(client, before).await?;
        let after = client.checkpoint().await?;
        if after.tree_size == snapshot.checkpoint.tree_size
            && after.root_hash == snapshot.checkpoint.root_hash
        {
            return Ok(snapshot);
        }
        last_sizes = (snapshot.checkpoint.tree_size, after.tree_size);
    }
    Err(ClientError::Decode {
        status: 200,
        message: format!(
            "the registry kept changing while it was read (its ledger grew from {} to {} \
             leaves during the last of {FETCH_ATTEMPTS} attempts); try again when it is quieter",
            last_sizes.0, last_sizes.1
        ),
    })
}

/// One read of everything, against the checkpoint `checkpoint`.
async fn fetch_once(client: &Client, checkpoint: CheckpointView) -> Result<Snapshot, ClientError> {
    let keys = client.keys().await?.keys;
    let leaves = fetch_leaves(client, checkpoint.tree_size).await?;
    let environments = all_pages(|p| client.list_environments(p)).await?;

    let mut catalog = Vec::new();
    for env in &environments {
        let Ok(name) = EnvName::parse(&env.name) else {
            continue;
        };
        let entries = absent_is_empty(all_pages(|p| client.catalog(&name, p)).await)?;
        catalog.push(EnvironmentCatalog {
            env: env.name.clone(),
            entries,
        });
    }

    // Prompts and pointers the server lists, and those the ledger names (whose rows may be
    // gone: reading them shows they are).
    let all = PromptFilter::default();
    let summaries = all_pages(|p| client.list_prompts(&all, p)).await?;
    // Each prompt's highest version number, as listed or as the ledger records it.
    let mut names: BTreeMap<String, Version> = summaries
        .iter()
        .map(|s| (s.name.to_string(), s.latest_version))
        .collect();
    let mut pointers: BTreeSet<(String, String)> = BTreeSet::new();
    for s in &summaries {
        for d in &s.environments {
            pointers.insert((d.env.clone(), s.name.to_string()));
        }
    }
    for c in &catalog {
        for e in &c.entries {
            pointers.insert((c.env.clone(), e.name.clone()));
        }
    }
    for leaf in &leaves {
        let change = &leaf.leaf["change"];
        let name = change["name"].as_str().map(str::to_owned);
        match (change["event"].as_str(), name) {
            (Some("version_created"), Some(name)) => {
                let version = serde_json::from_value::<Version>(change["version"].clone());
                let highest = names.entry(name).or_insert(Version::FIRST);
                if let Ok(v) = version {
                    *highest = (*highest).max(v);
                }
            }
            (Some("pointer_moved"), Some(name)) => {
                if let Some(env) = change["env"].as_str() {
                    pointers.insert((env.to_owned(), name));
                }
            }
            _ => {}
        }
    }

    let versions: Vec<PromptVersions> = stream::iter(names)
        .filter_map(
            |(name, highest)| async move { Some((PromptName::parse(&name).ok()?, highest)) },
        )
        .map(|(name, highest)| async move { prompt_versions(client, &name, highest).await })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;
    let (mut versions, mut withheld): (Vec<VersionView>, Vec<WithheldVersion>) = versions
        .into_iter()
        .fold((Vec::new(), Vec::new()), |(mut v, mut w), p| {
            v.extend(p.served);
            w.extend(p.withheld);
            (v, w)
        });
    versions.sort_by(|a, b| (a.name.as_str(), a.version).cmp(&(b.name.as_str(), b.version)));
    withheld.sort_by(|a, b| (a.name.as_str(), a.version).cmp(&(b.name.as_str(), b.version)));

    let history: Vec<PointerHistory> = stream::iter(pointers)
        .filter_map(|(env, name)| async move {
            Some((EnvName::parse(&env).ok()?, PromptName::parse(&name).ok()?))
        })
        .map(|(env, name)| async move {
            let mut moves = absent_is_empty(all_pages(|p| client.history(&env, &name, p)).await)?;
            moves.sort_by_key(|m| m.seq);
            Ok::<_, ClientError>(PointerHistory {
                env: env.to_string(),
                name: name.to_string(),
                moves,
            })
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await?;

    Ok(Snapshot {
        format: SNAPSHOT_FORMAT.to_owned(),
        keys,
        checkpoint,
        leaves,
        environments,
        versions,
        withheld,
        history,
        catalog,
    })
}

/// One prompt's versions as read.
struct PromptVersions {
    served: Vec<VersionView>,
    withheld: Vec<WithheldVersion>,
}

/// Every version of a prompt: its list, or, when the server refuses the list because a
/// version in it does not verify (409), each version from 1 to `highest` on its own, so
/// that the refused ones are known by number and the others are still checked.
async fn prompt_versions(
    client: &Client,
    name: &PromptName,
    highest: Version,
) -> Result<PromptVersions, ClientError> {
    let filter = VersionFilter::default();
    match all_pages(|p| client.list_versions(name, &filter, p)).await {
        Err(ClientError::Api { status: 409, .. }) => {}
        listed => {
            return Ok(PromptVersions {
                served: absent_is_empty(listed)?,
                withheld: Vec::new(),
            })
        }
    }
    let mut read = PromptVersions {
        served: Vec::new(),
        withheld: Vec::new(),
    };
    for number in 1..=highest.get() {
        let Ok(version) = Version::try_from(number) else {
            continue;
        };
        match client.get_version(name, version).await {
            Ok(v) => read.served.push(v),
            Err(ClientError::Api { status: 404, .. }) => {}
            Err(ClientError::Api {
                status: 409 | 410,
                code,
                message,
            }) => read.withheld.push(WithheldVersion {
                name: name.to_string(),
                version,
                code,
                message,
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(read)
}

/// Leaves `0..size`, page by page (a page starts after the last leaf read, so a leaf the
/// server skips is left out, not read twice).
async fn fetch_leaves(client: &Client, size: u64) -> Result<Vec<LedgerLeaf>, ClientError> {
    let mut leaves: Vec<LedgerLeaf> = Vec::new();
    loop {
        let start = leaves.last().map_or(0, |l| l.index + 1);
        if start >= size {
            return Ok(leaves);
        }
        let page = client.ledger_entries(start, MAX_ENTRIES).await?;
        let before = leaves.len();
        leaves.extend(
            page.entries
                .into_iter()
                .filter(|e| e.index >= start && e.index < size)
                .map(|e| LedgerLeaf {
                    index: e.index,
                    leaf: e.leaf,
                }),
        );
        // A page that adds nothing ends the walk: the verifier reports the missing leaves.
        if leaves.len() == before {
            return Ok(leaves);
        }
    }
}

/// A list of something the server no longer knows (404) is an empty list: the verifier then
/// reports what the ledger says should be there.
fn absent_is_empty<T>(result: Result<Vec<T>, ClientError>) -> Result<Vec<T>, ClientError> {
    match result {
        Err(ClientError::Api { status: 404, .. }) => Ok(Vec::new()),
        other => other,
    }
}
