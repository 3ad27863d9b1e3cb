//! Composing messages: a recipient, the tokens its links carry and (for a digest) its content in,
//! the bytes of one message out. Preview (admin API, console, CLI) and send (worker) render
//! through the same functions here. The tokens come in already minted: the worker signs them
//! with `tokens.keys` (`worker::mint`) and stores nothing for them.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use lettre::message::Mailbox;
use serde::Serialize;

use super::prepared::{
    self, CONFIRM_MARK, FixedHeaders, NAME_MARK, PREFERENCES_MARK, PreparedMail, PreparedRecipient, URL_MARK,
};
use super::settings::MailSettings;
use super::{BounceAddress, DkimSigner};
use super::{BuiltMessage, EmailTemplates, MessageParts, RenderedEmail, TemplateError, build_message, recipient};
use crate::domain::{Article, BaseUrl, BodyFormat, DigestContent, DigestList, Locale, SubscriberEmail, Token};

/// Who a message is for.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub email: &'a SubscriberEmail,
    pub name: Option<&'a str>,
    /// The delivery this message is, named in the VERP envelope sender so a bounce report
    /// says which message failed.
    pub delivery: i64,
    /// The subscriber's attributes as JSON text (digest templates: `subscriber.attributes`).
    pub attributes: Option<&'a str>,
    /// The language of the mail: the subscriber's own (see [`Composer::locale_of`]).
    pub locale: Locale,
}

/// The per-recipient tokens a message's links carry.
#[derive(Debug, Clone, Copy)]
pub struct Links<'a> {
    pub unsubscribe: &'a Token,
    pub preferences: &'a Token,
}

/// A message's per-recipient URLs.
#[derive(Debug, Clone, Copy)]
struct Urls<'a> {
    unsubscribe: &'a str,
    preferences: &'a str,
}

/// What stays the same for every message a worker sends.
pub struct Composer {
    pub templates: EmailTemplates,
    pub from: Mailbox,
    pub base_url: BaseUrl,
    pub newsletter: String,
    /// `List-Id` of the mails that go to no list in particular (confirmation, welcome,
    /// reminder); a digest's names its list (see [`Composer::list_id_of`]).
    pub list_id: String,
    /// "48", or "1.5": shown in the mail as the link's lifetime.
    pub token_ttl_hours: String,
    /// `mail.bounce_address` with its signing key: the VERP envelope sender of every message.
    pub bounce: Option<BounceAddress>,
    pub dkim: Option<DkimSigner>,
    /// `mail.unsubscribe_mailto`.
    pub unsubscribe_mailto: Option<String>,
    /// Set once a server turned out not to offer 8BITMIME: bodies go base64 from then on.
    seven_bit: AtomicBool,
    /// Whether the public archive is on (`http.archive`): digests then link to their page
    /// ("view in browser") and the welcome mail to the past issues.
    pub archive: bool,
    /// `subscriptions.default_locale`: the language of subscribers who never chose one.
    pub default_locale: Locale,
    /// The confirmation mail composed once per locale as pieces, like a digest's (`None`
    /// inside: the templates do not allow it). Rendering it whole (minijinja and Fluent, then
    /// lettre's builder) was 13–20 % of the service's CPU during a signup burst (perf).
    confirmation: [OnceLock<Option<PreparedMail>>; Locale::ALL.len()],
}

/// A digest rendered as far as it can be before knowing the recipient: articles turned from
/// Markdown into HTML and text once, shared by every message of the digest.
pub struct DigestView {
    pub subject: String,
    /// Names the digest in `Feedback-ID`.
    pub campaign: String,
    pub articles: minijinja::Value,
    /// The digest's id once it exists (not in a preview): its archive page is linked.
    pub id: Option<uuid::Uuid>,
    /// The list it goes to: the unsubscribe link leaves that list only; `List-Id` names it.
    pub list: Option<DigestList>,
    /// The messages composed once as pieces per locale, on the first send to a reader of that
    /// locale (`None` inside: the templates do not allow it, and every message is built whole).
    /// Only the locales actually among the recipients are ever prepared.
    pub(super) prepared: [OnceLock<Option<PreparedMail>>; Locale::ALL.len()],
}

