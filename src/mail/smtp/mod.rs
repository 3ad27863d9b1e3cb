//! A pool of SMTP connections that we open ourselves.
//!
//! Why not lettre's own pool: lettre 0.11.23 does not set `TCP_NODELAY`, and Nagle's algorithm
//! then holds each small SMTP command back for ~40 ms, capping a connection at ~23 messages per
//! second. We open the socket with nodelay, do TLS ourselves (implicit, or STARTTLS: `tls`) and
//! hand the stream to lettre's connection, which reads the server's extensions (EHLO) and logs
//! in (AUTH). Every message's transaction is ours (`data`): written straight to the stream,
//! pipelined where the server allows, whether the stream is plain or encrypted. The staged
//! transaction (where a refusal came, 8BITMIME) is why, as lettre's `send` does not say which
//! command was refused; that, and the data phase, is why this pool would stay even once a
//! lettre release carries the nodelay fix (upstream PR #1159).
//!
//! Concurrency is bounded by the worker's semaphore, not here: the pool only keeps idle
//! connections for reuse, and drops those that sat idle long enough for a server to hang up.

mod data;
mod lane;
mod reply;
mod tls;
mod wire;

pub use lane::{Lane, Next};
#[cfg(test)]
pub use wire::dot_stuff;
pub use wire::{Payload, Wire};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use rustls::pki_types::CertificateDer;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpStream;

use super::TlsMode;
use data::{RawSession, SharedStream};
use reply::{Failure, describe, verdict};
use tls::{SessionStream, Start, Stream};

/// Servers commonly drop idle clients after 60 s or more; reuse only well inside that.
const MAX_IDLE: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept beyond this are closed rather than pooled.
const MAX_POOLED: usize = 256;

pub struct SmtpPool {
    host: String,
    port: u16,
    tls: TlsMode,
    credentials: Option<Credentials>,
    client_id: ClientId,
    idle: Mutex<Vec<(Session, Instant)>>,
    rustls: Arc<rustls::ClientConfig>,
}

/// A pooled connection: lettre's, and our own handle on its stream, which carries every
/// message's transaction.
pub struct Session {
    pub(super) smtp: AsyncSmtpConnection,
    pub(super) raw: RawSession,
}

impl Session {
    pub(super) fn has_broken(&self) -> bool {
        self.smtp.has_broken() || !self.raw.is_clean()
    }
}

/// What went wrong with one send, in the terms the retry policy needs.
#[derive(Debug, thiserror::Error)]
pub enum SmtpSendError {
    /// 5xx: the server refused this message for good.
    #[error("{0}")]
    Permanent(String),
    /// 4xx, a dropped connection mid-transaction: worth another try later.
    #[error("{0}")]
    Transient(String),
    /// 5xx to RCPT, or to the message after DATA: this recipient will not take this mail. The
    /// caller treats it as a hard bounce.
    #[error("{0}")]
    Rejected(String),
    /// The message has non-ASCII bodies and the server does not offer 8BITMIME (nothing was
    /// sent; the connection is fine): build it again in 7-bit and resend.
    #[error("the server does not accept 8-bit message bodies (no 8BITMIME)")]
    NeedsSevenBit,
    /// No session to send over: the server is down or refuses us (connect, TLS, greeting,
    /// STARTTLS, AUTH, or "authentication required"). Says nothing about the message, so the
    /// worker postpones it without spending an attempt and backs off as a whole.
    #[error("{0}")]
    Unavailable(String),
}

