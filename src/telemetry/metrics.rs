//! Process-wide counters for `/metrics` (Prometheus text format). Plain atomics: the hot path
//! pays one relaxed add per event, and nothing here can fail.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

pub struct Metrics {
    pub signups: AtomicU64,
    pub confirmations: AtomicU64,
    pub unsubscribes: AtomicU64,
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    /// Recipients refused for good at send time (hard bounces).
    pub bounced_at_send: AtomicU64,
    /// Decisions from inbound reports, by kind.
    pub hard_bounces: AtomicU64,
    pub soft_bounces: AtomicU64,
    pub complaints: AtomicU64,
    pub unsubscribes_by_mail: AtomicU64,
    pub inbound_ignored: AtomicU64,
    pub in_flight: AtomicI64,
    smtp_buckets: [AtomicU64; BUCKETS.len()],
    smtp_count: AtomicU64,
    smtp_sum_micros: AtomicU64,
}

/// Upper bounds (seconds) of the SMTP latency histogram.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);

pub static METRICS: Metrics = Metrics {
    signups: AtomicU64::new(0),
    confirmations: AtomicU64::new(0),
    unsubscribes: AtomicU64::new(0),
    sent: AtomicU64::new(0),
    retried: AtomicU64::new(0),
    failed: AtomicU64::new(0),
    skipped: AtomicU64::new(0),
    bounced_at_send: AtomicU64::new(0),
    hard_bounces: AtomicU64::new(0),
    soft_bounces: AtomicU64::new(0),
    complaints: AtomicU64::new(0),
    unsubscribes_by_mail: AtomicU64::new(0),
    inbound_ignored: AtomicU64::new(0),
    in_flight: AtomicI64::new(0),
    smtp_buckets: [ZERO; BUCKETS.len()],
    smtp_count: AtomicU64::new(0),
    smtp_sum_micros: AtomicU64::new(0),
};

pub fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// One SMTP transaction (success or not), timed from the first byte to the reply.
    pub fn observe_smtp(&self, took: Duration) {
        let secs = took.as_secs_f64();
        for (bucket, bound) in self.smtp_buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.smtp_count.fetch_add(1, Ordering::Relaxed);
        self.smtp_sum_micros.fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The text exposition format. `queue` is the number of pending deliveries, read at scrape time.
    pub fn render(&self, queue: Option<i64>) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::with_capacity(2048);
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        counter(
            "broadsheet_signups_total",
            "Signup requests accepted (new, pending or confirmed addresses alike).",
            get(&self.signups),
        );
        counter("broadsheet_confirmations_total", "Subscriptions confirmed.", get(&self.confirmations));
        counter("broadsheet_unsubscribes_total", "Subscribers who unsubscribed.", get(&self.unsubscribes));
        let _ =
            writeln!(out, "# HELP broadsheet_deliveries_total Delivery attempts by outcome (this process's worker).");
        let _ = writeln!(out, "# TYPE broadsheet_deliveries_total counter");
        for (outcome, c) in [
            ("sent", &self.sent),
            ("retry", &self.retried),
            ("failed", &self.failed),
            ("skipped", &self.skipped),
            ("bounced", &self.bounced_at_send),
        ] {
            let _ = writeln!(out, "broadsheet_deliveries_total{{outcome=\"{outcome}\"}} {}", get(c));
        }
        let _ = writeln!(
            out,
            "# HELP broadsheet_list_hygiene_total Bounces, complaints and unsubscribes by mail, by kind and source."
        );
        let _ = writeln!(out, "# TYPE broadsheet_list_hygiene_total counter");
        for (kind, source, c) in [
            ("hard-bounce", "smtp", &self.bounced_at_send),
            ("hard-bounce", "report", &self.hard_bounces),
            ("soft-bounce", "report", &self.soft_bounces),
            ("complaint", "report", &self.complaints),
            ("unsubscribe", "mail", &self.unsubscribes_by_mail),
            ("ignored", "report", &self.inbound_ignored),
        ] {
            let _ = writeln!(out, "broadsheet_list_hygiene_total{{kind=\"{kind}\",source=\"{source}\"}} {}", get(c));
        }
        let _ = writeln!(out, "# HELP broadsheet_smtp_send_seconds Time for one SMTP transaction.");
        let _ = writeln!(out, "# TYPE broadsheet_smtp_send_seconds histogram");
        for (bucket, bound) in self.smtp_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(out, "broadsheet_smtp_send_seconds_bucket{{le=\"{bound}\"}} {}", get(bucket));
        }
        let count = get(&self.smtp_count);
        let _ = writeln!(out, "broadsheet_smtp_send_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "broadsheet_smtp_send_seconds_sum {}", get(&self.smtp_sum_micros) as f64 / 1e6);
        let _ = writeln!(out, "broadsheet_smtp_send_seconds_count {count}");
        let _ = writeln!(out, "# HELP broadsheet_worker_in_flight Messages being sent by this process right now.");
        let _ = writeln!(out, "# TYPE broadsheet_worker_in_flight gauge");
        let _ = writeln!(out, "broadsheet_worker_in_flight {}", self.in_flight.load(Ordering::Relaxed));
        if let Some(queue) = queue {
            let _ = writeln!(out, "# HELP broadsheet_queue_depth Deliveries waiting to be sent (all workers).");
            let _ = writeln!(out, "# TYPE broadsheet_queue_depth gauge");
            let _ = writeln!(out, "broadsheet_queue_depth {queue}");
        }
        out
    }
}