impl DigestView {
    pub fn new(content: &DigestContent) -> Self {
        let articles: Vec<minijinja::Value> = content
            .articles
            .iter()
            .map(|a| {
                minijinja::context! {
                    title => a.title,
                    url => a.url,
                    summary => a.summary,
                    html => minijinja::Value::from_safe_string(crate::content::article_html(a.body_format, &a.body)),
                    text => crate::content::article_text(a.body_format, &a.body),
                }
            })
            .collect();
        let campaign = content.id.map_or_else(|| "preview".to_owned(), |id| id.simple().to_string());
        Self {
            subject: content.subject.clone(),
            campaign,
            articles: minijinja::Value::from(articles),
            id: content.id,
            list: content.list.clone(),
            prepared: Default::default(),
        }
    }

    /// [`DigestView::new`] on a blocking thread: Markdown and HTML of a digest's articles are
    /// CPU work (up to 512 KiB per article) that must not hold up the async threads.
    pub async fn render(content: DigestContent) -> anyhow::Result<Self> {
        Ok(tokio::task::spawn_blocking(move || Self::new(&content)).await?)
    }
}

#[derive(Serialize)]
struct DigestContext<'a> {
    locale: Locale,
    newsletter: &'a str,
    name: Option<&'a str>,
    subject: &'a str,
    articles: &'a minijinja::Value,
    unsubscribe_url: &'a str,
    /// "Manage your subscription": the preference page.
    preferences_url: &'a str,
    /// The list's name, when the digest goes to one.
    list_name: Option<&'a str>,
    /// `subscriber.name`, `subscriber.attributes.KEY`.
    subscriber: SubscriberContext<'a>,
    base_url: &'a str,
    /// "View in browser": the digest's archive page.
    archive_url: Option<String>,
}

#[derive(Serialize)]
struct SubscriberContext<'a> {
    name: Option<&'a str>,
    attributes: serde_json::Value,
}

impl<'a> SubscriberContext<'a> {
    /// Attributes come from our own column (a JSON object); anything else shows as none.
    fn new(name: Option<&'a str>, attributes: Option<&str>) -> Self {
        let attributes = attributes
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .filter(serde_json::Value::is_object)
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()));
        Self { name, attributes }
    }
}

#[derive(Serialize)]
struct WelcomeContext<'a> {
    locale: Locale,
    newsletter: &'a str,
    name: Option<&'a str>,
    unsubscribe_url: String,
    preferences_url: String,
    /// The archive's list of past issues, when the archive is on.
    archive_url: Option<String>,
}

#[derive(Serialize)]
struct ConfirmationContext<'a> {
    locale: Locale,
    newsletter: &'a str,
    name: Option<&'a str>,
    confirm_url: String,
    unsubscribe_url: String,
    preferences_url: String,
    ttl_hours: String,
}

impl Composer {
    /// `token_ttl_hours` is `subscriptions.token_ttl_hours`, shown in the confirmation mail.
    pub fn new(mail: &MailSettings, base_url: BaseUrl, token_ttl_hours: f64) -> anyhow::Result<Self> {
        let from = mail.from.clone();
        let newsletter = mail.newsletter_name();
        // List-Id (RFC 2919): a phrase and a dot-atom under a domain we control.
        let phrase: String = newsletter.chars().filter(|c| c.is_alphanumeric() || *c == ' ').collect();
        let list_id = format!("\"{}\" <{}.{}>", phrase.trim(), from.email.user(), from.email.domain());
        let composer = Self {
            templates: EmailTemplates::load(mail.templates_dir.as_deref())?,
            from,
            base_url,
            newsletter,
            list_id,
            token_ttl_hours: token_ttl_hours.to_string(),
            bounce: mail.bounce_address().map_err(|e| anyhow::anyhow!("{}: {}", e.key, e.message))?,
            dkim: mail.dkim_signer().map_err(|e| anyhow::anyhow!("{}: {}", e.key, e.message))?,
            unsubscribe_mailto: mail.unsubscribe_mailto.clone(),
            seven_bit: AtomicBool::new(false),
            archive: true,
            default_locale: Locale::En,
            confirmation: Default::default(),
        };
        composer.check_templates()?;
        Ok(composer)
    }

