//! `GET /` (the signup page) and `POST /subscriptions` (form or JSON).
//!
//! The answer is the same whether the address is new, pending or confirmed: the response must
//! not tell a stranger who is subscribed. What differs happens behind it (a pending address gets
//! its confirmation mail again, within the daily cap; a confirmed one gets nothing).

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::bots;
use super::error::{Error, ErrorBody, PageError};
use super::input::{self, BodyKind, FromFields};
use super::locale::{self, RequestLocale};
use super::pages;
use crate::domain::{Locale, SubscriberEmail, SubscriberName};
use crate::ops::mail_domain::MailDomain;
use crate::signup::bots::Refusal;
use crate::signup::{ChoiceError, SignupError};
use crate::store::lists::List;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(signup_page)).routes(routes!(subscribe))
}

/// A signup, as a form or as JSON.
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct SignupRequest {
    /// The address to subscribe; up to 254 characters.
    pub email: String,
    /// Optional; up to 100 characters, one line.
    pub name: Option<String>,
    /// Slugs of public lists to join (a form repeats the field: `lists=a&lists=b`). Omitted: the
    /// default list. One confirmation mail confirms every double-opt-in list asked for;
    /// single-opt-in lists take the address at once.
    #[schema(example = json!(["weekly", "events"]))]
    pub lists: Option<Vec<String>>,
    /// The language of the pages and mail: `en`, `de`, `fr` or `es` (`de-AT` is `de`). Omitted,
    /// or one that is not shipped: `Accept-Language` decides, else the configured default. A
    /// known address keeps the language it has.
    #[schema(example = "de")]
    pub locale: Option<String>,
    /// The signup form's token (a hidden field of the page); JSON signups need none.
    pub form_token: Option<String>,
    /// The form's honeypot: left empty by people.
    pub website: Option<String>,
    /// With `limits.signup_pow` on: a challenge from `GET /subscriptions/challenge` (required
    /// for JSON, added by the page's script to a form) …
    pub pow_challenge: Option<String>,
    /// … and its solution: SHA-256(`pow_challenge` ":" `pow_solution`) starts with the
    /// challenge's `difficulty` in zero bits.
    pub pow_solution: Option<String>,
}

/// The signup page's own marker: the form showed list checkboxes, so none checked is a mistake
/// to point out rather than a signup to the default list.
const LISTS_SHOWN: &str = "lists_shown";

#[derive(Serialize, ToSchema)]
pub struct Pending {
    /// Always `pending`: the same answer for new, pending and confirmed addresses.
    pub status: &'static str,
}

/// The hosted signup page: a form that works without JavaScript.
#[utoipa::path(get, path = "/", tag = "subscriptions",
    responses((status = 200, description = "The signup page", content_type = "text/html", body = String)))]
async fn signup_page(
    State(state): State<AppState>,
    RequestLocale(locale): RequestLocale,
) -> Result<impl IntoResponse, PageError> {
    let lists = offered(&state).await?;
    let checked: Vec<&str> = lists.iter().filter(|l| l.slug == "default").map(|l| l.slug.as_str()).collect();
    // The form's token is good once: a cached page would hand one to many visitors.
    let no_store = [(axum::http::header::CACHE_CONTROL, "no-store")];
    Ok((
        no_store,
        pages::render(
            &state,
            locale,
            "signup.html",
            context! {
                email => "", name => "", error => Value::from(()), field => Value::from(()),
                lists => list_choices(&lists, &checked),
            },
        ),
    ))
}

/// The public lists, when there is a choice to make (more than one).
async fn offered(state: &AppState) -> Result<Vec<List>, Error> {
    let public = state.public_lists.public(&state.db).await?;
    Ok(if public.len() > 1 { public } else { Vec::new() })
}

fn list_choices(lists: &[List], checked: &[&str]) -> Vec<Value> {
    lists
        .iter()
        .map(|l| {
            context! {
                slug => l.slug, name => l.name, description => l.description,
                checked => checked.contains(&l.slug.as_str()),
            }
        })
        .collect()
}

/// Subscribe (double opt-in): the same answer whether the address is new, pending or confirmed.
#[utoipa::path(post, path = "/subscriptions", tag = "subscriptions",
    request_body(content(
        (SignupRequest = "application/json"),
        (SignupRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 202, description = "JSON: a confirmation mail is on its way if the address can receive one", body = Pending),
        (status = 200, description = "Form: the \"check your inbox\" page", content_type = "text/html", body = String),
        (status = 400, description = "The body could not be read", content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 413, description = "The body is too large", content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 415, description = "Neither a form nor JSON", body = ErrorBody),
        (status = 422, description = "Invalid email or name, or `lists` names a list that is not public or does not exist (`field`: `lists`), or with `subscriptions.check_mx` the address's domain receives no mail (`field`: `email`); JSON with `limits.signup_pow` on: the proof of work is missing, wrong, expired or used (`field`: `pow_solution`); form: the page again with the message", content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 429, description = "Too many requests from this address; see Retry-After", content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 503, description = "The database is unreachable; try again", content((ErrorBody = "application/json"), (String = "text/html"))),
    ))]
