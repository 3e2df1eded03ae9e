//! Change requests: the two-person rule for protected environments, as pure rules.
//!
//! A deploy into a protected environment needs an approved change request (or an admin's
//! break-glass). This module holds what that means without I/O: the statuses a request goes
//! through ([`ChangeStatus`], with expiry computed from the clock rather than stored), who may
//! review one ([`review_refusal`]), what a review does to the status ([`after_review`]), and
//! how a pointer move says under which authority it was made ([`Approval`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a change request is. `Expired` is never stored: a pending or approved request whose
/// `expires_at` has passed reads as expired ([`ChangeStatus::effective`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Waiting for approvals.
    Pending,
    /// Has as many approvals as its environment requires; may be applied.
    Approved,
    /// A reviewer rejected it; final.
    Rejected,
    /// Deployed; final.
    Applied,
    /// Not applied in time; final.
    Expired,
}

impl ChangeStatus {
    /// Storage and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStatus::Pending => "pending",
            ChangeStatus::Approved => "approved",
            ChangeStatus::Rejected => "rejected",
            ChangeStatus::Applied => "applied",
            ChangeStatus::Expired => "expired",
        }
    }

    /// Parses the spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => ChangeStatus::Pending,
            "approved" => ChangeStatus::Approved,
            "rejected" => ChangeStatus::Rejected,
            "applied" => ChangeStatus::Applied,
            "expired" => ChangeStatus::Expired,
            _ => return None,
        })
    }

    /// The status as of `now`: an open (pending or approved) request past `expires_at` is
    /// expired.
    pub fn effective(self, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        match self {
            ChangeStatus::Pending | ChangeStatus::Approved if now >= expires_at => {
                ChangeStatus::Expired
            }
            s => s,
        }
    }

    /// Whether a review may still change it.
    pub fn is_open(self) -> bool {
        matches!(self, ChangeStatus::Pending | ChangeStatus::Approved)
    }
}

/// A reviewer's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Approve.
    Approve,
    /// Reject.
    Reject,
}

impl Verdict {
    /// Storage and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
        }
    }

    /// Parses the spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approve" => Some(Verdict::Approve),
            "reject" => Some(Verdict::Reject),
            _ => None,
        }
    }
}

/// Why a principal may not review a request (the two-person rule), if it may not.
/// `requester` and `author` are principal (token) ids; so is `reviewer`.
pub fn review_refusal(reviewer: &str, requester: &str, author: &str) -> Option<&'static str> {
    if reviewer == requester {
        Some("you requested this change; another person must review it")
    } else if reviewer == author {
        Some("you are the author of the version this change deploys; another person must review it")
    } else {
        None
    }
}

/// The status after a review: a rejection rejects; an approval approves once `approvals`
/// (counting this one) reaches `required`.
pub fn after_review(verdict: Verdict, approvals: u32, required: u32) -> ChangeStatus {
    match verdict {
        Verdict::Reject => ChangeStatus::Rejected,
        Verdict::Approve if approvals >= required => ChangeStatus::Approved,
        Verdict::Approve => ChangeStatus::Pending,
    }
}

/// The principal id inside an actor string (`<token id>:<token name>`).
pub fn actor_id(actor: &str) -> &str {
    actor.split_once(':').map_or(actor, |(id, _)| id)
}

/// Under which authority a pointer move into a protected environment was made; absent for
/// a move into an unprotected one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Approval {
    /// It applied this approved change request.
    ChangeRequest {
        /// The request's id.
        id: String,
    },
    /// An admin deployed without an approved request (with a reason).
    BreakGlass,
    /// A rollback, which needs no approval but is reported.
    ProtectedRollback,
}

impl Approval {
    /// The kind's spelling (`change_request`, `break_glass`, `protected_rollback`).
    pub fn kind(&self) -> &'static str {
        match self {
            Approval::ChangeRequest { .. } => "change_request",
            Approval::BreakGlass => "break_glass",
            Approval::ProtectedRollback => "protected_rollback",
        }
    }

    /// The change request's id, when it applied one.
    pub fn change_request(&self) -> Option<&str> {
        match self {
            Approval::ChangeRequest { id } => Some(id),
            _ => None,
        }
    }

    /// One storage column: the kind, and `:<id>` for a change request.
    pub fn to_column(&self) -> String {
        match self {
            Approval::ChangeRequest { id } => format!("change_request:{id}"),
            other => other.kind().to_owned(),
        }
    }

    /// Parses [`Approval::to_column`].
    pub fn from_column(s: &str) -> Option<Self> {
        match s.split_once(':') {
            Some(("change_request", id)) if !id.is_empty() => {
                Some(Approval::ChangeRequest { id: id.into() })
            }
            None if s == "break_glass" => Some(Approval::BreakGlass),
            None if s == "protected_rollback" => Some(Approval::ProtectedRollback),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_requests_expire_and_final_ones_do_not() {
        let t = DateTime::from_timestamp(1_000, 0).unwrap_or_default();
        let later = DateTime::from_timestamp(2_000, 0).unwrap_or_default();
        assert_eq!(
            ChangeStatus::Pending.effective(later, t),
            ChangeStatus::Pending
        );
        assert_eq!(
            ChangeStatus::Approved.effective(t, later),
            ChangeStatus::Expired
        );
        assert_eq!(
            ChangeStatus::Applied.effective(t, later),
            ChangeStatus::Applied
        );
    }

    #[test]
    fn two_person_rule_and_counting() {
        assert!(review_refusal("a", "a", "b").is_some());
        assert!(review_refusal("b", "a", "b").is_some());
        assert!(review_refusal("c", "a", "b").is_none());
        assert_eq!(after_review(Verdict::Approve, 1, 2), ChangeStatus::Pending);
        assert_eq!(after_review(Verdict::Approve, 2, 2), ChangeStatus::Approved);
        assert_eq!(after_review(Verdict::Reject, 5, 1), ChangeStatus::Rejected);
        assert_eq!(actor_id("tok1:ci"), "tok1");
    }

    #[test]
    fn approval_columns_round_trip() {
        for a in [
            Approval::ChangeRequest { id: "x-1".into() },
            Approval::BreakGlass,
            Approval::ProtectedRollback,
        ] {
            assert_eq!(Approval::from_column(&a.to_column()), Some(a));
        }
        assert_eq!(Approval::from_column("change_request:"), None);
    }
}