    /// Renders every mail once with sample values. Parsing at load catches a syntax error; only
    /// rendering finds an `{% extends %}` of a template that does not exist, or a frame that
    /// needs a variable the mail does not have: found here, they stop start-up instead of sends.
    fn check_templates(&self) -> Result<(), TemplateError> {
        let url = self.base_url.join("/unsubscribe?token=CHECK");
        let digest = DigestView::new(&DigestContent {
            id: Some(uuid::Uuid::nil()),
            subject: "Check".to_owned(),
            articles: vec![Article {
                id: uuid::Uuid::nil(),
                title: "Check".to_owned(),
                body: "Check.".to_owned(),
                body_format: BodyFormat::Markdown,
                url: Some(self.base_url.join("/")),
                summary: None,
                created_at: chrono::Utc::now(),
                digest_id: None,
            }],
            list: Some(DigestList { slug: "default".to_owned(), name: "Check".to_owned() }),
        });
        let preferences = self.base_url.join("/preferences?token=CHECK");
        for (locale, name) in Locale::ALL.into_iter().flat_map(|l| [(l, Some("Reader")), (l, None)]) {
            self.render_with_confirm_link("confirmation", locale, name, "CHECK", &url, &preferences)?;
            self.render_with_confirm_link("reminder", locale, name, "CHECK", &url, &preferences)?;
            self.render_welcome(locale, name, &url, &preferences)?;
            self.render_digest(&digest, locale, name, None, &url, &preferences)?;
        }
        Ok(())
    }

    /// A subscriber's language from what is stored for them: the default where nothing (or
    /// something no longer shipped) is.
    pub fn locale_of(&self, stored: Option<&str>) -> Locale {
        stored.and_then(Locale::parse).unwrap_or(self.default_locale)
    }

    /// From now on, encode bodies for servers without 8BITMIME.
    pub fn use_seven_bit(&self) {
        self.seven_bit.store(true, Ordering::Relaxed);
    }

    /// The confirmation mail, with links carrying `confirm` and the recipient's other tokens:
    /// spliced from pieces composed once per locale (see [`prepared`]), or built whole when the
    /// templates or the values do not allow that.
    pub fn confirmation(&self, to: Recipient<'_>, confirm: &Token, links: Links<'_>) -> anyhow::Result<BuiltMessage> {
        let prepared = self.confirmation[to.locale.index()].get_or_init(|| self.prepare_confirmation(to.locale));
        if let Some(prepared) = prepared {
            let unsubscribe_url = self.unsubscribe_url(links.unsubscribe, None);
            let preferences_url = self.preferences_url(links.preferences);
            let urls = Urls { unsubscribe: &unsubscribe_url, preferences: &preferences_url };
            if let Some(message) =
                self.prepared_message(prepared, to, urls, Some(confirm.expose()), links.unsubscribe.expose(), true)?
            {
                return Ok(self.signed(message));
            }
        }
        self.with_confirm_link("confirmation", to, confirm, links)
    }

    #[cfg(test)]
    pub(super) fn built_confirmation_for_tests(
        &self,
        to: Recipient<'_>,
        confirm: &Token,
        links: Links<'_>,
    ) -> BuiltMessage {
        // Test-only: a failure here is the test failing.
        self.with_confirm_link("confirmation", to, confirm, links).unwrap()
    }

    /// The confirmation's pieces for `locale`, if a probe spliced from them reads exactly like
    /// the message the builder makes, with a name and without.
    fn prepare_confirmation(&self, locale: Locale) -> Option<PreparedMail> {
        let render = |name| {
            self.render_with_confirm_link("confirmation", locale, name, CONFIRM_MARK, URL_MARK, PREFERENCES_MARK)
        };
        let (named, anonymous) = (render(Some(NAME_MARK)).ok()?, render(None).ok()?);
        let headers = FixedHeaders {
            from: &self.from,
            subject: &named.subject,
            list_id: &self.list_id,
            feedback_id: self.feedback_id("confirmation"),
        };
        let prepared = PreparedMail::new(&named, &anonymous, headers)?;
        let email = SubscriberEmail::parse("probe@example.com").ok()?;
        let (confirm, unsubscribe, preferences) =
            (Token::generate().ok()?, Token::generate().ok()?, Token::generate().ok()?);
        let links = Links { unsubscribe: &unsubscribe, preferences: &preferences };
        let urls = (self.unsubscribe_url(&unsubscribe, None), self.preferences_url(&preferences));
        let urls = Urls { unsubscribe: &urls.0, preferences: &urls.1 };
        for name in [Some(".Zoë <&> \"O'Brien\" Ünïcode"), None] {
            let to = Recipient { email: &email, name, delivery: 0, attributes: None, locale };
            let spliced = self
                .prepared_message(&prepared, to, urls, Some(confirm.expose()), unsubscribe.expose(), false)
                .ok()??;
            let built = self.with_confirm_link("confirmation", to, &confirm, links).ok()?;
            if let Err(difference) = prepared::same_message(&spliced.data.plain(), &built.data.plain()) {
                tracing::info!(%difference, "confirmation mails are built whole: the templates do more than print the name and links");
                return None;
            }
        }
        Some(prepared)
    }

