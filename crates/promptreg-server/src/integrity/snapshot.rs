//! The ledger snapshot: each project's leaf hashes and every pointer's last move, as replayed
//! at a log head, kept in a file of the data directory so that a large registry's start-up
//! replays only the log after it instead of the whole log (1.2 million entries take seconds).
//!
//! The snapshot is a cache, never a source of truth: a file that is missing, unreadable, of
//! another format or whose checksum does not hold is ignored (the whole log is replayed);
//! a project whose log no longer ends at or after the snapshot's size, or whose entry at that
//! size no longer hashes to the snapshot's last leaf, is replayed in full; and every start
//! from a snapshot is followed by a full replay in the background that compares every leaf
//! with the log as stored (`Registry::audit_in_background`), so an entry edited behind the
//! server's back is still found and named. The file is written 0600, to a temporary name
//! then renamed, so a crash mid-write leaves the previous snapshot.
//!
//! Format (integers little-endian, strings as a u32 length and UTF-8 bytes): the magic line,
//! a u32 project count, per project its id, a u64 leaf count and the leaves (32 bytes each),
//! a u32 move count and per move the environment, prompt, log seq, record seq, version and
//! digest; then the SHA-256 of everything before it.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;

use promptreg_core::integrity::merkle::{Hash, Tree};
use promptreg_core::{Digest, EnvName, ProjectId, PromptName, Version};
use sha2::{Digest as _, Sha256};

use super::audit::{LastMove, PointerKey, Replayed};

const MAGIC: &[u8] = b"promptreg ledger snapshot v1\n";

/// What a snapshot holds: per project its leaves, and the last move of every pointer of those
/// projects.
#[derive(Default)]
pub struct Snapshot {
    /// Per project, its leaf hashes in order.
    pub leaves: HashMap<ProjectId, Vec<Hash>>,
    /// Each pointer's last move.
    pub(super) moves: HashMap<PointerKey, LastMove>,
}

impl Snapshot {
    /// What to save of a replay: the projects whose log replayed without a finding (a log
    /// with a gap or an undecodable entry is replayed in full each time, so that it is
    /// reported each time).
    pub fn of(replayed: &Replayed, troubled: &HashSet<ProjectId>) -> Self {
        let leaves: HashMap<ProjectId, Vec<Hash>> = replayed
            .logs
            .iter()
            .filter(|(project, _)| !troubled.contains(*project))
            .map(|(project, (tree, _))| (project.clone(), tree.leaves().to_vec()))
            .collect();
        let moves = replayed
            .moves
            .iter()
            .filter(|((project, _, _), _)| leaves.contains_key(project))
            .map(|(k, m)| (k.clone(), m.clone()))
            .collect();
        Snapshot { leaves, moves }
    }

    /// The number of leaves over every project.
    pub fn size(&self) -> u64 {
        self.leaves.values().map(|l| l.len() as u64).sum()
    }

