//! [`Prompt`]: what [`super::Agent::resolve`] hands back, the served version and the subject's
//! rollout arm, chosen by exactly the server's rule (`routes/resolve.rs` and
//! `Registry::resolve` in promptreg-server); plus local rendering, the outcome to report and
//! the telemetry span.

use std::sync::Arc;

use promptreg_api::{Assignment, OutcomeEvent, Resolved};
use promptreg_core::render::{render, Rendered};
use promptreg_core::rollout::{bucket, is_candidate};
use promptreg_core::{PromptContent, Version};
use serde_json::Value;

use super::cache::{Entry, Rollout};
use super::verify::CachedVersion;
use crate::ClientError;

/// A rollout arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    /// The version live before the rollout.
    Stable,
    /// The version being rolled out.
    Candidate,
    /// A blue-green candidate before its switch, asked for as a preview.
    Preview,
}

impl Arm {
    /// `stable`, `candidate` or `preview`, as in the server's `assignment.arm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Stable => "stable",
            Arm::Candidate => "candidate",
            Arm::Preview => "preview",
        }
    }
}

/// The subject's place in a rollout.
#[derive(Debug, Clone)]
struct Placed {
    rollout: Arc<Rollout>,
    arm: Arm,
    bucket: Option<u32>,
}

/// A resolved prompt, served from the agent's cache: cheap to clone (two reference counts),
/// its content verified when it was cached.
#[derive(Debug, Clone)]
pub struct Prompt {
    version: Arc<CachedVersion>,
    placed: Option<Placed>,
}

impl Prompt {
    /// What the server's resolve serves for this entry, subject and track; the same branches
    /// in the same order as `Registry::resolve`.
    pub(crate) fn serve(entry: &Entry, subject: Option<&str>, preview: bool) -> Prompt {
        let live = || Prompt {
            version: entry.live.clone(),
            placed: None,
        };
        if subject.is_none() && !preview {
            return live();
        }
        let Some(rollout) = &entry.rollout else {
            return live();
        };
        let placed = |version: &Arc<CachedVersion>, arm, bucket| Prompt {
            version: version.clone(),
            placed: Some(Placed {
                rollout: rollout.clone(),
                arm,
                bucket,
            }),
        };
        if preview && rollout.preview {
            return placed(&rollout.candidate, Arm::Preview, None);
        }
        let Some(subject) = subject else {
            return live();
        };
        let b = bucket(&rollout.id, subject);
        let on_candidate = rollout.switched || is_candidate(b, rollout.weight);
        match (on_candidate, rollout.switched) {
            (true, false) => placed(&rollout.candidate, Arm::Candidate, Some(b)),
            (true, true) => placed(&entry.live, Arm::Candidate, Some(b)),
            (false, _) => placed(&entry.live, Arm::Stable, Some(b)),
        }
    }

    /// The prompt's name.
    pub fn name(&self) -> &str {
        &self.version.resolved.name
    }

    /// The version served.
    pub fn version(&self) -> Version {
        self.version.resolved.version
    }

    /// Its digest (`sha256:<hex>`), checked against its content when it was cached.
    pub fn digest(&self) -> &str {
        &self.version.resolved.digest
    }

    /// Its verified content.
    pub fn content(&self) -> &PromptContent {
        &self.version.content
    }

    /// The rollout the subject was placed in, if any.
    pub fn rollout(&self) -> Option<&str> {
        self.placed.as_ref().map(|p| p.rollout.id.as_str())
    }

    /// The subject's arm, if a rollout placed it.
    pub fn arm(&self) -> Option<Arm> {
        self.placed.as_ref().map(|p| p.arm)
    }

    /// The subject's bucket in `0..10_000`, if a rollout placed it (not for a preview).
    pub fn bucket(&self) -> Option<u32> {
        self.placed.as_ref().and_then(|p| p.bucket)
    }

    /// The server's `assignment` for this answer.
    pub fn assignment(&self) -> Option<Assignment> {
        self.placed.as_ref().map(|p| Assignment {
            rollout: p.rollout.id.clone(),
            arm: p.arm.as_str().to_owned(),
            bucket: p.bucket,
            step: p.rollout.step,
        })
    }

    /// The whole answer `GET /v1/resolve` gives for the same name, subject and track.
    pub fn resolved(&self) -> Resolved {
        Resolved {
            assignment: self.assignment(),
            ..self.version.resolved.clone()
        }
    }

    /// Renders the verified content with `variables`, with the server's own rendering code
    /// (variables checked against the version's schema first).
    pub fn render(&self, variables: &Value) -> Result<Rendered, ClientError> {
        Ok(render(&self.version.content, variables)?)
    }

    /// An outcome for this answer with `prompt`, `env`, `version`, `digest`, `rollout`, `arm`
    /// and `subject` filled in; set `success` and the figures, then
    /// [`super::Agent::report`] it. Its `id` is left empty for the reporter to assign.
    pub fn outcome(&self, subject: Option<&str>) -> OutcomeEvent {
        OutcomeEvent {
            prompt: self.name().to_owned(),
            env: Some(self.version.resolved.env.clone()),
            version: Some(self.version().get()),
            digest: Some(self.digest().to_owned()),
            subject: subject.map(str::to_owned),
            rollout: self.rollout().map(str::to_owned),
            arm: self.arm().map(|a| a.as_str().to_owned()),
            ..OutcomeEvent::default()
        }
    }

    /// A `tracing` span named `prompt` carrying the OpenTelemetry attributes `prompt.name`,
    /// `prompt.version`, `prompt.digest`, `prompt.rollout` and `prompt.arm` (empty when no
    /// rollout placed the subject). Enter it around the model call; with
    /// `tracing-opentelemetry` installed the fields become the span's attributes.
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!(
            "prompt",
            prompt.name = self.name(),
            prompt.version = self.version().get(),
            prompt.digest = self.digest(),
            prompt.rollout = self.rollout().unwrap_or(""),
            prompt.arm = self.arm().map_or("", Arm::as_str),
        )
    }
}
