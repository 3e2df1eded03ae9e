//! One event's own checks, before anything is looked up: the JSON value into the typed
//! event, then every field's form and range, and its time against the accept window.

use chrono::{DateTime, TimeDelta, Utc};
use promptreg_api::OutcomeEvent;
use promptreg_core::analysis::Observation;
use promptreg_core::{Digest, EnvName, PromptName, Version};

/// Which arm an event says it was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arm {
    /// The live version.
    Stable,
    /// The canary.
    Candidate,
    /// A blue-green preview (counted with the candidate).
    Preview,
}

impl Arm {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "stable" => Some(Self::Stable),
            "candidate" => Some(Self::Candidate),
            "preview" => Some(Self::Preview),
            _ => None,
        }
    }

    /// The arm a stored row names.
    pub fn from_row(s: &str) -> Option<Self> {
        Self::parse(s)
    }

    /// Its name on the wire, in rows and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::Candidate => "candidate",
            Self::Preview => "preview",
        }
    }
}

/// Why an event is refused: a code and a message, as in the error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// snake_case code.
    pub code: &'static str,
    /// Human text naming the field.
    pub message: String,
}

/// A refusal with a code.
pub fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// An event whose fields are well-formed.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The reporter's id.
    pub id: String,
    /// Prompt.
    pub name: PromptName,
    /// Environment.
    pub env: EnvName,
    /// Version, if given.
    pub version: Option<Version>,
    /// Digest, if given.
    pub digest: Option<Digest>,
    /// Rollout id, if given.
    pub rollout: Option<String>,
    /// Arm, if given.
    pub arm: Option<Arm>,
    /// When.
    pub time: DateTime<Utc>,
    /// What it reports.
    pub observation: Observation,
}

/// The accept window around now.
#[derive(Debug, Clone, Copy)]
pub struct TimeBounds {
    /// Events later than this are refused (clocks ahead).
    pub latest: DateTime<Utc>,
    /// Events before this are refused (their windows may be persisted and gone from memory).
    pub earliest: DateTime<Utc>,
    /// Used for an event without a time.
    pub now: DateTime<Utc>,
}

impl TimeBounds {
    /// Bounds at `now` for events at most `max_future` ahead and `accept` behind.
    pub fn at(now: DateTime<Utc>, max_future: TimeDelta, accept: TimeDelta) -> Self {
        Self {
            latest: now + max_future,
            earliest: now - accept,
            now,
        }
    }
}

/// The longest id, subject or correlation id accepted.
const MAX_TEXT: usize = 256;

fn number(field: &str, value: Option<f64>, non_negative: bool) -> Result<Option<f64>, Refusal> {
    match value {
        Some(v) if !v.is_finite() => Err(refuse(
            "invalid_event",
            format!("{field}: must be a finite number"),
        )),
        Some(v) if non_negative && v < 0.0 => Err(refuse(
            "invalid_event",
            format!("{field}: must be at least 0"),
        )),
        v => Ok(v),
    }
}

/// Checks one event given as JSON.
pub fn check(value: &serde_json::Value, bounds: &TimeBounds) -> Result<Checked, Refusal> {
    if !value.is_object() {
        return Err(refuse("invalid_event", "an event must be a JSON object"));
    }
    // The path names the field (`success: invalid type: string "yes", expected a boolean`).
    let e: OutcomeEvent = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        refuse("invalid_event", format!("{path}: {}", e.into_inner()))
    })?;
    if e.id.is_empty() || e.id.len() > MAX_TEXT {
        return Err(refuse(
            "invalid_event",
            format!("id: must be 1 to {MAX_TEXT} bytes"),
        ));
    }
    for (field, text) in [
        ("subject", &e.subject),
        ("correlation_id", &e.correlation_id),
    ] {
        if text.as_ref().is_some_and(|t| t.len() > MAX_TEXT) {
            return Err(refuse(
                "invalid_event",
                format!("{field}: at most {MAX_TEXT} bytes"),
            ));
        }
    }
    let name = PromptName::parse(&e.prompt)
        .map_err(|err| refuse("invalid_event", format!("prompt: {err}")))?;
    let env = EnvName::parse(e.env.as_deref().unwrap_or("production"))
        .map_err(|err| refuse("invalid_event", format!("env: {err}")))?;
    let version = e
        .version
        .map(Version::new)
        .transpose()
        .map_err(|err| refuse("invalid_event", format!("version: {err}")))?;
    let digest = e
        .digest
        .as_deref()
        .map(Digest::parse)
        .transpose()
        .map_err(|err| refuse("invalid_event", format!("digest: {err}")))?;
    if version.is_none() && digest.is_none() {
        return Err(refuse(
            "invalid_event",
            "version or digest: one of them is required",
        ));
    }
    let arm = e
        .arm
        .as_deref()
        .map(|a| {
            Arm::parse(a).ok_or_else(|| {
                refuse(
                    "invalid_event",
                    format!("arm: '{a}' is not stable, candidate or preview"),
                )
            })
        })
        .transpose()?;
    let time = e.time.unwrap_or(bounds.now);
    if time > bounds.latest {
        return Err(refuse(
            "time_in_future",
            format!("time: {time} is more than the allowed skew ahead of the server's clock"),
        ));
    }
    if time < bounds.earliest {
        return Err(refuse(
            "time_too_old",
            format!(
                "time: {time} is older than the accept window (since {})",
                bounds.earliest
            ),
        ));
    }
    let observation = Observation {
        success: e.success,
        unsafe_action: e.unsafe_action.unwrap_or(false),
        policy_violation: e.policy_violation.unwrap_or(false),
        latency_ms: number("latency_ms", e.latency_ms, true)?,
        cost: number("cost", e.cost, true)?,
        score: number("score", e.score, false)?,
    };
    Ok(Checked {
        id: e.id,
        name,
        env,
        version,
        digest,
        rollout: e.rollout.filter(|r| !r.is_empty()),
        arm,
        time,
        observation,
    })
}