    /// The replay this snapshot stands for: each project's tree at its size, and the moves.
    pub(super) fn into_replayed(self) -> Replayed {
        let logs = self
            .leaves
            .into_iter()
            .map(|(project, leaves)| {
                let mut tree = Tree::new();
                for leaf in leaves {
                    tree.push(leaf);
                }
                let size = tree.len() as i64;
                (project, (tree, size))
            })
            .collect();
        Replayed {
            logs,
            moves: self.moves,
            findings: Vec::new(),
        }
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + 64 + self.size() as usize * 32);
        out.extend_from_slice(MAGIC);
        let mut by_project: HashMap<&ProjectId, Vec<(&EnvName, &PromptName, &LastMove)>> =
            HashMap::new();
        for ((project, env, name), m) in &self.moves {
            by_project.entry(project).or_default().push((env, name, m));
        }
        put_u32(&mut out, self.leaves.len());
        for (project, leaves) in &self.leaves {
            put_str(&mut out, project.as_str());
            out.extend_from_slice(&(leaves.len() as u64).to_le_bytes());
            for leaf in leaves {
                out.extend_from_slice(leaf);
            }
            let moves = by_project.remove(project).unwrap_or_default();
            put_u32(&mut out, moves.len());
            for (env, name, m) in moves {
                put_str(&mut out, env.as_str());
                put_str(&mut out, name.as_str());
                out.extend_from_slice(&m.log_seq.to_le_bytes());
                out.extend_from_slice(&m.seq.to_le_bytes());
                out.extend_from_slice(&m.to_version.get().to_le_bytes());
                put_str(&mut out, m.digest.as_str());
            }
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    /// A snapshot from a file's bytes; `None` when they are not one (wrong format, cut
    /// short, checksum or a name that does not hold).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        if Sha256::digest(body).as_slice() != sum {
            return None;
        }
        let mut r = Reader(body.strip_prefix(MAGIC)?);
        let mut snapshot = Snapshot::default();
        for _ in 0..r.u32()? {
            let project = ProjectId::parse(r.str()?).ok()?;
            let count = usize::try_from(r.u64()?).ok()?;
            let raw = r.take(count.checked_mul(32)?)?;
            let leaves = raw
                .chunks_exact(32)
                .map(|c| <Hash>::try_from(c).ok())
                .collect::<Option<Vec<Hash>>>()?;
            for _ in 0..r.u32()? {
                let env = EnvName::parse(r.str()?).ok()?;
                let name = PromptName::parse(r.str()?).ok()?;
                let log_seq = r.i64()?;
                let seq = r.i64()?;
                let to_version = Version::new(r.i64()?).ok()?;
                let digest = Digest::parse(r.str()?).ok()?;
                snapshot.moves.insert(
                    (project.clone(), env, name),
                    LastMove {
                        log_seq,
                        seq,
                        to_version,
                        digest,
                    },
                );
            }
            snapshot.leaves.insert(project, leaves);
        }
        r.0.is_empty().then_some(snapshot)
    }

    /// Reads the snapshot at `path`; `None` (with the reason logged) when there is none to use.
    /// Temporary files that a save cut short (a crash) left beside it are removed.
    pub fn load(path: &Path) -> Option<Self> {
        remove_leftovers(path);
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ledger snapshot unreadable: replaying the whole log");
                return None;
            }
        };
        let snapshot = Self::decode(&bytes);
        if snapshot.is_none() {
            tracing::warn!(path = %path.display(), "ledger snapshot does not decode or its checksum fails: replaying the whole log");
        }
        snapshot
    }

    /// Writes the snapshot to `path` (0600, through a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = self.encode();
        // Two saves may overlap (a load's and the background audit's): each its own file.
        let tmp = temporary(path);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = options.open(&tmp).and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        });
        match written.and_then(|()| std::fs::rename(&tmp, path)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

/// The temporary file of a save to `path`: unique, so overlapping saves never share one.
fn temporary(path: &Path) -> std::path::PathBuf {
    path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()))
}

/// Removes the temporary files of saves to `path` that never finished.
fn remove_leftovers(path: &Path) {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else {
        return;
    };
    let prefix = format!("{stem}.tmp-");
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Reads a snapshot's fields in order; `None` past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = usize::try_from(self.u32()?).ok()?;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use promptreg_core::integrity::merkle::leaf_hash;

    fn sample() -> Snapshot {
        let project = ProjectId::parse("default").unwrap();
        let mut snapshot = Snapshot::default();
        snapshot
            .leaves
            .insert(project.clone(), (0..5u8).map(|i| leaf_hash(&[i])).collect());
        snapshot.moves.insert(
            (
                project,
                EnvName::parse("production").unwrap(),
                PromptName::parse("team/greet").unwrap(),
            ),
            LastMove {
                log_seq: 4,
                seq: 2,
                to_version: Version::new(3).unwrap(),
                digest: Digest::of_bytes(b"x"),
            },
        );
        snapshot
    }

    /// A snapshot reads back as written; any byte changed, or the file cut short, reads as
    /// no snapshot at all.
    #[test]
    fn round_trips_and_refuses_any_change() {
        let bytes = sample().encode();
        let back = Snapshot::decode(&bytes).unwrap();
        assert_eq!(back.leaves, sample().leaves);
        assert_eq!(back.moves.len(), 1);
        let m = back.moves.values().next().unwrap();
        assert_eq!((m.log_seq, m.seq, m.to_version.get()), (4, 2, 3));
        for i in [0, MAGIC.len() + 3, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(Snapshot::decode(&bad).is_none(), "byte {i} changed");
        }
        assert!(Snapshot::decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(Snapshot::decode(b"").is_none());
    }

    /// A save leaves only the snapshot (0600); a temporary file a crash left is removed by
    /// the next load.
    #[test]
    fn saves_atomically_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.snapshot");
        sample().save(&path).unwrap();
        let leftover = temporary(&path);
        std::fs::write(&leftover, b"cut short").unwrap();
        let names = |dir: &Path| {
            let mut n: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            n.sort();
            n
        };
        assert_eq!(names(dir.path()).len(), 2);
        let loaded = Snapshot::load(&path).unwrap();
        assert_eq!(loaded.leaves, sample().leaves);
        assert_eq!(names(dir.path()), ["ledger.snapshot"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    /// The tree rebuilt from a snapshot has the replay's root.
    #[test]
    fn rebuilds_the_tree() {
        let snapshot = sample();
        let leaves = snapshot.leaves.values().next().unwrap().clone();
        let mut tree = Tree::new();
        for leaf in &leaves {
            tree.push(*leaf);
        }
        let replayed = snapshot.into_replayed();
        let (rebuilt, size) = replayed.logs.values().next().unwrap();
        assert_eq!((rebuilt.root(), *size), (tree.root(), 5));
    }
}
