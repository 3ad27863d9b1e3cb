//! TLS to the relay: the certificates we trust, implicit TLS (`smtps://`) and STARTTLS, done by
//! us rather than by lettre so that the stream under a session stays ours.
//!
//! Why not lettre's `starttls`: it puts its own TLS layer above the stream we hand it, and our
//! data phase (prepared, dot-stuffed messages written straight to the stream, pipelined) would
//! then have to go around the encryption. So we read the greeting, say EHLO, ask for STARTTLS
//! and do the handshake ourselves, and give lettre the encrypted stream with the greeting read
//! before played back to it: after STARTTLS the server sends no new greeting (RFC 3207 4.2), and
//! lettre's connection starts by reading one. lettre's EHLO then goes over TLS, as RFC 3207
//! requires, and its server information is the one the encrypted session offers.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lettre::transport::smtp::client::AsyncTokioStream;
use lettre::transport::smtp::commands::{Ehlo, Starttls};
use lettre::transport::smtp::extension::ClientId;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::data::parse_reply;

/// The rustls client configuration for the relay: the Mozilla roots (webpki-roots) and any
/// certificates `mail.tls_ca_file` adds.
pub fn client_config(extra_roots: &[CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for (n, cert) in extra_roots.iter().enumerate() {
        roots.add(cert.clone()).map_err(|e| format!("certificate {} of mail.tls_ca_file: {e}", n + 1))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS handshake over `tcp`, checking the certificate against `host`.
pub async fn handshake(
    config: &Arc<rustls::ClientConfig>,
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| format!("mail.url host {host:?} is not a TLS server name: {e}"))?;
    tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp).await.map_err(|e| {
        let hint = if e.to_string().contains("certificate") {
            " (a relay with a certificate from a private CA needs that CA in mail.tls_ca_file)"
        } else {
            ""
        };
        format!("TLS handshake with {host}: {e}{hint}; nothing was sent")
    })
}

/// What the plain-text start of a session found.
pub enum Start {
    /// The server offered STARTTLS, accepted it, and the handshake succeeded.
    Encrypted(SessionStream),
    /// The server does not offer STARTTLS; the session is still in plain text (a second EHLO is
    /// harmless, so lettre starts over from the greeting).
    NoOffer(SessionStream),
}

/// Greeting, EHLO and, where the server offers it, STARTTLS and the handshake. Errors say why
/// no session could be had; nothing but EHLO and STARTTLS was sent in the clear.
pub async fn starttls(
    config: &Arc<rustls::ClientConfig>,
    host: &str,
    client_id: &ClientId,
    mut tcp: TcpStream,
) -> Result<Start, String> {
    let mut buffer = Vec::with_capacity(512);
    let (greeting, used) = read_reply(&mut tcp, &mut buffer).await.map_err(|e| format!("SMTP greeting: {e}"))?;
    let greeting_bytes = buffer[..used].to_vec();
    buffer.drain(..used);
    if greeting.0 != 220 {
        return Err(format!("SMTP greeting: {} {}", greeting.0, greeting.1));
    }
    let write = |e: io::Error| format!("network error: {e}");
    tcp.write_all(Ehlo::new(client_id.clone()).to_string().as_bytes()).await.map_err(write)?;
    let ((code, text), used) = read_reply(&mut tcp, &mut buffer).await.map_err(|e| format!("EHLO: {e}"))?;
    let offers = offers_starttls(&buffer[..used]);
    buffer.drain(..used);
    if !(200..300).contains(&code) {
        return Err(format!("EHLO: {code} {text}"));
    }
    if !offers {
        return Ok(Start::NoOffer(SessionStream::replaying(greeting_bytes, Stream::Plain(tcp))));
    }
    tcp.write_all(Starttls.to_string().as_bytes()).await.map_err(write)?;
    let ((code, text), used) = read_reply(&mut tcp, &mut buffer).await.map_err(|e| format!("STARTTLS: {e}"))?;
    buffer.drain(..used);
    if code != 220 {
        return Err(format!("STARTTLS: {code} {text}"));
    }
    // Bytes after the 220 were sent before the encryption started: someone in between may have
    // put them there to pass as replies on the encrypted session (CVE-2011-0411, client side).
    if !buffer.is_empty() {
        return Err("STARTTLS: the server sent data before the TLS handshake; nothing was sent".to_owned());
    }
    let tls = handshake(config, host, tcp).await?;
    Ok(Start::Encrypted(SessionStream::replaying(greeting_bytes, Stream::Tls(Box::new(tls)))))
}

/// One reply (code, text) and the bytes of `buffer` it took, reading more as needed.
async fn read_reply(tcp: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<((u16, String), usize), String> {
    loop {
        match parse_reply(buffer) {
            Ok(Some((reply, used))) => return Ok(((reply.code, reply.text), used)),
            Ok(None) => {}
            Err(_) => return Err("garbled SMTP reply".to_owned()),
        }
        if buffer.len() > 64 * 1024 {
            return Err("SMTP reply too large".to_owned());
        }
        match tcp.read_buf(buffer).await {
            Ok(0) => return Err("the server closed the connection".to_owned()),
            Ok(_) => {}
            Err(e) => return Err(format!("network error: {e}")),
        }
    }
}

fn offers_starttls(ehlo: &[u8]) -> bool {
    ehlo.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.len() >= 12
            && line.starts_with(b"250")
            && matches!(line[3], b'-' | b' ')
            && line[4..].trim_ascii().eq_ignore_ascii_case(b"STARTTLS")
    })
}

/// The connection under a session: plain TCP or TLS over it.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// A session's stream, with bytes already read from it (the greeting, see the module's
/// documentation) to be read again first.
#[derive(Debug)]
pub struct SessionStream {
    replay: Vec<u8>,
    replayed: usize,
    stream: Stream,
}

impl SessionStream {
    pub fn new(stream: Stream) -> Self {
        Self::replaying(Vec::new(), stream)
    }

    fn replaying(replay: Vec<u8>, stream: Stream) -> Self {
        Self { replay, replayed: 0, stream }
    }
}

impl AsyncRead for SessionStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.replayed < this.replay.len() {
            let n = buf.remaining().min(this.replay.len() - this.replayed);
            buf.put_slice(&this.replay[this.replayed..this.replayed + n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        match &mut this.stream {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for SessionStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(tcp) => tcp.is_write_vectored(),
            Stream::Tls(tls) => tls.is_write_vectored(),
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

impl AsyncTokioStream for SessionStream {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        match &self.stream {
            Stream::Plain(tcp) => tcp.peer_addr(),
            Stream::Tls(tls) => tls.get_ref().0.peer_addr(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starttls_offer_is_read_from_the_ehlo_reply() {
        assert!(offers_starttls(b"250-relay\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"));
        assert!(offers_starttls(b"250-relay\r\n250 starttls\r\n"));
        assert!(!offers_starttls(b"250-relay\r\n250-XSTARTTLS\r\n250 PIPELINING\r\n"));
        assert!(!offers_starttls(b"250 relay STARTTLS\r\n"));
    }
}
