//! The audit run at start-up and on every full reload: the ledger trees are rebuilt from the
//! event log, and every live pointer is checked against it. A pointer is served only when its
//! version's content recomputes to the stored digest and the last pointer move in the ledger
//! names the same record, version and digest; anything else is left out and reported. Sealed
//! content is opened here, once per live version: a version that does not open (a ciphertext
//! or wrapped key changed or swapped between rows, a KEK the server does not hold) is refused
//! like one whose digest does not recompute.

use std::collections::HashMap;

use promptreg_core::integrity::merkle::{leaf_hash, Tree};
use promptreg_core::{ChangeEvent, Digest, EnvName, EventRecord, ProjectId, PromptName, Version};
use promptreg_store::{
    DeployedVersion, Store, StoreResult, StoredContent, StoredVersion, VersionRecord,
};

use super::ledger::{is_legacy, leaf_of};
use super::Finding;

/// Events read per query while rebuilding a tree (one packed row on SQLite).
const BATCH: u32 = 10_000;

/// What the audit found.
pub struct Audited {
    /// The live pointers that verify (the index is built from these only).
    pub live: Vec<DeployedVersion>,
    /// Every project's tree.
    pub trees: HashMap<ProjectId, Tree>,
    /// What did not verify.
    pub findings: Vec<Finding>,
}

/// The last move of one pointer, as the ledger tells it.
struct LastMove {
    /// The event's position in the project's log.
    log_seq: i64,
    seq: i64,
    to_version: Version,
    digest: Digest,
}

type PointerKey = (ProjectId, EnvName, PromptName);

/// Every project's log replayed into its tree, with each pointer's last move: read while the
/// live pointers are loaded (the two reads overlap), then caught up with the log heads read
/// after the pointers ([`Replayed::catch_up`]) before they are checked.
#[derive(Default)]
pub struct Replayed {
    /// Per project, its tree and the last seq read into it.
    logs: HashMap<ProjectId, (Tree, i64)>,
    moves: HashMap<PointerKey, LastMove>,
    findings: Vec<Finding>,
}

impl Replayed {
    /// Reads every project's log up to the heads as they are now.
    pub async fn read(store: &dyn Store) -> StoreResult<Self> {
        let mut replayed = Replayed::default();
        replayed.catch_up(store).await?;
        Ok(replayed)
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
    mut replayed: Replayed,
    open: &(dyn Fn(&ProjectId, StoredVersion) -> Result<VersionRecord, String> + Sync),
) -> StoreResult<Audited> {
    replayed.catch_up(store).await?;
    let Replayed {
        logs,
        mut moves,
        mut findings,
    } = replayed;
    let trees = logs.into_iter().map(|(p, (tree, _))| (p, tree)).collect();
    let mut served = Vec::with_capacity(live.len());
    for d in live {
        let key = (d.project.clone(), d.env.clone(), d.version.name.clone());
        let last = moves.remove(&key);
        let d = match open(&d.project, d.version) {
            Ok(version) => DeployedVersion {
                project: d.project,
                env: d.env,
                version,
                seq: d.seq,
            },
            Err(message) => {
                let (project, env, name) = key;
                findings.push(Finding {
                    project,
                    env: Some(env),
                    name: Some(name),
                    message,
                });
                continue;
            }
        };
        match check(&d, last) {
            Verdict::Serve => served.push(d),
            Verdict::Superseded => {}
            Verdict::Refuse(message) => findings.push(Finding {
                project: d.project.clone(),
                env: Some(d.env.clone()),
                name: Some(d.version.name.clone()),
                message,
            }),
        }
    }
    for ((project, env, name), m) in moves {
        if m.log_seq > heads.get(&project).copied().unwrap_or(0) {
            continue;
        }
        findings.push(Finding {
            project,
            env: Some(env),
            name: Some(name),
            message: format!(
                "the ledger's last move (record {}) made version {} live, but no live pointer \
                 with that version's content is stored",
                m.seq, m.to_version
            ),
        });
    }
    Ok(Audited {
        live: served,
        trees,
        findings,
    })
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

/// Whether a live pointer may be served.
fn check(d: &DeployedVersion, last: Option<LastMove>) -> Verdict {
    match problem(d, last) {
        Ok(()) => Verdict::Serve,
        Err(None) => Verdict::Superseded,
        Err(Some(message)) => Verdict::Refuse(message),
    }
}

/// Why a live pointer must not be served (`None` inside: only because it is stale).
fn problem(d: &DeployedVersion, last: Option<LastMove>) -> Result<(), Option<String>> {
    let v = &d.version;
    let recomputed = v.content.digest();
    if recomputed != v.digest {
        return Err(Some(format!(
            "version {}'s content hashes to {recomputed}, not to its stored digest {}",
            v.version, v.digest
        )));
    }
    let Some(last) = last else {
        return Err(Some(format!(
            "the pointer to version {} (record {}) has no pointer move in the ledger",
            v.version, d.seq
        )));
    };
    if last.seq > d.seq {
        return Err(None);
    }
    if last.seq != d.seq || last.to_version != v.version {
        return Err(Some(format!(
            "the pointer says version {} (record {}) but the ledger's last move says version {} \
             (record {})",
            v.version, d.seq, last.to_version, last.seq
        )));
    }
    if last.digest != v.digest {
        return Err(Some(format!(
            "version {} has digest {} but the ledger's last move recorded {}",
            v.version, v.digest, last.digest
        )));
    }
    Ok(())
}