impl SmtpPool {
    pub fn new(
        host: String,
        port: u16,
        tls: TlsMode,
        credentials: Option<(String, SecretString)>,
        client_id: ClientId,
        extra_roots: &[CertificateDer<'static>],
    ) -> Result<Self, String> {
        let rustls = tls::client_config(extra_roots)?;
        Ok(Self {
            host,
            port,
            tls,
            credentials: credentials.map(|(user, pass)| Credentials::new(user, pass.expose_secret().to_owned())),
            client_id,
            idle: Mutex::new(Vec::new()),
            rustls,
        })
    }

    /// Sends one message: over an idle connection when there is one, else a new one. A reused
    /// connection that turns out to be dead (the server hung up while it was idle) gets one retry
    /// on a fresh connection, so an idle timeout never costs a message an attempt.
    pub async fn send(&self, envelope: &Envelope, message: &Payload) -> Result<(), SmtpSendError> {
        if let Some(mut session) = self.take_idle() {
            match transact(&mut session, envelope, message).await {
                Ok(()) => {
                    self.put_back(session);
                    return Ok(());
                }
                // The server answered with a reply code: that is the verdict for this message,
                // unless it is 421 (the server is closing the idle connection).
                Err(Failure::Reply { stage, refusal, reusable }) if refusal.code != 421 => {
                    if reusable {
                        self.put_back(session);
                    }
                    return Err(verdict(stage, &refusal));
                }
                Err(Failure::NeedsSevenBit) => {
                    self.put_back(session);
                    return Err(SmtpSendError::NeedsSevenBit);
                }
                // Dead connection (closed while idle, or a garbled or missing reply): try a
                // fresh one below.
                Err(_) => {}
            }
        }
        let mut session = self.connect().await?;
        match transact(&mut session, envelope, message).await {
            Ok(()) => {
                self.put_back(session);
                Ok(())
            }
            Err(Failure::Reply { stage, refusal, reusable }) => {
                if reusable {
                    self.put_back(session);
                }
                Err(verdict(stage, &refusal))
            }
            Err(Failure::NeedsSevenBit) => {
                self.put_back(session);
                Err(SmtpSendError::NeedsSevenBit)
            }
            Err(Failure::Broken(e)) => Err(SmtpSendError::Transient(e)),
        }
    }

    /// Sends QUIT on every idle connection, all at once and for at most a second in all, so a
    /// stopping worker leaves no half-open connections behind (a server that does not answer is
    /// simply dropped).
    pub async fn close(&self) {
        let idle: Vec<_> = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        let mut quits = tokio::task::JoinSet::new();
        for (mut session, _) in idle {
            quits.spawn(async move {
                let _ = session.smtp.quit().await;
            });
        }
        let _ =
            tokio::time::timeout(Duration::from_secs(1), async { while quits.join_next().await.is_some() {} }).await;
    }

    pub(super) fn take_idle(&self) -> Option<Session> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((session, since)) = idle.pop() {
            if since.elapsed() < MAX_IDLE && !session.has_broken() {
                return Some(session);
            }
        }
        None
    }

    /// Keeps a connection for the next message, unless it broke.
    pub(super) fn put_back(&self, session: Session) {
        if session.has_broken() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_POOLED {
            idle.push((session, Instant::now()));
        }
    }

