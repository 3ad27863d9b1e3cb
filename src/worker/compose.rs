//! Turning a claimed delivery into the bytes of one message, personalised for its recipient.

use chrono::Utc;
use lettre::message::Mailbox;
use serde::Serialize;

use crate::config::{BaseUrl, Settings};
use crate::domain::{Token, TokenHash};
use crate::mail::{BuiltMessage, EmailTemplates, MessageParts, RenderedEmail, build_message, recipient};
use crate::store::deliveries::{Claimed, DeliveryKind};
use crate::store::tokens::{NewToken, TokenPurpose};

/// Unsubscribe links sit in people's inboxes for a long time and must keep working (the law in
/// several countries asks for at least 30 days); a year is what we promise.
const UNSUBSCRIBE_TTL: chrono::Duration = chrono::Duration::days(365);

/// The tokens one message carries, minted before it is rendered so that their hashes can be
/// stored for a whole batch in one statement.
pub struct Minted {
    confirm: Option<Token>,
    unsubscribe: Token,
}

/// What stays the same for every message a worker sends.
pub struct Composer {
    pub templates: EmailTemplates,
    pub from: Mailbox,
    pub base_url: BaseUrl,
    pub newsletter: String,
    pub list_id: String,
    pub token_ttl: chrono::Duration,
    /// "48", or "1.5": shown in the mail as the link's lifetime.
    pub token_ttl_hours: String,
}

/// A digest rendered as far as it can be before knowing the recipient: articles turned from
/// Markdown into HTML and text once, shared by every message of the digest.
pub struct DigestView {
    pub subject: String,
    pub articles: minijinja::Value,
}

impl DigestView {
    pub fn new(content: &crate::store::digests::DigestContent) -> Self {
        let articles: Vec<minijinja::Value> = content
            .articles
            .iter()
            .map(|a| {
                minijinja::context! {
                    title => a.title,
                    url => a.url,
                    summary => a.summary,
                    html => minijinja::Value::from_safe_string(crate::mail::article_html(&a.body_format, &a.body)),
                    text => crate::mail::article_text(&a.body_format, &a.body),
                }
            })
            .collect();
        Self { subject: content.subject.clone(), articles: minijinja::Value::from(articles) }
    }

    /// [`DigestView::new`] on a blocking thread: Markdown and HTML of a digest's articles are
    /// CPU work (up to 512 KiB per article) that must not hold up the async threads.
    pub async fn render(content: crate::store::digests::DigestContent) -> anyhow::Result<Self> {
        Ok(tokio::task::spawn_blocking(move || Self::new(&content)).await?)
    }
}

#[derive(Serialize)]
struct DigestContext<'a> {
    newsletter: &'a str,
    name: Option<&'a str>,
    subject: &'a str,
    articles: &'a minijinja::Value,
    unsubscribe_url: &'a str,
    base_url: &'a str,
}

#[derive(Serialize)]
struct ConfirmationContext<'a> {
    newsletter: &'a str,
    name: Option<&'a str>,
    confirm_url: String,
    unsubscribe_url: String,
    ttl_hours: String,
}

impl Composer {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let from = settings.mail.from.clone();
        let newsletter = settings.newsletter_name();
        // List-Id (RFC 2919): a phrase and a dot-atom under a domain we control.
        let phrase: String = newsletter.chars().filter(|c| c.is_alphanumeric() || *c == ' ').collect();
        let list_id = format!("\"{}\" <{}.{}>", phrase.trim(), from.email.user(), from.email.domain());
        let ttl = settings.token_ttl();
        Ok(Self {
            templates: EmailTemplates::load(settings.mail.templates_dir.as_deref())?,
            from,
            base_url: settings.http.base_url.clone(),
            newsletter,
            list_id,
            token_ttl: chrono::Duration::from_std(ttl)?,
            token_ttl_hours: settings.subscriptions.token_ttl_hours.to_string(),
        })
    }

    /// Mints the tokens a delivery's message will carry. Their plaintext lives only in the
    /// returned [`Minted`] and then in the message; the hashes go to `tokens`, to be stored before
    /// the message goes out.
    pub fn mint(&self, delivery: &Claimed, tokens: &mut Vec<NewToken>) -> anyhow::Result<Minted> {
        let confirm = match delivery.kind {
            DeliveryKind::Confirmation => {
                let confirm = Token::generate()?;
                tokens.push(new_token(confirm.hash(), delivery, TokenPurpose::Confirm, Utc::now() + self.token_ttl));
                Some(confirm)
            }
            DeliveryKind::Digest => None,
        };
        let unsubscribe = Token::generate()?;
        tokens.push(new_token(unsubscribe.hash(), delivery, TokenPurpose::Unsubscribe, Utc::now() + UNSUBSCRIBE_TTL));
        Ok(Minted { confirm, unsubscribe })
    }

    /// The confirmation mail, carrying the tokens [`Composer::mint`] made for it.
    pub fn confirmation(&self, delivery: &Claimed, minted: &Minted) -> anyhow::Result<BuiltMessage> {
        let confirm = minted.confirm.as_ref().ok_or_else(|| anyhow::anyhow!("no confirmation token was minted"))?;
        let unsubscribe_url = self.unsubscribe_url(minted);
        let rendered = self.templates.render(
            "confirmation",
            ConfirmationContext {
                newsletter: &self.newsletter,
                name: delivery.name.as_deref(),
                confirm_url: self.base_url.join(&format!("/subscriptions/confirm?token={}", confirm.expose())),
                unsubscribe_url: unsubscribe_url.clone(),
                ttl_hours: self.token_ttl_hours.clone(),
            },
        )?;
        self.message(delivery, rendered, &unsubscribe_url)
    }

    /// One digest message. Only the greeting and the unsubscribe link differ per recipient.
    pub fn digest(&self, view: &DigestView, delivery: &Claimed, minted: &Minted) -> anyhow::Result<BuiltMessage> {
        let unsubscribe_url = self.unsubscribe_url(minted);
        let rendered = self.render_digest(view, delivery.name.as_deref(), &unsubscribe_url)?;
        self.message(delivery, rendered, &unsubscribe_url)
    }

    fn unsubscribe_url(&self, minted: &Minted) -> String {
        self.base_url.join(&format!("/unsubscribe?token={}", minted.unsubscribe.expose()))
    }

    fn message(
        &self,
        delivery: &Claimed,
        rendered: RenderedEmail,
        unsubscribe_url: &str,
    ) -> anyhow::Result<BuiltMessage> {
        Ok(build_message(MessageParts {
            from: &self.from,
            to: recipient(&delivery.email, delivery.name.as_deref())?,
            subject: &rendered.subject,
            text: rendered.text,
            html: rendered.html,
            unsubscribe_url: Some(unsubscribe_url),
            list_id: Some(&self.list_id),
        })?)
    }

    pub fn render_digest(
        &self,
        view: &DigestView,
        name: Option<&str>,
        unsubscribe_url: &str,
    ) -> Result<RenderedEmail, crate::mail::TemplateError> {
        self.templates.render(
            "digest",
            DigestContext {
                newsletter: &self.newsletter,
                name,
                subject: &view.subject,
                articles: &view.articles,
                unsubscribe_url,
                base_url: self.base_url.as_str(),
            },
        )
    }
}

fn new_token(
    hash: TokenHash,
    delivery: &Claimed,
    purpose: TokenPurpose,
    expires_at: chrono::DateTime<Utc>,
) -> NewToken {
    NewToken { hash, subscriber_id: delivery.subscriber_id, purpose, expires_at }
}
