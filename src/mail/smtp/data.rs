//! The mail transaction for messages that are dot-stuffed already (prepared digest messages),
//! written straight to the pooled connection's stream, with MAIL, RCPT and DATA sent in one
//! write when the server offers PIPELINING (RFC 2920).
//!
//! lettre still reads the server's extensions (EHLO) and logs in (AUTH); STARTTLS is ours
//! (`tls`), so this path is the same over plain TCP, STARTTLS and implicit TLS. lettre's
//! `message` dot-stuffs byte by byte and each of its commands waits for its reply; for a digest
//! that is most of the sender's CPU and three round trips per message. lettre reads and writes
//! through [`SharedStream`], a handle on the stream we opened, and so can we,
//! once its handshake is done: between transactions neither side has anything buffered.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncTokioStream;
use lettre::transport::smtp::commands::{Mail, Rcpt};
use lettre::transport::smtp::extension::MailParameter;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::reply::{Failure, Refusal, Stage};
use super::wire::Wire;

/// Replies longer than this are not SMTP (a multi-line EHLO reply is a few hundred bytes).
const MAX_REPLY: usize = 64 * 1024;

struct Inner {
    stream: Box<dyn AsyncTokioStream>,
    /// What the server sent while this is `Some`: the EHLO reply, for the PIPELINING keyword
    /// (lettre keeps only the extensions it knows).
    transcript: Option<Vec<u8>>,
}

/// The stream under a lettre connection, shared with us. Only one side uses it at a time (a
/// session belongs to one send); the lock is never contended.
#[derive(Clone)]
pub struct SharedStream(Arc<Mutex<Inner>>);

impl SharedStream {
    pub fn new(stream: Box<dyn AsyncTokioStream>) -> Self {
        Self(Arc::new(Mutex::new(Inner { stream, transcript: Some(Vec::new()) })))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the server's (last) EHLO reply offered PIPELINING; stops recording.
    pub fn offers_pipelining(&self) -> bool {
        let transcript = self.lock().transcript.take().unwrap_or_default();
        transcript.split(|&b| b == b'\n').any(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            line.len() >= 14
                && line.starts_with(b"250")
                && matches!(line[3], b'-' | b' ')
                && line[4..].eq_ignore_ascii_case(b"PIPELINING")
        })
    }
}

impl std::fmt::Debug for SharedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedStream")
    }
}

impl AsyncRead for SharedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        let before = buf.filled().len();
        let polled = Pin::new(&mut inner.stream).poll_read(cx, buf);
        if let Some(transcript) = &mut inner.transcript {
            if transcript.len() < MAX_REPLY {
                transcript.extend_from_slice(&buf.filled()[before..]);
            }
        }
        polled
    }
}

impl AsyncWrite for SharedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.lock().stream).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.lock().stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.lock().stream.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().stream).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().stream).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for SharedStream {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.lock().stream.peer_addr()
    }
}

/// Our side of a session: the stream and what was read from it but not yet used.
pub struct RawSession {
    stream: SharedStream,
    pub pipelining: bool,
    buffer: Vec<u8>,
}

/// A message's MAIL, RCPT and DATA commands, as written.
pub struct Commands {
    bytes: String,
    rcpts: usize,
}

impl Commands {
    pub fn new(envelope: &Envelope, options: Vec<MailParameter>) -> Self {
        let mut bytes = Mail::new(envelope.from().cloned(), options).to_string();
        for to in envelope.to() {
            bytes.push_str(&Rcpt::new(to.clone(), Vec::new()).to_string());
        }
        bytes.push_str("DATA\r\n");
        Self { bytes, rcpts: envelope.to().len() }
    }
}

/// A reply: its code and its text lines joined by spaces.
pub(super) struct Reply {
    pub(super) code: u16,
    pub(super) text: String,
}

impl Reply {
    /// As lettre describes a refusal, so a stored reply reads the same whichever path sent it.
    fn refusal(self) -> Refusal {
        let kind = if self.code >= 500 { "permanent" } else { "transient" };
        Refusal { code: self.code, described: format!("{0} {kind} error ({0}): {1}", self.code, self.text) }
    }
}

impl RawSession {
    pub fn new(stream: SharedStream, pipelining: bool) -> Self {
        Self { stream, pipelining, buffer: Vec::with_capacity(512) }
    }

