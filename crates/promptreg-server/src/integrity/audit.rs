//! The audit run at start-up and on every full reload: the ledger trees are rebuilt from the
//! event log, and every live pointer is checked against it. A pointer is served only when its
//! version's content recomputes to the stored digest and the last pointer move in the ledger
//! names the same record, version and digest; anything else is left out and reported. Sealed
//! content is opened here, once per live version: a version that does not open (a ciphertext
//! or wrapped key changed or swapped between rows, a KEK the server does not hold) is refused
//! like one whose digest does not recompute.

use std::collections::{HashMap, HashSet};

use promptreg_core::integrity::merkle::{leaf_hash, Tree};
use promptreg_core::{ChangeEvent, Digest, EnvName, EventRecord, ProjectId, PromptName, Version};
use promptreg_store::{
    DeployedVersion, LivePointer, Store, StoreResult, StoredContent, StoredVersion, VersionRecord,
};

use super::ledger::{is_legacy, leaf_of, leaf_of_stored};
use super::snapshot::Snapshot;
use super::Finding;

/// Events read per query while rebuilding a tree (one packed row on SQLite).
const BATCH: u32 = 10_000;

/// What the audit of live versions found.
pub struct Audited<T> {
    /// The live pointers that verify (the index is built from these only).
    pub live: Vec<T>,
    /// What did not verify.
    pub findings: Vec<Finding>,
}

/// The last move of one pointer, as the ledger tells it.
#[derive(Clone)]
pub(super) struct LastMove {
    /// The event's position in the project's log.
    pub(super) log_seq: i64,
    pub(super) seq: i64,
    pub(super) to_version: Version,
    pub(super) digest: Digest,
}

pub(super) type PointerKey = (ProjectId, EnvName, PromptName);

/// Every project's log replayed into its tree, with each pointer's last move: read while the
/// live pointers are loaded (the two reads overlap), then caught up with the log heads read
/// after the pointers ([`Replayed::catch_up`]) before they are checked.
#[derive(Default)]
pub struct Replayed {
    /// Per project, its tree and the last seq read into it.
    pub(super) logs: HashMap<ProjectId, (Tree, i64)>,
    pub(super) moves: HashMap<PointerKey, LastMove>,
    /// What did not add up in the logs themselves (gaps, undecodable entries).
    pub(super) findings: Vec<Finding>,
}

impl Replayed {
    /// Reads every project's log up to the heads as they are now.
    pub async fn read(store: &dyn Store) -> StoreResult<Self> {
        let mut replayed = Replayed::default();
        replayed.catch_up(store).await?;
        Ok(replayed)
    }

    /// Reads every project's log from a snapshot on: a project the snapshot holds is read
    /// only after its size, when its log still ends at or after it and its entry there still
    /// hashes to the snapshot's last leaf; any other project is read whole.
    pub async fn resume(store: &dyn Store, snapshot: Snapshot) -> StoreResult<Self> {
        let heads: HashMap<ProjectId, i64> = store.event_heads().await?.into_iter().collect();
        let mut seeded = snapshot.into_replayed();
        let mut stale = Vec::new();
        for (project, (tree, size)) in &seeded.logs {
            let holds = match (heads.get(project), tree.leaf(tree.len().wrapping_sub(1))) {
                (Some(head), Some(last)) if *head >= *size => {
                    let entry = store.log_entries(project, *size - 1, 1).await?;
                    entry
                        .first()
                        .is_some_and(|e| e.seq == *size && leaf_of_stored(&e.body).1 == last)
                }
                _ => false,
            };
            if !holds {
                stale.push(project.clone());
            }
        }
        for project in stale {
            tracing::info!(project = %project, "ledger snapshot does not match the log: replaying it whole");
            seeded.logs.remove(&project);
            seeded.moves.retain(|(p, _, _), _| *p != project);
        }
        seeded.catch_up(store).await?;
        Ok(seeded)
    }

    /// Reads what was appended to each log since the last read, up to the heads as they are
    /// now.
    pub async fn catch_up(&mut self, store: &dyn Store) -> StoreResult<()> {
        for (project, head) in store.event_heads().await? {
            let (tree, after) = self.logs.entry(project.clone()).or_default();
            replay(
                store,
                &project,
                head,
                tree,
                after,
                &mut self.moves,
                &mut self.findings,
            )
            .await?;
        }
        Ok(())
    }

