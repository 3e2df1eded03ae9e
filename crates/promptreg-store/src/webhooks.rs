//! Webhook records: subscriptions (with their delivery cursor) and the delivery history.

use chrono::{DateTime, Utc};
use promptreg_core::ProjectId;

/// One webhook subscription of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRecord {
    /// Id (`wh_…`).
    pub id: String,
    /// Tenant.
    pub project: ProjectId,
    /// Where deliveries are posted (an absolute http(s) URL).
    pub url: String,
    /// Event names delivered (empty: all).
    pub events: Vec<String>,
    /// What it is for.
    pub description: Option<String>,
    /// The signing secret. Stored as is: the dispatcher needs it to sign, unlike a token,
    /// which is only compared.
    pub secret: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The last event `seq` of the project's log this webhook is done with (delivered, given
    /// up, or not wanted). Starts at the log's head when the webhook is created.
    pub cursor: i64,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; the dispatcher moved on.
    Failed,
}

impl DeliveryStatus {
    /// Stored and wire form.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => return None,
        })
    }
}

/// The delivery of one event to one webhook, across its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Tenant.
    pub project: ProjectId,
    /// The webhook.
    pub webhook: String,
    /// The event's `seq` in the project's log.
    pub seq: i64,
    /// The event's webhook name (`pointer_moved`, …).
    pub event: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The last answer's status code, if the receiver answered.
    pub response_code: Option<u16>,
    /// Why the last attempt failed (status, timeout, connection error).
    pub error: Option<String>,
    /// When the first attempt was made.
    pub first_attempt_at: DateTime<Utc>,
    /// When the last attempt was made.
    pub last_attempt_at: DateTime<Utc>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// How long the last attempt took, in milliseconds.
    pub duration_ms: i64,
}
