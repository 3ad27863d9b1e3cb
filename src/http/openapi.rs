//! The OpenAPI 3 document at `/openapi.json`: its title, tags and the admin security scheme.
//! Each admin operation lists, in its security requirement, the one scope an API key needs for
//! it (OpenAPI 3.1 allows role names there for schemes other than OAuth).
//! Routes and their documentation are registered together (utoipa-axum's `routes!`), so a route
//! cannot exist without its entry, and the schemas are derived on the types the handlers take
//! and return.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Broadsheet",
        description = "Newsletter subscriptions with double opt-in, and digests sent over SMTP."
    ),
    modifiers(&AdminAuth),
    tags(
        (name = "subscriptions", description = "Public signup, confirmation and unsubscribe"),
        (name = "admin", description = "Operators: lists, articles, digests, subscribers, segments, webhooks, API keys (bearer: admin.token or a scoped API key)"),
        (name = "archive", description = "The public archive of sent digests, and its Atom feed"),
        (name = "operations", description = "Health, readiness and this document"),
        (name = "webhooks", description = "Bounce and complaint reports from email providers (SES, Postmark, Mailgun, SendGrid)"),
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
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "admin.token (every scope) or an API key `bsk_…` (the scopes it was created with). \
                         Each operation names the scope it needs: without it, 403.",
                    ))
                    .build(),
            ),
        );
    }
}