    /// A spliced message signed, when DKIM is on: the signature covers the body as the
    /// recipient reads it; the signer reads the stuffed pieces as that, and the message stays in
    /// its pieces.
    fn signed(&self, message: BuiltMessage) -> BuiltMessage {
        match &self.dkim {
            Some(signer) => BuiltMessage { data: signer.sign_payload(&message.data), ..message },
            None => message,
        }
    }

    fn confirm_url(&self, confirm: &str) -> String {
        self.base_url.join(&format!("/subscriptions/confirm?token={confirm}"))
    }

    /// The welcome mail, once a subscriber confirmed.
    pub fn welcome(&self, to: Recipient<'_>, links: Links<'_>) -> anyhow::Result<BuiltMessage> {
        let unsubscribe_url = self.unsubscribe_url(links.unsubscribe, None);
        let rendered =
            self.render_welcome(to.locale, to.name, &unsubscribe_url, &self.preferences_url(links.preferences))?;
        self.message(to, rendered, links.unsubscribe.expose(), &unsubscribe_url, "welcome", &self.list_id)
    }

    fn render_welcome(
        &self,
        locale: Locale,
        name: Option<&str>,
        unsubscribe_url: &str,
        preferences_url: &str,
    ) -> Result<RenderedEmail, TemplateError> {
        self.templates.render(
            "welcome",
            locale,
            WelcomeContext {
                locale,
                newsletter: &self.newsletter,
                name,
                unsubscribe_url: unsubscribe_url.to_owned(),
                preferences_url: preferences_url.to_owned(),
                archive_url: self.archive.then(|| self.base_url.join("/archive")),
            },
        )
    }

    /// The one reminder to a pending subscriber, with a fresh confirmation link.
    pub fn reminder(&self, to: Recipient<'_>, confirm: &Token, links: Links<'_>) -> anyhow::Result<BuiltMessage> {
        self.with_confirm_link("reminder", to, confirm, links)
    }

    /// A mail asking to confirm (`template` is `confirmation` or `reminder`; the template name
    /// is also the campaign in `Feedback-ID`).
    fn with_confirm_link(
        &self,
        template: &str,
        to: Recipient<'_>,
        confirm: &Token,
        links: Links<'_>,
    ) -> anyhow::Result<BuiltMessage> {
        // "This wasn't me" leaves everything: no list in the link.
        let unsubscribe_url = self.unsubscribe_url(links.unsubscribe, None);
        let preferences_url = self.preferences_url(links.preferences);
        let rendered = self.render_with_confirm_link(
            template,
            to.locale,
            to.name,
            confirm.expose(),
            &unsubscribe_url,
            &preferences_url,
        )?;
        self.message(to, rendered, links.unsubscribe.expose(), &unsubscribe_url, template, &self.list_id)
    }

    fn render_with_confirm_link(
        &self,
        template: &str,
        locale: Locale,
        name: Option<&str>,
        confirm: &str,
        unsubscribe_url: &str,
        preferences_url: &str,
    ) -> Result<RenderedEmail, TemplateError> {
        self.templates.render(
            template,
            locale,
            ConfirmationContext {
                locale,
                newsletter: &self.newsletter,
                name,
                confirm_url: self.confirm_url(confirm),
                unsubscribe_url: unsubscribe_url.to_owned(),
                preferences_url: preferences_url.to_owned(),
                ttl_hours: self.token_ttl_hours.clone(),
            },
        )
    }

    /// One digest message. Only the greeting and the unsubscribe link differ per recipient (and
    /// the frame's language), so the message is spliced from pieces composed once per digest and
    /// locale (see [`prepared`]), already
    /// dot-stuffed for SMTP; it is built whole only when the templates or the values do not
    /// allow that.
    pub fn digest(&self, view: &DigestView, to: Recipient<'_>, links: Links<'_>) -> anyhow::Result<BuiltMessage> {
        let unsubscribe = links.unsubscribe;
        let unsubscribe_url = self.unsubscribe_url(unsubscribe, view.list.as_ref());
        let preferences_url = self.preferences_url(links.preferences);
        let urls = Urls { unsubscribe: &unsubscribe_url, preferences: &preferences_url };
        if let Some(prepared) = view.prepared[to.locale.index()].get_or_init(|| self.prepare_digest(view, to.locale)) {
            if let Some(message) = self.prepared_message(prepared, to, urls, None, unsubscribe.expose(), true)? {
                return Ok(self.signed(message));
            }
        }
        self.built_digest(view, to, urls, unsubscribe.expose())
    }