    pub(super) async fn connect(&self) -> Result<Session, SmtpSendError> {
        let unavailable = |what: &str, e: &dyn std::fmt::Display| SmtpSendError::Unavailable(format!("{what}: {e}"));
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((self.host.as_str(), self.port)))
            .await
            .map_err(|_| SmtpSendError::Unavailable(format!("connecting to {}:{} timed out", self.host, self.port)))?
            .map_err(|e| unavailable(&format!("cannot connect to {}:{}", self.host, self.port), &e))?;
        tcp.set_nodelay(true).map_err(|e| unavailable("setting TCP_NODELAY", &e))?;
        // The handshake (and for STARTTLS the plain-text exchange before it) gets the connect's
        // time too: a server that accepts and then says nothing must not hold a lane for the
        // whole send timeout.
        let (stream, encrypted) = tokio::time::timeout(CONNECT_TIMEOUT, self.secure(tcp))
            .await
            .map_err(|_| SmtpSendError::Unavailable(format!("TLS with {}:{} timed out", self.host, self.port)))??;
        // Whatever goes wrong before MAIL FROM (a 5xx greeting, a refused STARTTLS, a wrong
        // password) is about the server or our settings, not about this message: it is an
        // outage, never the message's permanent failure, or one misconfiguration would fail
        // every message in the queue.
        let session = |what: &str, e: &SmtpError| SmtpSendError::Unavailable(format!("{what}: {}", describe(e)));
        // lettre and our data phase share the stream; see `data`.
        let shared = SharedStream::new(Box::new(stream));
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(shared.clone()), &self.client_id)
            .await
            .map_err(|e| session("SMTP greeting", &e))?;
        // Only an operator's explicit tls=none lets a password go unencrypted.
        if self.credentials.is_some() && !encrypted && self.tls != TlsMode::None {
            return Err(SmtpSendError::Unavailable(format!(
                "refusing to send the mail.url password to {} over an unencrypted connection",
                self.host
            )));
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(|e| session("SMTP login", &e))?;
        }
        // The EHLO reply is in the transcript (AUTH's replies offer nothing); reading it also
        // stops the recording.
        let pipelining = shared.offers_pipelining();
        Ok(Session { smtp: conn, raw: RawSession::new(shared, pipelining) })
    }

    /// TLS as `mail.url` asks: from the first byte, by STARTTLS (required or where offered), or
    /// none. The stream, and whether it is encrypted.
    async fn secure(&self, tcp: TcpStream) -> Result<(SessionStream, bool), SmtpSendError> {
        let unavailable = SmtpSendError::Unavailable;
        match self.tls {
            TlsMode::None => Ok((SessionStream::new(Stream::Plain(tcp)), false)),
            TlsMode::Implicit => {
                let tls = tls::handshake(&self.rustls, &self.host, tcp).await.map_err(unavailable)?;
                Ok((SessionStream::new(Stream::Tls(Box::new(tls))), true))
            }
            TlsMode::Opportunistic | TlsMode::Required => {
                match tls::starttls(&self.rustls, &self.host, &self.client_id, tcp).await.map_err(unavailable)? {
                    Start::Encrypted(stream) => Ok((stream, true)),
                    Start::NoOffer(stream) if self.tls == TlsMode::Opportunistic => Ok((stream, false)),
                    Start::NoOffer(_) => {
                        let why = if self.credentials.is_some() {
                            "mail.url has a user name and password, which are only ever sent encrypted"
                        } else {
                            "mail.url requires TLS"
                        };
                        Err(SmtpSendError::Unavailable(format!(
                            "{} does not offer STARTTLS and {why}; nothing was sent (if the offer is being stripped \
                             on the way, this is why; for a local relay without TLS write ?tls=none)",
                            self.host
                        )))
                    }
                }
            }
        }
    }
}

/// One message: MAIL, RCPT, DATA and the content, keeping apart where a refusal came (a 5xx to
/// RCPT or to the content is this recipient's hard bounce; a 5xx to MAIL is about us) and
/// checking 8BITMIME before anything is sent. Pipelined where the server allows; messages built
/// one at a time (confirmations, welcome mail) are stuffed here, in one pass.
async fn transact(session: &mut Session, envelope: &Envelope, message: &Payload) -> Result<(), Failure> {
    let options = mail_options(&session.smtp, envelope, message.wire())?;
    session.raw.transact(envelope, options, &message.stuffed()).await
}

/// MAIL FROM's parameters for this message on this session: SMTPUTF8 for non-ASCII addresses
/// where offered, 8BITMIME for non-ASCII content (which a server without it must not get).
fn mail_options(
    conn: &AsyncSmtpConnection,
    envelope: &Envelope,
    message: &Wire,
) -> Result<Vec<MailParameter>, Failure> {
    let mut options = Vec::new();
    let non_ascii = |a: &lettre::Address| !AsRef::<str>::as_ref(a).is_ascii();
    if (envelope.from().is_some_and(non_ascii) || envelope.to().iter().any(non_ascii))
        && conn.server_info().supports_feature(Extension::SmtpUtfEight)
    {
        options.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() {
        if !conn.server_info().supports_feature(Extension::EightBitMime) {
            return Err(Failure::NeedsSevenBit);
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(options)
}
