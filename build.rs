// `sqlx::migrate!` embeds migrations/ at compile time, but cargo does not know that: without this,
// a migration added after the last build would be left out of the binary until src changed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
