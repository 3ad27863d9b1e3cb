//! The OpenAPI 3 document at `/openapi.json`: its title, tags and the admin security scheme.
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
        (name = "admin", description = "Operators: articles, digests, subscribers, webhooks (bearer token)"),
        (name = "archive", description = "The public archive of sent digests, and its Atom feed"),
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
