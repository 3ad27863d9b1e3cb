//! A nameserver on loopback for `broadsheet doctor --dns`: it knows one TXT record and answers
//! NXDOMAIN to every other name, over UDP and TCP on the same port. Also one for
//! `subscriptions.check_mx` ([`Nameserver::mail_domains`]) and one that never answers. Like a server that ignores
//! EDNS0, it never sends more than 512 bytes over UDP: a longer answer goes out as the header and
//! question alone with TC (truncated) set, and whole over TCP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Nameserver {
    pub addr: SocketAddr,
    tcp_queries: Arc<AtomicUsize>,
}

impl Nameserver {
    /// Serves `txt` at `name`, split into strings of at most 255 bytes as DNS requires.
    pub fn start(name: &str, txt: &str) -> Nameserver {
        let record = (name.to_owned(), txt.to_owned());
        Self::serve(Arc::new(move |query: &[u8], udp: bool| answer(query, &record, udp)))
    }

    /// A nameserver for `subscriptions.check_mx`: an MX record for each of `mx`, an A record
    /// (192.0.2.1) for each of `a`, no record of another type for those names, and NXDOMAIN
    /// for every other name.
    /// Names in `null_mx` have a null MX (RFC 7505, `0 .`) and an A record.
    pub fn mail_domains(mx: &[&str], a: &[&str], null_mx: &[&str]) -> Nameserver {
        let lower = |names: &[&str]| names.iter().map(|d| d.to_ascii_lowercase()).collect::<Vec<_>>();
        let zone = MailZone { mx: lower(mx), a: [lower(a), lower(null_mx)].concat(), null_mx: lower(null_mx) };
        Self::serve(Arc::new(move |query: &[u8], _| answer_mail(query, &zone)))
    }

    /// A nameserver that never answers: it reads every query and drops it.
    pub fn silent() -> Nameserver {
        Self::serve(Arc::new(|_: &[u8], _| None))
    }

    fn serve(answerer: Answerer) -> Nameserver {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).unwrap();
        let tcp_queries = Arc::new(AtomicUsize::new(0));
        let on_udp = answerer.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = udp.recv_from(&mut buf) {
                if let Some(answer) = on_udp(&buf[..n], true) {
                    let _ = udp.send_to(&answer, peer);
                }
            }
        });
        let counter = tcp_queries.clone();
        std::thread::spawn(move || {
            for stream in tcp.incoming().flatten() {
                let (answerer, counter) = (answerer.clone(), counter.clone());
                std::thread::spawn(move || serve_tcp(stream, &answerer, &counter));
            }
        });
        Nameserver { addr, tcp_queries }
    }

    /// Queries received over TCP so far.
    pub fn tcp_queries(&self) -> usize {
        self.tcp_queries.load(Ordering::SeqCst)
    }
}

type Answerer = Arc<dyn Fn(&[u8], bool) -> Option<Vec<u8>> + Send + Sync>;

struct MailZone {
    mx: Vec<String>,
    a: Vec<String>,
    null_mx: Vec<String>,
}

/// Length-prefixed messages, in turn, until the client closes the connection.
fn serve_tcp(mut stream: TcpStream, answerer: &Answerer, counter: &AtomicUsize) {
    let mut len = [0u8; 2];
    while stream.read_exact(&mut len).is_ok() {
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).is_err() {
            return;
        }
        counter.fetch_add(1, Ordering::SeqCst);
        let Some(answer) = answerer(&query, false) else { return };
        let mut framed = (answer.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&answer);
        if stream.write_all(&framed).is_err() {
            return;
        }
    }
}

/// The answer to `query`: its header and question, then the record if the name is ours. The
/// query's additional section (EDNS0's OPT record) is left out.
fn answer(query: &[u8], (name, txt): &(String, String), udp: bool) -> Option<Vec<u8>> {
    let (mut labels, mut at) = (Vec::new(), 12);
    while *query.get(at)? != 0 {
        let len = usize::from(query[at]);
        labels.push(String::from_utf8_lossy(query.get(at + 1..at + 1 + len)?).to_ascii_lowercase());
        at += 1 + len;
    }
    let question = query.get(12..at + 5)?;
    let ours = labels.join(".") == *name;
    let mut header = [query[0], query[1], 0x81, if ours { 0x80 } else { 0x83 }, 0, 1, 0, u8::from(ours), 0, 0, 0, 0];
    let mut message = [&header[..], question].concat();
    if ours {
        let mut rdata = Vec::new();
        for chunk in txt.as_bytes().chunks(255) {
            rdata.push(chunk.len() as u8);
            rdata.extend_from_slice(chunk);
        }
        message.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60]);
        message.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        message.extend_from_slice(&rdata);
    }
    if udp && message.len() > 512 {
        header[2] |= 0x02; // TC
        header[7] = 0;
        message = [&header[..], question].concat();
    }
    Some(message)
}

/// The answer of [`Nameserver::mail_domains`]: MX (type 15) or A (type 1) where the zone has it.
fn answer_mail(query: &[u8], zone: &MailZone) -> Option<Vec<u8>> {
    let (mut labels, mut at) = (Vec::new(), 12);
    while *query.get(at)? != 0 {
        let len = usize::from(query[at]);
        labels.push(String::from_utf8_lossy(query.get(at + 1..at + 1 + len)?).to_ascii_lowercase());
        at += 1 + len;
    }
    let question = query.get(12..at + 5)?;
    let qtype = u16::from_be_bytes([query[at + 1], query[at + 2]]);
    let name = labels.join(".");
    let known = zone.mx.contains(&name) || zone.a.contains(&name);
    let record: Option<(u16, Vec<u8>)> = match qtype {
        // Preference 0, exchange the root: "no mail here".
        15 if zone.null_mx.contains(&name) => Some((15, vec![0, 0, 0])),
        15 if zone.mx.contains(&name) => {
            let mut rdata = vec![0, 10];
            for label in format!("mx.{name}").split('.') {
                rdata.push(label.len() as u8);
                rdata.extend_from_slice(label.as_bytes());
            }
            rdata.push(0);
            Some((15, rdata))
        }
        1 if zone.a.contains(&name) => Some((1, vec![192, 0, 2, 1])),
        _ => None,
    };
    let header =
        [query[0], query[1], 0x81, if known { 0x80 } else { 0x83 }, 0, 1, 0, u8::from(record.is_some()), 0, 0, 0, 0];
    let mut message = [&header[..], question].concat();
    if let Some((kind, rdata)) = record {
        message.extend_from_slice(&[0xc0, 0x0c]);
        message.extend_from_slice(&kind.to_be_bytes());
        message.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        message.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        message.extend_from_slice(&rdata);
    }
    Some(message)
}
