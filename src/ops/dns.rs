//! Just enough DNS for `broadsheet doctor --dns`: TXT records over UDP from one nameserver, with
//! no dependency for a lookup the service itself never makes.

use std::net::SocketAddr;
use std::time::Duration;

/// The first `nameserver` in /etc/resolv.conf.
pub fn system_nameserver() -> Option<SocketAddr> {
    let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    conf.lines().find_map(|line| {
        let address = line.trim().strip_prefix("nameserver")?.trim();
        address.parse::<std::net::IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
    })
}

/// The TXT records of `name` (each record's strings joined), empty when the name does not exist.
pub async fn txt(server: SocketAddr, name: &str, timeout: Duration) -> Result<Vec<String>, String> {
    let id: u16 = fastrand::u16(..);
    let query = query(id, name)?;
    let bind: SocketAddr = if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(|_| "bind")?;
    let socket = tokio::net::UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    socket.send_to(&query, server).await.map_err(|e| format!("cannot ask {server}: {e}"))?;
    let mut buf = vec![0; 4096];
    let n = tokio::time::timeout(timeout, socket.recv(&mut buf))
        .await
        .map_err(|_| format!("{server} did not answer within {} s", timeout.as_secs_f64()))?
        .map_err(|e| e.to_string())?;
    parse(&buf[..n], id)
}

fn query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // recursion desired, one question
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len()).ok().filter(|&l| (1..64).contains(&l)).ok_or("bad name")?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 16, 0, 1]); // end of name, type TXT, class IN
    Ok(q)
}

fn parse(msg: &[u8], id: u16) -> Result<Vec<String>, String> {
    let bad = || "a malformed DNS answer".to_owned();
    let header = msg.get(..12).ok_or_else(bad)?;
    if u16::from_be_bytes([header[0], header[1]]) != id {
        return Err("an answer to another question".to_owned());
    }
    match header[3] & 0x0f {
        0 => {}
        3 => return Ok(Vec::new()), // NXDOMAIN
        code => return Err(format!("the nameserver answered with error code {code}")),
    }
    let questions = u16::from_be_bytes([header[4], header[5]]);
    let answers = u16::from_be_bytes([header[6], header[7]]);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(msg, at).ok_or_else(bad)? + 4;
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        at = skip_name(msg, at).ok_or_else(bad)?;
        let fixed = msg.get(at..at + 10).ok_or_else(bad)?;
        let kind = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let data = msg.get(at + 10..at + 10 + len).ok_or_else(bad)?;
        at += 10 + len;
        if kind != 16 {
            continue;
        }
        let (mut text, mut i) = (Vec::new(), 0);
        while i < data.len() {
            let n = usize::from(data[i]);
            text.extend_from_slice(data.get(i + 1..i + 1 + n).ok_or_else(bad)?);
            i += 1 + n;
        }
        records.push(String::from_utf8_lossy(&text).into_owned());
    }
    Ok(records)
}

/// The offset after a (possibly compressed) name.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_txt_answer_is_read_and_junk_is_refused() {
        let q = query(7, "s1._domainkey.example.test").unwrap();
        let mut answer = q.clone();
        answer[2] = 0x81;
        answer[3] = 0x80;
        answer[7] = 1;
        answer
            .extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60, 0, 8, 3, b'a', b'b', b'c', 3, b'd', b'e', b'f']);
        assert_eq!(parse(&answer, 7).unwrap(), ["abcdef"]);
        assert!(parse(&answer[..answer.len() - 2], 7).is_err());
        assert!(parse(&answer, 8).is_err());
        assert!(parse(b"\x00", 7).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_are_an_answer_or_an_error(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = parse(&bytes, 0);
        }
    }
}
