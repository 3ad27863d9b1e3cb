//! Statuses, the same words in the API, the CLI and the database.

use std::fmt;

/// Where a subscriber stands; the same words in the API, the CLI and the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[sqlx(type_name = "subscriber_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum SubscriberStatus {
    Pending,
    Confirmed,
    Unsubscribed,
    Bounced,
    /// Reported our mail as spam: never mailed again.
    Complained,
}

impl SubscriberStatus {
    /// The word the API, the CLI and the database use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Unsubscribed => "unsubscribed",
            Self::Bounced => "bounced",
            Self::Complained => "complained",
        }
    }
}

/// `deliveries.status` (the `delivery_status` Postgres enum). Outcomes are written a batch at a
/// time as an array: the derive also implements `PgHasArrayType` (`_delivery_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize)]
#[sqlx(type_name = "delivery_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Sent,
    Failed,
    Skipped,
}

/// A digest is `scheduled` until its send time, `sending` while any of its deliveries is pending,
/// then `done`; a scheduled digest can be `cancelled` before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DigestStatus {
    Scheduled,
    Sending,
    Done,
    Cancelled,
}

impl DigestStatus {
    /// A started digest's status from its pending deliveries.
    pub fn of(pending: i64) -> Self {
        if pending > 0 { Self::Sending } else { Self::Done }
    }

    /// From `digests.state` (`scheduled`, `sending`, `cancelled`) and, once started, what is pending.
    pub fn from_state(state: &str, pending: i64) -> Self {
        match state {
            "scheduled" => Self::Scheduled,
            "cancelled" => Self::Cancelled,
            _ => Self::of(pending),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Sending => "sending",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for DigestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