    /// One message, `stuffed` being its dot-stuffed bytes. On `Err(Reply)` the session is reset
    /// (RSET) and can carry the next message; on `Err(Broken)` it must be dropped.
    pub async fn transact(
        &mut self,
        envelope: &Envelope,
        options: Vec<MailParameter>,
        stuffed: &Wire,
    ) -> Result<(), Failure> {
        self.open(&Commands::new(envelope, options)).await?;
        self.finish(stuffed, None).await
    }

    /// Opens a message's transaction: MAIL, RCPT and DATA, until the server's 354. On a refusal
    /// the session is reset (RSET) and the first refusal is the verdict.
    pub async fn open(&mut self, commands: &Commands) -> Result<(), Failure> {
        if self.pipelining {
            // RFC 2920: MAIL, the RCPTs and DATA in one group, DATA last; then the replies in order.
            self.write(commands.bytes.as_bytes()).await?;
            return self.opened(commands.rcpts).await;
        }
        let mut lines = commands.bytes.split_inclusive('\n');
        let mut stage = Stage::Mail;
        for line in lines.by_ref() {
            self.write(line.as_bytes()).await?;
            let reply = self.read_reply().await?;
            if line.starts_with("DATA") {
                return if reply.code == 354 { Ok(()) } else { self.refused(Stage::Data, reply).await };
            }
            if !(200..300).contains(&reply.code) {
                return self.refused(stage, reply).await;
            }
            stage = Stage::Rcpt;
        }
        Err(Failure::Broken("no DATA command in the envelope".to_owned()))
    }

    /// The replies to a pipelined MAIL, `rcpts` RCPTs and DATA.
    async fn opened(&mut self, rcpts: usize) -> Result<(), Failure> {
        // The first refusal is the verdict; later replies in the same group only say the same.
        let mut refused: Option<(Stage, Reply)> = None;
        let mut stage = Stage::Mail;
        for _ in 0..1 + rcpts {
            let reply = self.read_reply_after(&refused).await?;
            if refused.is_none() && !(200..300).contains(&reply.code) {
                refused = Some((stage, reply));
            }
            stage = Stage::Rcpt;
        }
        let reply = self.read_reply_after(&refused).await?;
        let data_accepted = reply.code == 354;
        if refused.is_none() && !data_accepted {
            refused = Some((Stage::Data, reply));
        }
        match refused {
            None => Ok(()),
            Some((stage, reply)) => {
                if data_accepted {
                    // DATA went through although MAIL or a RCPT was refused (RFC 2920 3.1): end an
                    // empty message, which the server must then refuse.
                    self.write(b".\r\n").await?;
                    self.read_reply().await?;
                }
                self.refused(stage, reply).await
            }
        }
    }

    /// Sends the content of the message whose transaction is open and reads the verdict. With
    /// `then`, the next message's MAIL, RCPT and DATA go in the same write (RFC 2920 allows the
    /// content as the first "command" of a group): one round trip per message instead of two.
    /// Its replies are left for [`Self::opened_next`]; a refusal of this message then resets
    /// nothing (the reply to the end of data ends the transaction whatever it says).
    pub async fn finish(&mut self, stuffed: &Wire, then: Option<&Commands>) -> Result<(), Failure> {
        self.write_message(stuffed, then.map(|c| c.bytes.as_bytes())).await?;
        let reply = self.read_reply().await?;
        match (reply.code, then) {
            (200..300, _) => Ok(()),
            (code, Some(_)) => {
                Err(Failure::Reply { stage: Stage::Data, refusal: reply.refusal(), reusable: code != 421 })
            }
            (_, None) => self.refused(Stage::Data, reply).await,
        }
    }

    /// After [`Self::finish`] with `then`: the replies to that next message's envelope.
    pub async fn opened_next(&mut self, then: &Commands) -> Result<(), Failure> {
        self.opened(then.rcpts).await
    }

    /// After a refusal: 421 means the server is closing, so the session is over; otherwise RSET
    /// gets it ready for the next message (a server that refuses RSET is left).
    async fn refused(&mut self, stage: Stage, reply: Reply) -> Result<(), Failure> {
        let reusable = reply.code != 421
            && self.write(b"RSET\r\n").await.is_ok()
            && self.read_reply().await.is_ok_and(|r| (200..300).contains(&r.code));
        Err(Failure::Reply { stage, refusal: reply.refusal(), reusable })
    }

