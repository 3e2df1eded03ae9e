//! What publishing content means for a prompt's list of versions.
//!
//! Versions are numbered 1, 2, 3… per prompt; pushing the content of the latest version again
//! creates nothing (idempotent push), and a prompt keeps its type for life (an agent that
//! resolves a text prompt must never be handed chat messages by a later version). Both the
//! native API and the Langfuse-compatible API publish through this one rule.

use crate::content::{Digest, PromptType};
use crate::name::Version;

/// The latest version of a prompt, as far as publishing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest<'a> {
    /// Its number.
    pub version: Version,
    /// Its content digest.
    pub digest: &'a Digest,
    /// Its type.
    pub prompt_type: PromptType,
}

/// What to do with new content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishPlan {
    /// The content equals the latest version's: nothing is created.
    Unchanged,
    /// Create `version`, whose lineage parent is `parent`.
    Create {
        /// The new number.
        version: Version,
        /// The version it follows.
        parent: Option<Version>,
    },
}

/// Why content cannot be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The content's type differs from the prompt's.
    #[error("type: prompt is a {} prompt; a version cannot change it to {} (publish under a new name)", .existing.as_str(), .requested.as_str())]
    TypeChange {
        /// The prompt's type.
        existing: PromptType,
        /// The content's type.
        requested: PromptType,
    },
    /// The prompt has the largest version number there is.
    #[error("prompt has reached the largest version number")]
    Exhausted,
}

/// Plans a publish of content with `digest` and `prompt_type` after `latest`.
pub fn plan(
    latest: Option<Latest<'_>>,
    digest: &Digest,
    prompt_type: PromptType,
) -> Result<PublishPlan, PublishError> {
    let Some(latest) = latest else {
        return Ok(PublishPlan::Create {
            version: Version::FIRST,
            parent: None,
        });
    };
    if latest.digest == digest {
        return Ok(PublishPlan::Unchanged);
    }
    if latest.prompt_type != prompt_type {
        return Err(PublishError::TypeChange {
            existing: latest.prompt_type,
            requested: prompt_type,
        });
    }
    let next = latest.version.next();
    if next == latest.version {
        return Err(PublishError::Exhausted);
    }
    Ok(PublishPlan::Create {
        version: next,
        parent: Some(latest.version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::of_bytes(s.as_bytes())
    }

    #[test]
    fn first_next_unchanged_and_type_change() {
        let a = d("a");
        assert_eq!(
            plan(None, &a, PromptType::Text),
            Ok(PublishPlan::Create {
                version: Version::FIRST,
                parent: None
            })
        );
        let latest = Latest {
            version: Version::FIRST,
            digest: &a,
            prompt_type: PromptType::Text,
        };
        assert_eq!(
            plan(Some(latest), &a, PromptType::Text),
            Ok(PublishPlan::Unchanged)
        );
        assert_eq!(
            plan(Some(latest), &d("b"), PromptType::Text),
            Ok(PublishPlan::Create {
                version: Version::FIRST.next(),
                parent: Some(Version::FIRST)
            })
        );
        assert!(matches!(
            plan(Some(latest), &d("b"), PromptType::Chat),
            Err(PublishError::TypeChange { .. })
        ));
    }
}
