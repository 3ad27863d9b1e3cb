//! Signup form tokens for bench/run's wrk script, which posts the signup form as browsers do:
//! `--count` tokens, one per line, each as the signup page would have carried it `--age` seconds
//! ago (past `limits.signup_min_seconds`), signed with the keys `serve` uses (read the same way:
//! config/ and the `BROADSHEET__` variables). Each token is good once, so a run needs as many as
//! it posts.
//!
//! `cargo run --release --example form_tokens -- --count 200000 --age 5 --out /tmp/tokens.txt`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;

use broadsheet::config::Settings;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let count: u64 = arg("--count").and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let age: i64 = arg("--age").and_then(|v| v.parse().ok()).unwrap_or(5);
    let out = arg("--out").expect("--out FILE");
    let settings = Settings::load().expect("the settings load");
    let keys = settings.token_keys().expect("tokens.keys");
    let served_at = chrono::Utc::now() - chrono::Duration::seconds(age);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out).expect("the output file"));
    for _ in 0..count {
        writeln!(file, "{}", broadsheet::signup::bots::form_token(&keys, served_at)).unwrap();
    }
    file.flush().unwrap();
}
