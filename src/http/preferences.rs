//! The preference page every mail links to ("Manage your subscription"): `GET /preferences?token=`
//! shows the person's name and lists; `POST /preferences` saves them. From there they can leave
//! everything, download their data or erase it (a second page asks once more).
//!
//! The token (purpose `preferences`, signed, good for `subscriptions.preferences_ttl_days`) is the
//! only thing that names the person: the form carries no other id, so a form can change nobody
//! but whom its token names. The link dies with an erasure (there is no one left to name). GETs
//! change nothing (mail scanners open links); POSTs do.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::confirm::TokenQuery;
use super::error::{Error, PageError};
use super::input::{self, BodyKind};
use super::locale::RequestLocale;
use super::pages;
use crate::domain::{Locale, MembershipStatus, SubscriberName, SubscriberStatus};
use crate::ops::subscribers::PersonData;
use crate::store::lists::{self, List};
use crate::store::retry;
use crate::store::subscribers::{self, ConsentAction, SubscriberDetail};
use crate::store::tokens;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(preferences_page, save))
        .routes(routes!(download))
        .routes(routes!(erase_page, erase))
        .routes(routes!(leave_everything))
        .layer(super::no_store())
}

/// The preference form.
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct PreferencesForm {
    /// The token from the mail's link.
    pub token: Option<String>,
    /// Up to 100 characters, one line; empty clears it.
    pub name: Option<String>,
    /// The slugs of the lists to be on (repeated: `lists=a&lists=b`); a list offered and not
    /// named is left.
    pub lists: Option<Vec<String>>,
    /// The language of their pages and mail: `en`, `de`, `fr` or `es`; omitted: unchanged.
    pub locale: Option<String>,
}

/// A form with only the token (leave everything, erase).
#[derive(Serialize, ToSchema, Deserialize, Default)]
#[serde(default)]
pub struct TokenOnlyForm {
    /// The token from the mail's link.
    pub token: Option<String>,
}

/// Marks a form that showed the list checkboxes: without it, a missing `lists` changes no list.
const LISTS_SHOWN: &str = "lists_shown";

/// Whom a token names, with what the page needs about them.
struct Person {
    token: String,
    detail: SubscriberDetail,
    /// Where they stand, by list id.
    standings: HashMap<i32, MembershipStatus>,
}

impl Person {
    /// Their address still receives mail: list changes mean something.
    fn active(&self) -> bool {
        matches!(self.detail.status, SubscriberStatus::Pending | SubscriberStatus::Confirmed)
    }

    fn on(&self, list: &List) -> bool {
        matches!(self.standings.get(&list.id), Some(MembershipStatus::Pending | MembershipStatus::Confirmed))
    }

    /// The language their pages are in: their own.
    fn locale(&self, state: &AppState) -> Locale {
        super::locale::stored(state, self.detail.locale.as_deref())
    }
}

/// The link no longer works: forged, damaged, expired, another purpose's, or its person erased.
/// In the visitor's language: the link names nobody we know.
fn invalid(state: &AppState, locale: Locale) -> Response {
    pages::page(state, StatusCode::BAD_REQUEST, locale, "preferences_invalid.html", context! {})
}

/// The person a raw token names, if it is a good preferences token and they exist.
async fn person(state: &AppState, raw: Option<&str>) -> Result<Option<Person>, Error> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    let Some(token) = state.token_keys.check(raw) else { return Ok(None) };
    let Some(id) = tokens::preferences_subject(&token, chrono::Utc::now()) else { return Ok(None) };
    let db = &state.db;
    // Run again if the connection was dead (a restart of Postgres): it only reads.
    let found = retry::once(db, "preferences", || async move {
        let mut conn = db.acquire().await?;
        let Some(detail) = subscribers::by_id(&mut conn, id).await? else { return Ok(None) };
        Ok::<_, sqlx::Error>(Some((detail, lists::standings(&mut conn, id).await?)))
    })
    .await?;
    let Some((detail, standings)) = found else { return Ok(None) };
    Ok(Some(Person { token: raw.to_owned(), detail, standings: standings.into_iter().collect() }))
}

/// The lists the page offers: every public list, and the private ones the person is on (they may
/// leave those; private lists they are not on are not shown).
async fn offered(state: &AppState, person: &Person) -> Result<Vec<List>, Error> {
    let all = state.public_lists.all(&state.db).await?;
    Ok(all.iter().filter(|l| l.public || person.on(l)).cloned().collect())
}

