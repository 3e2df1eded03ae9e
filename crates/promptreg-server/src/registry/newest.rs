//! What this process last saw as each prompt's newest version, so that a publish can be
//! planned without reading it back: on PostgreSQL that read is a round trip of its own,
//! about a third of a publish. A hint is never trusted for correctness: the write is a
//! compare-and-set on the newest version ([`Store::publish_if_latest`]), and a stale hint
//! (another replica published since, a restore) only costs the locked path's retry.
//!
//! [`Store::publish_if_latest`]: promptreg_store::Store::publish_if_latest

use std::collections::HashMap;

use parking_lot::Mutex;
use promptreg_core::{Digest, ProjectId, PromptName, PromptType, Version};

/// Prompts remembered at most; past it the map starts over (a publish of a forgotten prompt
/// reads its newest version, as without hints). 10,000 entries hold about 2 MiB.
const CAPACITY: usize = 10_000;

/// A prompt's newest version as last seen here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Newest {
    pub version: Version,
    pub digest: Digest,
    /// A prompt's type never changes, so a hint's type is always the prompt's.
    pub prompt_type: PromptType,
}

impl Newest {
    pub fn new(version: Version, digest: &Digest, prompt_type: PromptType) -> Self {
        Self {
            version,
            digest: digest.clone(),
            prompt_type,
        }
    }
}

/// The hints, per project and prompt.
#[derive(Default)]
pub(crate) struct NewestVersions {
    hints: Mutex<HashMap<(ProjectId, PromptName), Newest>>,
}

impl NewestVersions {
    /// The hint for a prompt, if any.
    pub fn get(&self, project: &ProjectId, name: &PromptName) -> Option<Newest> {
        self.hints
            .lock()
            .get(&(project.clone(), name.clone()))
            .cloned()
    }

    /// Records a version this process wrote or read as the newest; an older one never
    /// replaces a newer hint.
    pub fn saw(&self, project: &ProjectId, name: &PromptName, newest: Newest) {
        let mut hints = self.hints.lock();
        if hints.len() >= CAPACITY && !hints.contains_key(&(project.clone(), name.clone())) {
            hints.clear();
        }
        hints
            .entry((project.clone(), name.clone()))
            .and_modify(|h| {
                if h.version < newest.version {
                    *h = newest.clone();
                }
            })
            .or_insert(newest);
    }

    /// A version created elsewhere (the change feed): moves a known prompt's hint forward.
    /// An unknown prompt gets none (the event does not carry the type).
    pub fn created(
        &self,
        project: &ProjectId,
        name: &PromptName,
        version: Version,
        digest: &Digest,
    ) {
        if let Some(h) = self.hints.lock().get_mut(&(project.clone(), name.clone())) {
            if h.version < version {
                h.version = version;
                h.digest = digest.clone();
            }
        }
    }

    /// Forgets everything (a reload: a project may have been restored to an older state).
    pub fn clear(&self) {
        self.hints.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newest(v: i64, d: &str) -> Newest {
        let digest = Digest::of_bytes(d.as_bytes());
        Newest::new(Version::new(v).unwrap(), &digest, PromptType::Text)
    }

    #[test]
    fn a_hint_only_moves_forward() {
        let hints = NewestVersions::default();
        let (p, n) = (ProjectId::default(), PromptName::parse("a").unwrap());
        hints.saw(&p, &n, newest(3, "c"));
        hints.saw(&p, &n, newest(2, "b"));
        assert_eq!(hints.get(&p, &n), Some(newest(3, "c")));
        hints.created(&p, &n, Version::new(2).unwrap(), &newest(2, "b").digest);
        assert_eq!(hints.get(&p, &n), Some(newest(3, "c")));
        hints.created(&p, &n, Version::new(4).unwrap(), &newest(4, "d").digest);
        assert_eq!(hints.get(&p, &n), Some(newest(4, "d")));
        let other = PromptName::parse("b").unwrap();
        hints.created(&p, &other, Version::new(1).unwrap(), &newest(1, "x").digest);
        assert_eq!(hints.get(&p, &other), None, "no type, no hint");
        hints.clear();
        assert_eq!(hints.get(&p, &n), None);
    }
}
