use serde_json::Value;

use crate::support::TestApp;

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/", "get"),
        ("/subscriptions", "post"),
        ("/subscriptions/confirm", "get"),
        ("/subscriptions/confirm", "post"),
        ("/unsubscribe", "get"),
        ("/unsubscribe", "post"),
        ("/preferences", "get"),
        ("/preferences", "post"),
        ("/preferences/data", "get"),
        ("/preferences/erase", "get"),
        ("/preferences/erase", "post"),
        ("/preferences/unsubscribe", "post"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/admin/articles", "post"),
        ("/admin/articles", "get"),
        ("/admin/digests", "post"),
        ("/admin/digests/{id}", "get"),
        ("/admin/digests/{id}", "delete"),
        ("/archive", "get"),
        ("/archive/{id}", "get"),
        ("/archive/feed.atom", "get"),
        ("/admin/digests/preview", "get"),
        ("/admin/subscribers", "get"),
        ("/admin", "get"),
        ("/admin/login", "get"),
        ("/admin/login", "post"),
        ("/admin/logout", "post"),
        ("/admin/ui/subscribers", "get"),
        ("/admin/ui/articles", "get"),
        ("/admin/ui/articles", "post"),
        ("/admin/ui/articles/{id}", "get"),
        ("/admin/ui/articles/{id}", "post"),
        ("/admin/ui/digests", "get"),
        ("/admin/ui/digests", "post"),
        ("/admin/ui/digests/{id}", "get"),
        ("/admin/ui/digests/{id}/retry", "post"),
        ("/admin/inbound", "post"),
        ("/admin/subscribers", "post"),
        ("/admin/subscribers/import", "post"),
        ("/admin/subscribers/export", "get"),
        ("/admin/subscribers/{email}", "get"),
        ("/admin/subscribers/{email}", "delete"),
        ("/admin/subscribers/{email}", "patch"),
        ("/admin/segments/count", "get"),
        ("/admin/ui/subscribers", "post"),
        ("/admin/ui/subscribers/import", "post"),
        ("/admin/ui/subscribers/export", "get"),
        ("/admin/ui/subscribers/{email}", "get"),
        ("/admin/ui/subscribers/{email}/erase", "get"),
        ("/admin/ui/subscribers/{email}/erase", "post"),
        ("/webhooks/ses", "post"),
        ("/webhooks/postmark", "post"),
        ("/webhooks/mailgun", "post"),
        ("/webhooks/sendgrid", "post"),
        ("/admin/lists", "get"),
        ("/admin/lists", "post"),
        ("/admin/lists/{slug}", "get"),
        ("/admin/lists/{slug}", "patch"),
        ("/admin/lists/{slug}", "delete"),
        ("/admin/keys", "post"),
        ("/admin/keys", "get"),
        ("/admin/keys/{name}", "delete"),
        ("/admin/ui/keys", "get"),
        ("/admin/ui/keys", "post"),
        ("/admin/ui/keys/{name}/revoke", "post"),
        ("/admin/ui/lists", "get"),
        ("/admin/ui/lists", "post"),
        ("/admin/ui/lists/{slug}", "get"),
        ("/admin/ui/lists/{slug}", "post"),
        ("/admin/ui/lists/{slug}/remove", "get"),
        ("/admin/ui/lists/{slug}/remove", "post"),
        ("/admin/webhooks", "post"),
        ("/admin/webhooks", "get"),
        ("/admin/webhooks/{id}", "delete"),
        ("/admin/ui/webhooks", "get"),
        ("/admin/ui/webhooks", "post"),
        ("/admin/ui/webhooks/{id}/remove", "post"),
    ];
    for (path, method) in expected {
        assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing");
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "a route is documented that this test does not know: {paths:?}");
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
}