struct Shown<'a> {
    name: &'a str,
    checked: &'a [String],
    saved: bool,
    error: Option<(String, Option<&'static str>)>,
}

fn show(state: &AppState, status: StatusCode, person: &Person, lists: &[List], shown: &Shown<'_>) -> Response {
    let choices: Vec<Value> = lists
        .iter()
        .map(|l| {
            context! {
                slug => l.slug, name => l.name, description => l.description,
                checked => shown.checked.contains(&l.slug),
            }
        })
        .collect();
    let (error, field) = shown.error.clone().map_or((None, None), |(m, f)| (Some(m), f));
    pages::page(
        state,
        status,
        person.locale(state),
        "preferences.html",
        context! {
            token => person.token, email => person.detail.email, name => shown.name,
            lists => choices, active => person.active(), pending => person.detail.status == SubscriberStatus::Pending,
            saved => shown.saved, error => error, field => field,
        },
    )
}

/// The preference page: the name, the lists (checked where the person is on them), and the ways
/// out. Changes nothing.
#[utoipa::path(get, path = "/preferences", tag = "subscriptions",
    params(TokenQuery),
    responses(
        (status = 200, description = "The preference page", content_type = "text/html", body = String),
        (status = 400, description = "Missing, forged, expired or not a preferences token, or its subscriber was erased", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn preferences_page(
    State(state): State<AppState>,
    RequestLocale(visitor): RequestLocale,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Some(person) = person(&state, TokenQuery::token(query).as_deref()).await? else {
        return Ok(invalid(&state, visitor));
    };
    let lists = offered(&state, &person).await?;
    let checked: Vec<String> = lists.iter().filter(|l| person.on(l)).map(|l| l.slug.clone()).collect();
    let name = person.detail.name.clone().unwrap_or_default();
    Ok(show(
        &state,
        StatusCode::OK,
        &person,
        &lists,
        &Shown { name: &name, checked: &checked, saved: false, error: None },
    ))
}

/// Saves the name, the language and the lists. Joining a double-opt-in list here needs no
/// further confirmation: the link came to the address.
#[utoipa::path(post, path = "/preferences", tag = "subscriptions",
    request_body(content = PreferencesForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Saved: the page again, saying so", content_type = "text/html", body = String),
        (status = 400, description = "Missing, forged, expired or not a preferences token, or its subscriber was erased: nothing changed", content_type = "text/html", body = String),
        (status = 413, description = "The body is too large", content_type = "text/html", body = String),
        (status = 422, description = "An invalid name, a locale that is not shipped, or a list that is not offered: the page again with the message; nothing changed", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this address", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn save(
    State(state): State<AppState>,
    RequestLocale(visitor): RequestLocale,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let origin = super::origin(&state, peer, &headers);
    if let Some(ip) = origin.ip {
        state.limiter.check(ip).map_err(|retry_after_secs| Error::TooManyRequests { retry_after_secs })?;
    }
    let body = input::body(body)?;
    let kind = input::body_kind(&headers).unwrap_or(BodyKind::Form);
    let fields = input::text_fields_with(kind, &body, "lists")?;
    let lists_shown = fields.text.contains_key(LISTS_SHOWN);
    let Some(person) = person(&state, fields.text.get("token").map(String::as_str)).await? else {
        return Ok(invalid(&state, visitor));
    };
    let name_raw = fields.text.get("name").cloned().unwrap_or_default();
    let wanted: Vec<String> = fields.repeated.unwrap_or_default().into_iter().map(|s| s.trim().to_owned()).collect();
    let offered = offered(&state, &person).await?;
    let refuse = |message: String, field: &'static str| {
        show(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &person,
            &offered,
            &Shown { name: &name_raw, checked: &wanted, saved: false, error: Some((message, Some(field))) },
        )
    };
    let name = match SubscriberName::parse(&name_raw) {
        Ok(name) => name,
        Err(e) => return Ok(refuse(e.to_string(), "name")),
    };
    let locale = match fields.text.get("locale").map(|l| l.trim()).filter(|l| !l.is_empty()) {
        None => None,
        Some(raw) => match Locale::parse(raw) {
            Some(locale) => Some(locale),
            None => return Ok(refuse(crate::i18n::message(person.locale(&state), "invalid-other", None), "locale")),
        },
    };
    if let Some(unknown) = wanted.iter().find(|w| !offered.iter().any(|l| l.slug == **w)) {
        let shown: String = unknown.chars().filter(|c| !c.is_control()).take(40).collect();
        return Ok(refuse(format!("There is no list called {shown}."), "lists"));
    }

    let id = person.detail.id;
    let (mut joins, mut leaves) = (Vec::new(), Vec::new());
    // List changes only from a form that showed the lists, and only while the address gets mail
    // at all (after "unsubscribe from everything" the page shows no lists to change).
    if lists_shown && person.active() {
        for list in &offered {
            match (wanted.contains(&list.slug), person.on(list)) {
                (true, false) => joins.push((list.id, list.slug.clone())),
                (false, true) => leaves.push((list.id, list.slug.clone())),
                _ => {}
            }
        }
    }
    // A pending address joins pending: its confirmation link confirms the lot.
    let joined = match person.detail.status {
        SubscriberStatus::Confirmed => MembershipStatus::Confirmed,
        _ => MembershipStatus::Pending,
    };
    // Run again on a fresh connection if the first was dead (a restart of Postgres). Consent is
    // recorded for the lists whose standing this run changed, so a first run that committed
    // unanswered is not recorded twice.
    let (db, origin, name, joins, leaves) = (&state.db, &origin, name.as_ref(), &joins, &leaves);
    let saved = retry::once(db, "preferences", || async move {
        let mut tx = db.begin().await?;
        if !subscribers::set_name(&mut tx, id, name).await? {
            return Ok(None);
        }
        if let Some(locale) = locale {
            subscribers::set_locale(&mut tx, id, locale).await?;
        }
        let ids = |v: &[(i32, String)]| v.iter().map(|(id, _)| *id).collect::<Vec<_>>();
        let changed = |v: &[(i32, String)], now: &[i32]| -> Vec<(i32, String)> {
            v.iter().filter(|(id, _)| now.contains(id)).cloned().collect()
        };
        let joined_now = changed(joins, &lists::set(&mut tx, id, &ids(joins), joined).await?);
        let left_now = changed(leaves, &lists::set(&mut tx, id, &ids(leaves), MembershipStatus::Unsubscribed).await?);
        subscribers::record_list_consent(&mut tx, id, ConsentAction::Join, &joined_now, origin).await?;
        subscribers::record_list_consent(&mut tx, id, ConsentAction::Leave, &left_now, origin).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some((joined_now.len(), left_now.len())))
    })
    .await?;
    let Some((joined_n, left_n)) = saved else { return Ok(invalid(&state, visitor)) };
    tracing::info!(subscriber = %id, joined = joined_n, left = left_n, "preferences saved");

    let Some(person) = self::person(&state, Some(&person.token)).await? else { return Ok(invalid(&state, visitor)) };
    let lists = self::offered(&state, &person).await?;
    let checked: Vec<String> = lists.iter().filter(|l| person.on(l)).map(|l| l.slug.clone()).collect();
    let name = person.detail.name.clone().unwrap_or_default();
    Ok(show(
        &state,
        StatusCode::OK,
        &person,
        &lists,
        &Shown { name: &name, checked: &checked, saved: true, error: None },
    ))
}

/// Everything held about the person, as `subscribers show` gives it, as a JSON download.
#[utoipa::path(get, path = "/preferences/data", tag = "subscriptions",
    params(TokenQuery),
    responses(
        (status = 200, description = "The person's data (as `subscribers show`), as an attachment", body = PersonData),
        (status = 400, description = "Missing, forged, expired or not a preferences token, or its subscriber was erased", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn download(
    State(state): State<AppState>,
    RequestLocale(visitor): RequestLocale,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Some(person) = person(&state, TokenQuery::token(query).as_deref()).await? else {
        return Ok(invalid(&state, visitor));
    };
    let data = match crate::ops::subscribers::show_by_id(&state.db, person.detail.id).await {
        Ok(data) => data,
        Err(crate::ops::OpsError::NotFound(_)) => return Ok(invalid(&state, visitor)),
        Err(e) => return Err(Error::from(e).into()),
    };
    let mut response = axum::Json(data).into_response();
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"my-subscription-data.json\""),
    );
    Ok(response)
}

/// The second step of "erase me": a page with a button. Changes nothing.
#[utoipa::path(get, path = "/preferences/erase", tag = "subscriptions",
    params(TokenQuery),
    responses(
        (status = 200, description = "A page asking once more, with the erase button", content_type = "text/html", body = String),
        (status = 400, description = "Missing, forged, expired or not a preferences token, or its subscriber was erased", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn erase_page(
    State(state): State<AppState>,
    RequestLocale(visitor): RequestLocale,
    query: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let Some(person) = person(&state, TokenQuery::token(query).as_deref()).await? else {
        return Ok(invalid(&state, visitor));
    };
    Ok(pages::page(
        &state,
        StatusCode::OK,
        person.locale(&state),
        "preferences_erase.html",
        context! { token => person.token, email => person.detail.email },
    ))
}

/// Erases the person and everything tied to them, as `subscribers erase` does. The link stops
/// working.
#[utoipa::path(post, path = "/preferences/erase", tag = "subscriptions",
    request_body(content = TokenOnlyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Erased", content_type = "text/html", body = String),
        (status = 400, description = "Missing, forged, expired or not a preferences token, or its subscriber was erased", content_type = "text/html", body = String),
        (status = 413, description = "The body is too large", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this address", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn erase(
    State(state): State<AppState>,
    RequestLocale(visitor): RequestLocale,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let Some((id, locale)) = token_form(&state, peer, &headers, body).await? else {
        return Ok(invalid(&state, visitor));
    };
    match crate::ops::subscribers::erase_by_id(&state.db, id).await {
        Ok(_) => {}
        Err(crate::ops::OpsError::NotFound(_)) => return Ok(invalid(&state, visitor)),
        Err(e) => return Err(Error::from(e).into()),
    }
    Ok(pages::page(&state, StatusCode::OK, locale, "preferences_erased.html", context! {}))
}

/// "Unsubscribe from everything", from the preference page: the address gets no more mail,
/// whatever the list.
#[utoipa::path(post, path = "/preferences/unsubscribe", tag = "subscriptions",
    request_body(content = TokenOnlyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Unsubscribed from everything", content_type = "text/html", body = String),
        (status = 400, description = "Missing, forged, expired or not a preferences token, or its subscriber was erased", content_type = "text/html", body = String),
        (status = 413, description = "The body is too large", content_type = "text/html", body = String),
        (status = 429, description = "Too many requests from this address", content_type = "text/html", body = String),
        (status = 503, description = "The database is unreachable", content_type = "text/html", body = String),
    ))]
async fn leave_everything(
    State(state): State<AppState>,
    RequestLocale(visitor): RequestLocale,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, PageError> {
    let Some((id, locale)) = token_form(&state, peer, &headers, body).await? else {
        return Ok(invalid(&state, visitor));
    };
    let origin = super::origin(&state, peer, &headers);
    // Run again on a fresh connection if the first was dead; the second finds them gone.
    let (db, origin) = (&state.db, &origin);
    let changed = retry::once(db, "unsubscribe", || async move {
        let mut tx = db.begin().await?;
        let changed = tokens::unsubscribe_everything(&mut tx, id, origin).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(changed)
    })
    .await?;
    let Some(changed) = changed else {
        return Ok(invalid(&state, visitor));
    };
    if changed {
        tracing::info!(subscriber = %id, "unsubscribed from the preference page");
        crate::telemetry::metrics::inc(&crate::telemetry::metrics::METRICS.unsubscribes);
    }
    Ok(pages::page(&state, StatusCode::OK, locale, "unsubscribed.html", context! {}))
}

/// A POST with only a token: rate-limited, and the person it names with their language (`None`:
/// no such person or no good token).
async fn token_form(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Option<(Uuid, Locale)>, Error> {
    let origin = super::origin(state, peer, headers);
    if let Some(ip) = origin.ip {
        state.limiter.check(ip).map_err(|retry_after_secs| Error::TooManyRequests { retry_after_secs })?;
    }
    let form: TokenOnlyForm = super::confirm::form_in(headers, body)?;
    Ok(person(state, form.token.as_deref()).await?.map(|p| (p.detail.id, p.locale(state))))
}
