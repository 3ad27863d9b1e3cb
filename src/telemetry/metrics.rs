//! Process-wide counters for `/metrics`, kept and written out by prometheus-client. A counter is
//! an `Arc`'d atomic: the hot path pays one relaxed add per event, and nothing here can fail.
//!
//! The exposition is the Prometheus text format (0.0.4), not OpenMetrics: the same names, help
//! texts, labels and content type that scrapers and dashboards read today, and no `# EOF` line.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Default)]
pub struct Metrics {
    pub signups: Counter,
    pub confirmations: Counter,
    pub unsubscribes: Counter,
    pub sent: Counter,
    pub retried: Counter,
    pub failed: Counter,
    pub skipped: Counter,
    /// Recipients refused for good at send time (hard bounces).
    pub bounced_at_send: Counter,
    /// Decisions from inbound reports, by kind.
    pub hard_bounces: Counter,
    pub soft_bounces: Counter,
    pub complaints: Counter,
    pub unsubscribes_by_mail: Counter,
    pub inbound_ignored: Counter,
    pub in_flight: Gauge,
    /// Provider webhook outcomes, by [`WEBHOOK_PROVIDERS`] and [`WEBHOOK_OUTCOMES`].
    webhooks: [[Counter; WEBHOOK_OUTCOMES.len()]; WEBHOOK_PROVIDERS.len()],
    /// Signups refused by a bot defence, by [`SIGNUP_REFUSALS`].
    signups_refused: [Counter; SIGNUP_REFUSALS.len()],
    smtp: SmtpHistogram,
}

/// Why a signup was refused (`signup::bots::Refusal`'s labels, in its order).
pub const SIGNUP_REFUSALS: [&str; 8] =
    ["honeypot", "missing", "forged", "too_fast", "expired", "replayed", "pow", "no_mx"];

/// The providers whose webhooks we take (`POST /webhooks/{provider}`).
pub const WEBHOOK_PROVIDERS: [&str; 4] = ["ses", "postmark", "mailgun", "sendgrid"];
/// What became of a webhook's report (the first four are `Processed` outcomes), or of the whole
/// request (`refused`: a bad signature, wrong credentials, a body of another shape).
pub const WEBHOOK_OUTCOMES: [&str; 5] = ["hard-bounce", "soft-bounce", "complaint", "ignored", "refused"];

/// Upper bounds (seconds) of the SMTP latency histogram (`+Inf` is implicit).
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

struct SmtpHistogram(Histogram);

impl Default for SmtpHistogram {
    fn default() -> Self {
        SmtpHistogram(Histogram::new(BUCKETS))
    }
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

pub fn inc(counter: &Counter) {
    counter.inc();
}

/// Counters written as one labelled family: each is also a field of [`Metrics`], and one
/// (`bounced_at_send`) belongs to two families, which `Family`'s get-or-create cannot express.
#[derive(Debug)]
struct Labelled<const N: usize>(Vec<([(&'static str, &'static str); N], Counter)>);

impl<const N: usize> EncodeMetric for Labelled<N> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, counter) in &self.0 {
            counter.encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

impl Metrics {
    /// One webhook outcome; names outside the lists above are not counted.
    pub fn count_webhook(&self, provider: &str, outcome: &str) {
        let p = WEBHOOK_PROVIDERS.iter().position(|p| *p == provider);
        let o = WEBHOOK_OUTCOMES.iter().position(|o| *o == outcome);
        if let (Some(p), Some(o)) = (p, o) {
            self.webhooks[p][o].inc();
        }
    }

    /// One signup refused for `reason`; reasons outside [`SIGNUP_REFUSALS`] are not counted.
    pub fn count_refusal(&self, reason: &str) {
        if let Some(i) = SIGNUP_REFUSALS.iter().position(|r| *r == reason) {
            self.signups_refused[i].inc();
        }
    }

    /// The refusals so far, by reason: this process's counts.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        SIGNUP_REFUSALS.iter().zip(&self.signups_refused).map(|(reason, c)| (*reason, c.get())).collect()
    }

    /// One SMTP transaction (success or not), timed from the first byte to the reply.
    pub fn observe_smtp(&self, took: Duration) {
        self.smtp.0.observe(took.as_secs_f64());
    }

