//! [`Snapshot`]: everything a verification reads, as plain data, so that the same checks run
//! on a live server (after [`Snapshot::fetch`]) and on a file (an export bundle).

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt as _, TryStreamExt as _};
use promptreg_api::{
    CatalogEntry, CheckpointView, DeploymentView, EnvironmentView, SigningKeyView, VersionView,
};
use promptreg_core::{EnvName, PromptName, Version};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ledger::MAX_ENTRIES;
use crate::{all_pages, Client, ClientError, PromptFilter, VersionFilter};

/// The `format` of a version-1 snapshot.
pub const SNAPSHOT_FORMAT: &str = "promptreg-snapshot/v1";

/// How many times [`Snapshot::fetch`] reads again when the registry changed while it read.
const FETCH_ATTEMPTS: usize = 3;
/// Requests in flight at once while fetching versions and histories.
const CONCURRENCY: usize = 8;

/// One leaf of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerLeaf {
    /// The leaf index (event `seq - 1`).
    pub index: u64,
    /// The change record; its RFC 8785 canonical JSON is the leaf's bytes.
    pub leaf: Value,
}

/// Every move of one pointer, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointerHistory {
    /// The environment.
    pub env: String,
    /// The prompt.
    pub name: String,
    /// The deployment records, by `seq`.
    pub moves: Vec<DeploymentView>,
}

/// What is live in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentCatalog {
    /// The environment.
    pub env: String,
    /// Its live pointers, by prompt name.
    pub entries: Vec<CatalogEntry>,
}

/// A version the server would not serve (`GET` answered an error naming it, such as 409
/// `integrity_error` for content that no longer opens): the row exists, its fields are not
/// known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithheldVersion {
    /// The prompt.
    pub name: String,
    /// The version.
    pub version: Version,
    /// The error code the server answered.
    pub code: String,
    /// The server's message.
    pub message: String,
}

/// A project's registry as an auditor reads it: keys, the signed checkpoint, every ledger
/// leaf, every version with its content, every environment, every pointer's history and the
/// live catalog. Serialised as `{"format": "promptreg-snapshot/v1", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`SNAPSHOT_FORMAT`] for this layout.
    pub format: String,
    /// The public signing keys the registry lists (retired ones included).
    pub keys: Vec<SigningKeyView>,
    /// The signed checkpoint the leaves add up to.
    pub checkpoint: CheckpointView,
    /// Leaves `0..checkpoint.tree_size`, in order.
    pub leaves: Vec<LedgerLeaf>,
    /// Every environment.
    pub environments: Vec<EnvironmentView>,
    /// Every version of every prompt, by name then version.
    pub versions: Vec<VersionView>,
    /// Versions the server would not serve, by name then version (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<WithheldVersion>,
    /// Every pointer's deployment records.
    pub history: Vec<PointerHistory>,
    /// What is live, per environment.
    pub catalog: Vec<EnvironmentCatalog>,
}

/// Why a snapshot file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Not JSON, or not a snapshot's fields.
    #[error("not a promptreg snapshot: {0}")]
    Malformed(String),
    /// Another format (or version of it).
    #[error("snapshot format {found:?} is not supported (expected {SNAPSHOT_FORMAT:?})")]
    Format {
        /// What the file says.
        found: String,
    },
}

impl Snapshot {
    /// Reads a snapshot's JSON, refusing other formats before reading any other field.
    pub fn from_json(text: &str) -> Result<Self, SnapshotError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| SnapshotError::Malformed(e.to_string()))?;
        match value.get("format").and_then(Value::as_str) {
            Some(SNAPSHOT_FORMAT) => {}
            found => {
                return Err(SnapshotError::Format {
                    found: found.unwrap_or("(none)").to_owned(),
                })
            }
        }
        serde_json::from_value(value).map_err(|e| SnapshotError::Malformed(e.to_string()))
    }

    /// Reads the caller's project from the server. The checkpoint is read before and after
    /// everything else; when it moved (a write happened meanwhile), everything is read again,
    /// so the rows and the leaves describe one state of the registry.
    pub async fn fetch(client: &Client) -> Result<Self, ClientError> {
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
                 leaves during the last of {FETCH_ATTEMPTS} attempts); verify again when it is \
                 quieter",
                last_sizes.0, last_sizes.1
            ),
        })
    }
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
