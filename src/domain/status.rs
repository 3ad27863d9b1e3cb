/// Where a subscriber stands; the same words in the API, the CLI and the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[sqlx(type_name = "subscriber_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum SubscriberStatus {
    Pending,
    Confirmed,
    Unsubscribed,
    Bounced,
}