    /// The text exposition format. `queue` is the number of pending deliveries, read at scrape
    /// time; `feed_renders` is kept by the archive feed's cache in the router's state.
    pub fn render(&self, queue: Option<i64>, feed_renders: u64) -> String {
        // Built per scrape from clones (`Arc`s) of the counters: the scrape-time values need a
        // registry of their own anyway, and this keeps the order of the output as it was.
        // Help texts are given without their final stop: the registry adds it.
        let mut registry = Registry::default();
        registry.register(
            "broadsheet_signups",
            "Signup requests accepted (new, pending or confirmed addresses alike)",
            self.signups.clone(),
        );
        registry.register(
            "broadsheet_signups_refused",
            "Signups refused as a bot's, by reason (the sender saw the same page as a person, or a 422)",
            Labelled(
                SIGNUP_REFUSALS
                    .iter()
                    .zip(&self.signups_refused)
                    .map(|(reason, c)| ([("reason", *reason)], c.clone()))
                    .collect(),
            ),
        );
        registry.register("broadsheet_confirmations", "Subscriptions confirmed", self.confirmations.clone());
        registry.register("broadsheet_unsubscribes", "Subscribers who unsubscribed", self.unsubscribes.clone());
        let deliveries = [
            ("sent", &self.sent),
            ("retry", &self.retried),
            ("failed", &self.failed),
            ("skipped", &self.skipped),
            ("bounced", &self.bounced_at_send),
        ];
        registry.register(
            "broadsheet_deliveries",
            "Delivery attempts by outcome (this process's worker)",
            Labelled(deliveries.into_iter().map(|(outcome, c)| ([("outcome", outcome)], c.clone())).collect()),
        );
        let hygiene = [
            ("hard-bounce", "smtp", &self.bounced_at_send),
            ("hard-bounce", "report", &self.hard_bounces),
            ("soft-bounce", "report", &self.soft_bounces),
            ("complaint", "report", &self.complaints),
            ("unsubscribe", "mail", &self.unsubscribes_by_mail),
            ("ignored", "report", &self.inbound_ignored),
        ];
        registry.register(
            "broadsheet_list_hygiene",
            "Bounces, complaints and unsubscribes by mail, by kind and source",
            Labelled(
                hygiene
                    .into_iter()
                    .map(|(kind, source, c)| ([("kind", kind), ("source", source)], c.clone()))
                    .collect(),
            ),
        );
        let webhooks = WEBHOOK_PROVIDERS.iter().zip(&self.webhooks).flat_map(|(provider, counters)| {
            WEBHOOK_OUTCOMES
                .iter()
                .zip(counters)
                .map(|(outcome, c)| ([("provider", *provider), ("outcome", *outcome)], c.clone()))
        });
        registry.register(
            "broadsheet_webhooks",
            "Provider webhook reports by provider and outcome, and refused requests",
            Labelled(webhooks.collect()),
        );
        registry.register("broadsheet_smtp_send_seconds", "Time for one SMTP transaction", self.smtp.0.clone());
        registry.register(
            "broadsheet_worker_in_flight",
            "Messages being sent by this process right now",
            self.in_flight.clone(),
        );
        if let Some(queue) = queue {
            registry.register(
                "broadsheet_queue_depth",
                "Deliveries waiting to be sent (all workers)",
                ConstGauge::new(queue),
            );
        }
        registry.register(
            "broadsheet_archive_feed_renders",
            "Times the archive's Atom feed was rendered (once per change of the archive)",
            ConstCounter::new(feed_renders),
        );
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail; an error would only mean a partial page.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_keeps_the_names_help_and_labels_scraped_before() {
        let metrics = Metrics::default();
        inc(&metrics.signups);
        inc(&metrics.bounced_at_send);
        metrics.count_webhook("mailgun", "refused");
        metrics.count_webhook("nobody", "refused");
        metrics.count_refusal("honeypot");
        metrics.count_refusal("nonsense");
        metrics.in_flight.inc();
        metrics.observe_smtp(Duration::from_millis(3));
        let text = metrics.render(Some(7), 2);
        for line in [
            "# HELP broadsheet_signups_total Signup requests accepted (new, pending or confirmed addresses alike).",
            "# TYPE broadsheet_signups_total counter",
            "broadsheet_signups_total 1",
            "broadsheet_confirmations_total 0",
            "# TYPE broadsheet_signups_refused_total counter",
            "broadsheet_signups_refused_total{reason=\"honeypot\"} 1",
            "broadsheet_signups_refused_total{reason=\"no_mx\"} 0",
            "# TYPE broadsheet_deliveries_total counter",
            "broadsheet_deliveries_total{outcome=\"bounced\"} 1",
            "broadsheet_list_hygiene_total{kind=\"hard-bounce\",source=\"smtp\"} 1",
            "broadsheet_list_hygiene_total{kind=\"hard-bounce\",source=\"report\"} 0",
            "# TYPE broadsheet_smtp_send_seconds histogram",
            "broadsheet_smtp_send_seconds_bucket{le=\"0.0025\"} 0",
            "broadsheet_smtp_send_seconds_bucket{le=\"0.005\"} 1",
            "broadsheet_smtp_send_seconds_bucket{le=\"1\"} 1",
            "broadsheet_smtp_send_seconds_bucket{le=\"+Inf\"} 1",
            "broadsheet_smtp_send_seconds_count 1",
            "# HELP broadsheet_worker_in_flight Messages being sent by this process right now.",
            "broadsheet_worker_in_flight 1",
            "# TYPE broadsheet_queue_depth gauge",
            "broadsheet_queue_depth 7",
            "broadsheet_archive_feed_renders_total 2",
            "broadsheet_webhooks_total{provider=\"mailgun\",outcome=\"refused\"} 1",
            "broadsheet_webhooks_total{provider=\"ses\",outcome=\"hard-bounce\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing from:\n{text}");
        }
        assert!(!text.contains("# EOF"), "Prometheus text, not OpenMetrics");
        assert!(!metrics.render(None, 0).contains("broadsheet_queue_depth"), "no depth when it could not be read");
    }
}
