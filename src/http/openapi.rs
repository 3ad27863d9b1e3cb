//! The OpenAPI 3 document at `/openapi.json`. Routes and their documentation are registered
//! together (utoipa-axum's `routes!`), so a route cannot exist without its entry.
//!
//! The types here describe the wire format for the document only; handlers parse bodies
//! themselves (see `input.rs`) so that every malformed body gets our error message.

#![allow(dead_code)]

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Broadsheet",
        description = "Newsletter subscriptions with double opt-in, and digests sent over SMTP."
    ),
    modifiers(&AdminAuth),
    tags(
        (name = "subscriptions", description = "Public signup, confirmation and unsubscribe"),
        (name = "admin", description = "Operators: articles, digests, subscribers (bearer token)"),
        (name = "operations", description = "Health, readiness and this document"),
        (name = "console", description = "The operator console: HTML pages behind a session cookie")
    )
)]
pub struct ApiDoc;

struct AdminAuth;

impl Modify for AdminAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every error: a sentence for a person, and the field to fix when there is one.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub field: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SignupRequest {
    /// The address to subscribe; up to 254 characters.
    pub email: String,
    /// Optional; up to 100 characters, one line.
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Pending {
    /// Always `pending`: the same answer for new, pending and confirmed addresses.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenForm {
    /// The token from the link in the mail (43 characters, base64url).
    pub token: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OneClick {
    /// RFC 8058: always `One-Click`.
    #[serde(rename = "List-Unsubscribe")]
    pub list_unsubscribe: String,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct ArticleRequest {
    /// One line, up to 300 characters.
    pub title: String,
    /// Markdown; raw HTML is shown as text.
    pub body: String,
    /// http(s) URL the title links to.
    pub url: Option<String>,
    pub summary: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: uuid::Uuid,
}

#[derive(Serialize, ToSchema)]
pub struct Article {
    pub id: uuid::Uuid,
    pub title: String,
    pub body: String,
    /// `markdown`; `sanitised-html` for articles imported from a feed (sanitised once, on import),
    /// or `html` for those imported before that (sanitised at every render)
    pub body_format: String,
    pub url: Option<String>,
    pub summary: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The digest that carried it, if any.
    pub digest_id: Option<uuid::Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct ArticleList {
    pub articles: Vec<Article>,
}

#[derive(Serialize, ToSchema)]
pub struct DigestRequest {
    /// Default: "Newsletter: first title, and N more".
    pub subject: Option<String>,
    /// Default: every article not yet in a digest.
    pub article_ids: Option<Vec<uuid::Uuid>>,
}

#[derive(Serialize, ToSchema)]
pub struct DigestCreated {
    pub id: uuid::Uuid,
    /// Confirmed subscribers when the digest was made; one message each.
    pub recipients: i64,
}

#[derive(Serialize, ToSchema)]
pub struct DigestProgress {
    pub id: uuid::Uuid,
    /// `sending` while anything is pending, then `done`.
    pub status: String,
    pub subject: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub recipients: i64,
    pub sent: i64,
    pub pending: i64,
    pub failed: i64,
    pub skipped: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Subscriber {
    pub id: uuid::Uuid,
    pub email: String,
    pub name: Option<String>,
    /// pending, confirmed, unsubscribed or bounced
    pub status: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriberPage {
    pub subscribers: Vec<Subscriber>,
    /// Subscribers per status, every status present.
    pub counts: std::collections::BTreeMap<String, i64>,
    pub page: i64,
    pub per_page: i64,
}

/// Console forms: the session's CSRF token plus the page's fields.
#[derive(Serialize, ToSchema)]
pub struct ConsoleForm {
    pub csrf: String,
    pub token: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub url: Option<String>,
    pub summary: Option<String>,
    pub subject: Option<String>,
    /// `preview` or `save`
    pub action: Option<String>,
    /// `yes` on the send confirmation step
    pub confirmed: Option<String>,
}