    /// What did not add up in the logs.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The projects whose log did not add up (never saved in a snapshot).
    pub fn troubled(&self) -> HashSet<ProjectId> {
        self.findings.iter().map(|f| f.project.clone()).collect()
    }

    /// The number of entries replayed, over every project.
    pub fn size(&self) -> u64 {
        self.logs.values().map(|(tree, _)| tree.len()).sum()
    }

    /// Every project's tree, taken.
    pub fn into_trees(self) -> HashMap<ProjectId, Tree> {
        self.logs
            .into_iter()
            .map(|(p, (tree, _))| (p, tree))
            .collect()
    }

    /// Every project's tree.
    pub fn trees(&self) -> impl Iterator<Item = (&ProjectId, &Tree)> {
        self.logs.iter().map(|(p, (tree, _))| (p, tree))
    }
}

/// Checks `live` (as `load_deployed` read it) against the replayed log, after catching it up
/// with the heads as they are now: the log is then at least as new as the pointers (a move
/// and its event commit together), and a pointer whose ledger move is newer was only read
/// before a concurrent move (another replica's), which the change feed applies next.
/// `heads` are the log heads read before the pointers: a move logged after them may have no
/// pointer in `live` yet. `open` opens a version's sealed content (the message says why not).
pub async fn audit(
    store: &dyn Store,
    heads: &HashMap<ProjectId, i64>,
    live: Vec<DeployedVersion<StoredContent>>,
    replayed: &mut Replayed,
    open: &(dyn Fn(&ProjectId, StoredVersion) -> Result<VersionRecord, String> + Sync),
) -> StoreResult<Audited<DeployedVersion>> {
    replayed.catch_up(store).await?;
    let mut seen = HashSet::with_capacity(live.len());
    let mut served = Vec::with_capacity(live.len());
    let mut findings = Vec::new();
    for d in live {
        let key = (d.project.clone(), d.env.clone(), d.version.name.clone());
        let last = replayed.moves.get(&key);
        let verdict = match open(&d.project, d.version) {
            Ok(version) => {
                let d = DeployedVersion {
                    project: d.project,
                    env: d.env,
                    version,
                    seq: d.seq,
                };
                let v = &d.version;
                let verdict = match content_problem(v) {
                    Some(message) => Verdict::Refuse(message),
                    None => check(v.version, Some(&v.digest), d.seq, last),
                };
                if let Verdict::Serve = verdict {
                    served.push(d);
                }
                verdict
            }
            Err(message) => Verdict::Refuse(message),
        };
        if let Verdict::Refuse(message) = verdict {
            findings.push(finding_at(&key, message));
        }
        seen.insert(key);
    }
    findings.extend(unmatched(&replayed.moves, &seen, heads));
    Ok(Audited {
        live: served,
        findings,
    })
}

/// Checks live pointers without their versions against the replayed log, as [`audit`]
/// does, and gives each the digest of the ledger's last move: the version, where it is first
/// opened, must have that digest and content that recomputes to it, or it is not served.
pub async fn audit_pointers(
    store: &dyn Store,
    heads: &HashMap<ProjectId, i64>,
    live: Vec<LivePointer>,
    replayed: &mut Replayed,
) -> StoreResult<Audited<(LivePointer, Digest)>> {
    replayed.catch_up(store).await?;
    let mut seen = HashSet::with_capacity(live.len());
    let mut served = Vec::with_capacity(live.len());
    let mut findings = Vec::new();
    for p in live {
        let key = (p.project, p.env, p.name);
        let last = replayed.moves.get(&key);
        match (check(p.version, None, p.seq, last), last) {
            (Verdict::Serve, Some(last)) => served.push((
                LivePointer {
                    project: key.0.clone(),
                    env: key.1.clone(),
                    name: key.2.clone(),
                    version: p.version,
                    seq: p.seq,
                },
                last.digest.clone(),
            )),
            (Verdict::Refuse(message), _) => findings.push(finding_at(&key, message)),
            _ => {}
        }
        seen.insert(key);
    }
    findings.extend(unmatched(&replayed.moves, &seen, heads));
    Ok(Audited {
        live: served,
        findings,
    })
}

/// Why a version opened from the store must not be served: its content does not recompute
/// to its stored digest.
pub fn content_problem(v: &VersionRecord) -> Option<String> {
    let recomputed = v.content.digest();
    (recomputed != v.digest).then(|| {
        format!(
            "version {}'s content hashes to {recomputed}, not to its stored digest {}",
            v.version, v.digest
        )
    })
}

