//! The signup's bot defences over HTTP (docs/bots.md): what a page with the signup form carries
//! (a fresh form token, the honeypot, the proof-of-work script when it is on), the challenge
//! route and the script, and the verdict on a posted signup.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{Error, ErrorBody};
use super::input::BodyKind;
use crate::signup::bots::{self, Refusal};
use crate::store::signups::Nonces;

/// The solver, served by us: no third party, and a CSP of `script-src 'self'` allows it.
const POW_JS: &str = include_str!("pages/pow.js");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(challenge)).routes(routes!(pow_js))
}

/// A proof-of-work challenge.
#[derive(Serialize, ToSchema)]
pub struct Challenge {
    /// Send it back as `pow_challenge`, with `pow_solution`: text such that
    /// SHA-256(challenge ":" solution) starts with `difficulty` zero bits. Good once.
    pub challenge: String,
    /// Leading zero bits the hash needs (`limits.signup_pow`).
    pub difficulty: u8,
    /// After this the challenge is refused.
    pub expires_at: DateTime<Utc>,
}

/// A proof-of-work challenge for a signup, when `limits.signup_pow` is on.
#[utoipa::path(get, path = "/subscriptions/challenge", tag = "subscriptions",
    responses(
        (status = 200, description = "A challenge to solve before `POST /subscriptions`", body = Challenge),
        (status = 404, description = "Proof of work is off: signups need none", body = ErrorBody),
    ))]
async fn challenge(State(state): State<AppState>) -> Result<impl IntoResponse, Error> {
    let difficulty = state.settings.limits.signup_pow;
    if difficulty == 0 {
        return Err(Error::NotFound("Proof of work is off: signups need none.".to_owned()));
    }
    let (challenge, expires_at) = bots::challenge(&state.token_keys, Utc::now());
    // Each is good once: no cache may hand one to two clients.
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(Challenge { challenge, difficulty, expires_at }),
    ))
}

/// The signup form's proof-of-work solver.
#[utoipa::path(get, path = "/static/pow.js", tag = "subscriptions",
    responses((status = 200, description = "The script", content_type = "text/javascript", body = String)))]
async fn pow_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
        ],
        POW_JS,
    )
}

/// What a signup carries for the defences.
pub struct Carried<'a> {
    pub form_token: Option<&'a str>,
    pub honeypot: Option<&'a str>,
    pub pow_challenge: Option<&'a str>,
    pub pow_solution: Option<&'a str>,
}

/// A signup refused.
pub enum Verdict {
    /// A form's: the sender gets the page a person gets, and nothing is sent.
    Quiet(Refusal),
    /// An API client's: it must learn what to do (`422` naming the field).
    Loud(Refusal, Error),
}

impl Verdict {
    pub fn count(&self) {
        let (Self::Quiet(r) | Self::Loud(r, _)) = self;
        count(*r);
    }
}

pub fn count(refusal: Refusal) {
    crate::telemetry::metrics::METRICS.count_refusal(refusal.label());
}

/// The defences' verdict on a signup: the nonces its statement must find unused, or why not.
/// A form must carry a good token and an empty honeypot; its proof of work, when the script
/// added one, must hold, and without one (JavaScript off) the token stands alone. A JSON
/// signup carries no form token (an API client is no form) and, with `limits.signup_pow` on,
/// must carry a good proof of work.
pub fn judge(state: &AppState, kind: BodyKind, carried: &Carried<'_>) -> Result<Nonces, Verdict> {
    let now = Utc::now();
    let keys = &state.token_keys;
    let difficulty = state.settings.limits.signup_pow;
    // With proof of work off, whatever a client sends for it is not looked at (nor hashed).
    let solved = match (carried.pow_challenge.filter(|c| !c.trim().is_empty()), carried.pow_solution) {
        (Some(c), Some(s)) if difficulty > 0 => Some(bots::check_pow(keys, c, s, difficulty, now)),
        _ => None,
    };
    match kind {
        BodyKind::Form => {
            let min = state.settings.limits.signup_min_seconds;
            let form =
                bots::check_form(keys, carried.form_token, carried.honeypot, min, now).map_err(Verdict::Quiet)?;
            let pow = solved.transpose().map_err(Verdict::Quiet)?;
            Ok(Nonces { form: Some(form), pow })
        }
        BodyKind::Json if difficulty == 0 => Ok(Nonces::default()),
        BodyKind::Json => match solved {
            Some(Ok(pow)) => Ok(Nonces { form: None, pow: Some(pow) }),
            Some(Err(Refusal::Expired)) => Err(Verdict::Loud(
                Refusal::Expired,
                Error::invalid(
                    "pow_solution",
                    "The challenge has expired: ask GET /subscriptions/challenge for a new one.",
                ),
            )),
            Some(Err(r)) => Err(Verdict::Loud(
                r,
                Error::invalid(
                    "pow_solution",
                    "The proof of work does not hold for this challenge: SHA-256(pow_challenge \":\" pow_solution) must start with the challenge's difficulty in zero bits.",
                ),
            )),
            None => Err(Verdict::Loud(Refusal::Pow, pow_required())),
        },
    }
}

pub fn pow_required() -> Error {
    Error::invalid(
        "pow_solution",
        "A proof of work is required: GET /subscriptions/challenge, then send pow_challenge and pow_solution.",
    )
}

/// A challenge already used, for an API client.
pub fn pow_replayed() -> Error {
    Error::invalid("pow_solution", "This challenge was used already: ask GET /subscriptions/challenge for a new one.")
}