    /// The digest message built whole by lettre's builder: the way before [`prepared`], and the
    /// fallback.
    fn built_digest(
        &self,
        view: &DigestView,
        to: Recipient<'_>,
        urls: Urls<'_>,
        token: &str,
    ) -> anyhow::Result<BuiltMessage> {
        let rendered =
            self.render_digest(view, to.locale, to.name, to.attributes, urls.unsubscribe, urls.preferences)?;
        self.message(to, rendered, token, urls.unsubscribe, &view.campaign, &self.list_id_of(view))
    }

    #[cfg(test)]
    pub(super) fn built_digest_for_tests(
        &self,
        view: &DigestView,
        to: Recipient<'_>,
        unsubscribe_url: &str,
        preferences_url: &str,
        token: &str,
    ) -> BuiltMessage {
        let urls = Urls { unsubscribe: unsubscribe_url, preferences: preferences_url };
        // Test-only: a failure here is the test failing.
        self.built_digest(view, to, urls, token).unwrap()
    }

    fn prepared_message(
        &self,
        prepared: &PreparedMail,
        to: Recipient<'_>,
        urls: Urls<'_>,
        confirm_token: Option<&str>,
        token: &str,
        stuffed: bool,
    ) -> anyhow::Result<Option<BuiltMessage>> {
        let unsubscribe_url = urls.unsubscribe;
        let message = prepared.message(
            PreparedRecipient {
                to: recipient(to.email, to.name)?,
                name: to.name,
                unsubscribe_url,
                preferences_url: urls.preferences,
                confirm_token,
                list_unsubscribe: match self.mailto(token) {
                    Some(mailto) => format!("<{unsubscribe_url}>, <{mailto}>"),
                    None => format!("<{unsubscribe_url}>"),
                },
                envelope_from: self.bounce.as_ref().map(|bounce| bounce.for_delivery(to.delivery)),
                message_id: super::message::message_id(to.delivery, &self.from),
            },
            self.seven_bit.load(Ordering::Relaxed),
            stuffed,
        )?;
        Ok(message.map(|m| BuiltMessage { envelope: m.envelope, data: m.data, message_id: m.message_id }))
    }

    /// The digest's pieces, if a probe message spliced from them reads exactly like the one the
    /// builder makes (same headers, same decoded parts), with a name and without: a template
    /// override that filters the name or the link falls back to building every message.
    fn prepare_digest(&self, view: &DigestView, locale: Locale) -> Option<PreparedMail> {
        if self.templates.mention("digest", "attributes") {
            tracing::info!(digest = %view.campaign, "digest messages are built whole: the templates show subscribers' attributes");
            return None;
        }
        let named = self.render_digest(view, locale, Some(NAME_MARK), None, URL_MARK, PREFERENCES_MARK).ok()?;
        let anonymous = self.render_digest(view, locale, None, None, URL_MARK, PREFERENCES_MARK).ok()?;
        let list_id = self.list_id_of(view);
        let headers = FixedHeaders {
            from: &self.from,
            subject: &named.subject,
            list_id: &list_id,
            feedback_id: self.feedback_id(&view.campaign),
        };
        let prepared = PreparedMail::new(&named, &anonymous, headers)?;
        let email = SubscriberEmail::parse("probe@example.com").ok()?;
        let url = self.base_url.join("/unsubscribe?token=PR0BE&x=<'\">");
        let preferences = self.base_url.join("/preferences?token=PR0BE&y=<'\">");
        let urls = Urls { unsubscribe: &url, preferences: &preferences };
        for name in [Some(".Zoë <&> \"O'Brien\" Ünïcode"), None] {
            let to = Recipient { email: &email, name, delivery: 0, attributes: None, locale };
            let spliced = self.prepared_message(&prepared, to, urls, None, "PR0BE", false).ok()??;
            let built = self.built_digest(view, to, urls, "PR0BE").ok()?;
            if let Err(difference) = prepared::same_message(&spliced.data.plain(), &built.data.plain()) {
                tracing::info!(digest = %view.campaign, %difference, "digest messages are built whole: the templates do more than print the name and link");
                return None;
            }
        }
        Some(prepared)
    }