async fn subscribe(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let kind = match input::body_kind(&headers) {
        Ok(kind) => kind,
        Err(e) => return e.into_response(),
    };
    let fields = input::body(body).and_then(|b| input::text_fields_with(kind, &b, "lists"));
    let (typed, lists_raw, shown) = match fields {
        Ok(fields) => {
            let shown = fields.text.contains_key(LISTS_SHOWN);
            let lists = fields.repeated;
            (Ok(SignupRequest::from_fields(fields.text)), lists, shown)
        }
        Err(e) => (Err(e), None, false),
    };
    let (email_raw, name_raw) = match &typed {
        Ok(request) => (request.email.clone(), request.name.clone().unwrap_or_default()),
        Err(_) => (String::new(), String::new()),
    };
    // The request's language: the field when it names a shipped locale, else the header's.
    let locale = match &typed {
        Ok(SignupRequest { locale: Some(raw), .. }) => Locale::parse(raw),
        _ => None,
    }
    .unwrap_or_else(|| locale::negotiated(&state, &headers));
    let result = match typed {
        Ok(request) => {
            let carried = bots::Carried {
                form_token: request.form_token.as_deref(),
                honeypot: request.website.as_deref(),
                pow_challenge: request.pow_challenge.as_deref(),
                pow_solution: request.pow_solution.as_deref(),
            };
            let (email, name, lists) = (&email_raw, &name_raw, lists_raw.as_deref());
            handle(&state, peer, &headers, kind, &carried, email, name, lists, shown, locale).await
        }
        Err(e) => Err(e),
    };
    match (kind, result) {
        (BodyKind::Json, Ok(())) => (StatusCode::ACCEPTED, Json(Pending { status: "pending" })).into_response(),
        (BodyKind::Json, Err(e)) => e.into_response(),
        (BodyKind::Form, Ok(())) => pages::page(
            &state,
            StatusCode::OK,
            locale,
            "check_inbox.html",
            context! { ttl_hours => state.settings.subscriptions.token_ttl_hours.to_string() },
        ),
        // A person typed this: show the form again with their values and what to fix.
        (BodyKind::Form, Err(e @ Error::Invalid { .. })) => {
            // The lists offered again, as they were checked.
            let lists = offered(&state).await.unwrap_or_default();
            let checked: Vec<&str> = lists_raw.iter().flatten().map(String::as_str).collect();
            pages::page(
                &state,
                e.status(),
                locale,
                "signup.html",
                context! {
                    email => email_raw, name => name_raw, error => invalid_message(&e, locale), field => e.field(),
                    lists => list_choices(&lists, &checked),
                },
            )
        }
        (BodyKind::Form, Err(e)) => PageError(e).into_response(),
    }
}

/// What the form says is wrong, in the page's language: the error's own sentence in English
/// (it can be more precise), the catalogue's for the field otherwise.
fn invalid_message(e: &Error, locale: Locale) -> String {
    if locale == Locale::En {
        return e.public_message();
    }
    let key = match e.field() {
        Some("email") => "invalid-email",
        Some("name") => "invalid-name",
        Some("lists") => "invalid-lists",
        _ => "invalid-other",
    };
    crate::i18n::message(locale, key, None)
}

/// `Ok` also for a form refused as a bot's (see `bots::judge`): its sender gets the page a
/// person gets, and nothing is written or sent.
#[allow(clippy::too_many_arguments)]
async fn handle(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    kind: BodyKind,
    carried: &bots::Carried<'_>,
    email: &str,
    name: &str,
    lists: Option<&[String]>,
    lists_shown: bool,
    locale: Locale,
) -> Result<(), Error> {
    let email = SubscriberEmail::parse(email).map_err(|e| Error::invalid("email", e.to_string()))?;
    let name = SubscriberName::parse(name).map_err(|e| Error::invalid("name", e.to_string()))?;
    // Asked for, but none: an empty JSON array, or the page's checkboxes all left unchecked.
    if lists.is_some_and(<[String]>::is_empty) || (lists.is_none() && lists_shown) {
        return Err(Error::invalid("lists", "Choose at least one list."));
    }
    let origin = super::origin(state, peer, headers);
    if let Some(ip) = origin.ip {
        state.limiter.check(ip).map_err(|retry_after_secs| Error::TooManyRequests { retry_after_secs })?;
    }

    let lists = state.public_lists.choose(&state.db, lists.unwrap_or_default()).await.map_err(|e| match e {
        ChoiceError::Database(e) => Error::from(e),
        other => Error::invalid("lists", other.to_string()),
    })?;

    // After what a person could get wrong, so a person is shown their mistake; a bot's post
    // that passed it gets the page a person gets.
    let nonces = match bots::judge(state, kind, carried) {
        Ok(nonces) => nonces,
        Err(verdict) => {
            verdict.count();
            return match verdict {
                bots::Verdict::Quiet(_) => Ok(()),
                bots::Verdict::Loud(_, e) => Err(e),
            };
        }
    };

    if let Some(domains) = &state.mail_domains {
        let domain = email.as_str().rsplit_once('@').map_or("", |(_, domain)| domain);
        if domains.check(domain).await == MailDomain::NoRecord {
            bots::count(Refusal::NoMx);
            return Err(Error::invalid(
                "email",
                format!("The domain {domain} does not receive mail: check the address."),
            ));
        }
    }
    // Queued for a statement shared with the signups arriving meanwhile (`signup::SignupQueue`), which
    // from then on owns it: a client that hangs up cannot cancel it halfway.
    let signup = match state.signups.signup(email, name, lists, origin, locale, nonces).await {
        Ok(signup) => signup,
        Err(SignupError::Replayed { pow, .. }) => {
            bots::count(Refusal::Replayed);
            return match kind {
                BodyKind::Json if pow => Err(bots::pow_replayed()),
                _ => Ok(()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    crate::telemetry::metrics::inc(&crate::telemetry::metrics::METRICS.signups);
    tracing::info!(subscriber = %signup.subscriber_id, queued = signup.queued, "signup");
    Ok(())
}