    /// A reply in a pipelined group: once something was refused, a connection that closes is
    /// not a new failure but the end of the session after that refusal (a 421, typically).
    async fn read_reply_after(&mut self, refused: &Option<(Stage, Reply)>) -> Result<Reply, Failure> {
        match (self.read_reply().await, refused) {
            (Ok(reply), _) => Ok(reply),
            (Err(e), None) => Err(e),
            (Err(_), Some((stage, reply))) => Err(Failure::Reply {
                stage: *stage,
                refusal: Reply { code: reply.code, text: reply.text.clone() }.refusal(),
                reusable: false,
            }),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let written = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        written.await.map_err(|e| Failure::Broken(format!("network error: {e}")))
    }

    /// The message (its pieces, see `wire`), the end-of-data line and `then` (the next message's
    /// envelope, if any) in one vectored write, so a message costs one system call and goes out
    /// without first being copied into one buffer.
    async fn write_message(&mut self, stuffed: &Wire, then: Option<&[u8]>) -> Result<(), Failure> {
        // As lettre ends a message: a line break before the dot whether or not it ends in one.
        const END: &[u8] = b"\r\n.\r\n";
        let broken = |e: io::Error| Failure::Broken(format!("network error: {e}"));
        let parts: Vec<&[u8]> =
            stuffed.slices().chain([END, then.unwrap_or_default()]).filter(|p| !p.is_empty()).collect();
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut slices = Vec::with_capacity(parts.len());
        let mut written = 0;
        while written < total {
            slices.clear();
            let mut skip = written;
            for part in &parts {
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                slices.push(io::IoSlice::new(&part[skip..]));
                skip = 0;
            }
            let n = self.stream.write_vectored(&slices).await.map_err(broken)?;
            if n == 0 {
                return Err(broken(io::ErrorKind::WriteZero.into()));
            }
            written += n;
        }
        self.stream.flush().await.map_err(broken)
    }

    async fn read_reply(&mut self) -> Result<Reply, Failure> {
        loop {
            if let Some((reply, used)) = parse_reply(&self.buffer)? {
                self.buffer.drain(..used);
                return Ok(reply);
            }
            if self.buffer.len() > MAX_REPLY {
                return Err(Failure::Broken("response error: SMTP response too large".to_owned()));
            }
            let read = self.stream.read_buf(&mut self.buffer).await;
            match read {
                Ok(0) => return Err(Failure::Broken("response error: incomplete response".to_owned())),
                Ok(_) => {}
                Err(e) => return Err(Failure::Broken(format!("network error: {e}"))),
            }
        }
    }

    /// Nothing may be left unread between transactions, or lettre (RSET, QUIT, a builder's
    /// message) would read our leftovers as its replies.
    pub fn is_clean(&self) -> bool {
        self.buffer.is_empty()
    }
}

/// One complete reply at the start of `buffer` and the bytes it took, `None` if incomplete.
pub(super) fn parse_reply(buffer: &[u8]) -> Result<Option<(Reply, usize)>, Failure> {
    let garbled = || Failure::Broken("response error: garbled SMTP reply".to_owned());
    let mut at = 0;
    let mut text = String::new();
    while let Some(end) = buffer[at..].iter().position(|&b| b == b'\n') {
        let line = &buffer[at..at + end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at += end + 1;
        if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
            return Err(garbled());
        }
        let code = u16::from(line[0] - b'0') * 100 + u16::from(line[1] - b'0') * 10 + u16::from(line[2] - b'0');
        let more = line.get(3) == Some(&b'-');
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(String::from_utf8_lossy(line.get(4..).unwrap_or_default()).trim());
        if !more {
            return Ok(Some((Reply { code, text }, at)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_whole_and_one_at_a_time() {
        let (reply, used) = parse_reply(b"250-first\r\n250 second\r\n354 go\r\n").ok().flatten().unwrap();
        assert_eq!((reply.code, reply.text.as_str(), used), (250, "first second", 23));
        assert!(parse_reply(b"250-first\r\n250 sec").ok().unwrap().is_none(), "incomplete");
        assert!(parse_reply(b"hello\r\n").is_err());
        let (reply, _) = parse_reply(b"550\r\n").ok().flatten().unwrap();
        assert_eq!(reply.code, 550);
        assert_eq!(
            Reply { code: 550, text: "5.1.1 no such user".into() }.refusal().described,
            "550 permanent error (550): 5.1.1 no such user"
        );
    }
}