fn finding_at((project, env, name): &PointerKey, message: String) -> Finding {
    Finding {
        project: project.clone(),
        env: Some(env.clone()),
        name: Some(name.clone()),
        message,
    }
}

/// The ledger's last moves that no live pointer matched (moves logged after `heads` may not
/// have their pointer read yet).
fn unmatched(
    moves: &HashMap<PointerKey, LastMove>,
    seen: &HashSet<PointerKey>,
    heads: &HashMap<ProjectId, i64>,
) -> Vec<Finding> {
    moves
        .iter()
        .filter(|(key, m)| {
            !seen.contains(*key) && m.log_seq <= heads.get(&key.0).copied().unwrap_or(0)
        })
        .map(|(key, m)| {
            finding_at(
                key,
                format!(
                    "the ledger's last move (record {}) made version {} live, but no live \
                     pointer with that version's content is stored",
                    m.seq, m.to_version
                ),
            )
        })
        .collect()
}

/// Reads a project's log in order into a tree, noting each pointer's last move. Leaves are
/// the stored bytes, which the write path stores as the record's canonical JSON; only the
/// pointer moves are parsed, and the log's first entries, which were carried over from
/// before the ledger existed and may not be canonical, are canonicalised. (Parsing and
/// re-serialising every entry would triple the start-up time of a large registry.)
#[allow(clippy::too_many_arguments)]
async fn replay(
    store: &dyn Store,
    project: &ProjectId,
    head: i64,
    tree: &mut Tree,
    after: &mut i64,
    moves: &mut HashMap<PointerKey, LastMove>,
    findings: &mut Vec<Finding>,
) -> StoreResult<()> {
    let finding = |message: String| Finding {
        project: project.clone(),
        env: None,
        name: None,
        message,
    };
    if *after >= head {
        return Ok(());
    }
    loop {
        let entries = store.log_entries(project, *after, BATCH).await?;
        for entry in &entries {
            if entry.seq != *after + 1 {
                findings.push(finding(format!(
                    "the event log has no entry at seq {} (rows deleted): the ledger is broken there",
                    *after + 1
                )));
            }
            *after = entry.seq;
            let legacy = is_legacy(&entry.body);
            let record = if legacy || entry.kind == "pointer_moved" {
                match EventRecord::from_bytes(entry.body.as_bytes()) {
                    Ok(record) => Some(record),
                    Err(e) => {
                        findings.push(finding(format!(
                            "event_log row seq {} does not decode: {e}",
                            entry.seq
                        )));
                        None
                    }
                }
            } else {
                None
            };
            tree.push(match (&record, legacy) {
                (Some(record), true) => leaf_of(record),
                _ => leaf_hash(entry.body.as_bytes()),
            });
            if let Some(EventRecord {
                change:
                    ChangeEvent::PointerMoved {
                        env,
                        name,
                        seq,
                        to_version,
                        digest,
                        ..
                    },
                ..
            }) = record
            {
                moves.insert(
                    (project.clone(), env, name.clone()),
                    LastMove {
                        log_seq: entry.seq,
                        seq,
                        to_version,
                        digest,
                    },
                );
            }
        }
        if entries.len() < BATCH as usize {
            break;
        }
    }
    if *after < head {
        findings.push(finding(format!(
            "the event log ends at seq {after} but its head is {head}"
        )));
    }
    Ok(())
}

enum Verdict {
    Serve,
    /// The ledger holds a newer move, committed after the pointer was read.
    Superseded,
    Refuse(String),
}

/// Whether a live pointer (its version, record seq and, when read, its version's digest) may
/// be served.
fn check(version: Version, digest: Option<&Digest>, seq: i64, last: Option<&LastMove>) -> Verdict {
    let Some(last) = last else {
        return Verdict::Refuse(format!(
            "the pointer to version {version} (record {seq}) has no pointer move in the ledger"
        ));
    };
    if last.seq > seq {
        return Verdict::Superseded;
    }
    if last.seq != seq || last.to_version != version {
        return Verdict::Refuse(format!(
            "the pointer says version {version} (record {seq}) but the ledger's last move says \
             version {} (record {})",
            last.to_version, last.seq
        ));
    }
    if let Some(digest) = digest.filter(|d| **d != last.digest) {
        return Verdict::Refuse(format!(
            "version {version} has digest {digest} but the ledger's last move recorded {}",
            last.digest
        ));
    }
    Verdict::Serve
}