    /// The digest as [`Composer::digest`] renders it, for a recipient called "Reader" and with a
    /// link that unsubscribes nobody: what the operator sees before sending.
    pub fn preview_digest(&self, view: &DigestView) -> Result<RenderedEmail, TemplateError> {
        let unsubscribe = match &view.list {
            Some(list) => self.base_url.join(&format!("/unsubscribe?token=PREVIEW&list={}", list.slug)),
            None => self.base_url.join("/unsubscribe?token=PREVIEW"),
        };
        let preferences = self.base_url.join("/preferences?token=PREVIEW");
        self.render_digest(view, self.default_locale, Some("Reader"), None, &unsubscribe, &preferences)
    }

    /// The unsubscribe link: with `list`, it leaves that list only (the token proves who, and
    /// whoever holds it may leave any of their lists, so the slug needs no signature); without,
    /// it leaves everything, as every link mailed before lists did.
    fn unsubscribe_url(&self, unsubscribe: &Token, list: Option<&DigestList>) -> String {
        match list {
            Some(list) => {
                self.base_url.join(&format!("/unsubscribe?token={}&list={}", unsubscribe.expose(), list.slug))
            }
            None => self.base_url.join(&format!("/unsubscribe?token={}", unsubscribe.expose())),
        }
    }

    fn preferences_url(&self, preferences: &Token) -> String {
        self.base_url.join(&format!("/preferences?token={}", preferences.expose()))
    }

    /// `List-Id` (RFC 2919) of a digest: its list's name and `<slug.` the host of the others`>`,
    /// so that a reader's filter tells the lists apart.
    pub fn list_id_of(&self, view: &DigestView) -> String {
        match &view.list {
            Some(list) => {
                let phrase: String = list.name.chars().filter(|c| c.is_alphanumeric() || *c == ' ').collect();
                format!("\"{}\" <{}.{}.{}>", phrase.trim(), list.slug, self.from.email.user(), self.from.email.domain())
            }
            None => self.list_id.clone(),
        }
    }

    fn mailto(&self, token: &str) -> Option<String> {
        self.unsubscribe_mailto.as_ref().map(|address| format!("mailto:{address}?subject=unsubscribe-{token}"))
    }

    /// Gmail's Feedback-ID: campaign, kind, list and sender; complaint rates are reported per field.
    fn feedback_id(&self, campaign: &str) -> String {
        format!("{campaign}:newsletter:{}:broadsheet", self.from.email.domain())
    }

    fn message(
        &self,
        to: Recipient<'_>,
        rendered: RenderedEmail,
        token: &str,
        unsubscribe_url: &str,
        campaign: &str,
        list_id: &str,
    ) -> anyhow::Result<BuiltMessage> {
        build_message(MessageParts {
            from: &self.from,
            to: recipient(to.email, to.name)?,
            delivery: to.delivery,
            subject: &rendered.subject,
            text: rendered.text,
            html: rendered.html,
            unsubscribe_url: Some(unsubscribe_url),
            list_id: Some(list_id),
            unsubscribe_mailto: self.mailto(token),
            feedback_id: Some(self.feedback_id(campaign)),
            envelope_from: self.bounce.as_ref().map(|bounce| bounce.for_delivery(to.delivery)),
            dkim: self.dkim.as_ref(),
            seven_bit: self.seven_bit.load(Ordering::Relaxed),
        })
    }

    fn render_digest(
        &self,
        view: &DigestView,
        locale: Locale,
        name: Option<&str>,
        attributes: Option<&str>,
        unsubscribe_url: &str,
        preferences_url: &str,
    ) -> Result<RenderedEmail, TemplateError> {
        self.templates.render(
            "digest",
            locale,
            DigestContext {
                locale,
                newsletter: &self.newsletter,
                name,
                subject: &view.subject,
                articles: &view.articles,
                unsubscribe_url,
                preferences_url,
                list_name: view.list.as_ref().map(|l| l.name.as_str()),
                subscriber: SubscriberContext::new(name, attributes),
                base_url: self.base_url.as_str(),
                archive_url: view.id.filter(|_| self.archive).map(|id| self.base_url.join(&format!("/archive/{id}"))),
            },
        )
    }
}

#[cfg(test)]
#[path = "rendered_tests.rs"]
mod rendered_tests;
