//! TLS handshakes (ClientHello, ServerHello, Certificate): SNI, ALPN, JA3,
//! JA3S, JA4, X.509. The handshake is the one clear-text identity every
//! HTTPS, MQTTS or IPP-over-TLS device shows: the client's stack in its
//! hello, the server's name and maker in its certificate.

pub mod cert;
mod dtls;
pub mod hello;
mod sha1;

use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};
pub use hello::{ClientHello, ServerHello};

pub const DISSECTORS: &[Dissector] = &[
    Dissector {
        name: "tls",
        probe,
        parse: Parse::Stream(parse_stream),
    },
    Dissector {
        name: "dtls",
        probe: dtls::probe,
        parse: Parse::Stream(dtls::parse_stream),
    },
];

/// Handshake bytes gathered at most (a hello with huge extensions, a long
/// chain); the sensor itself keeps less of each direction.
const MAX_HANDSHAKE: usize = 64 * 1024;
/// Largest legal record payload (2^14 plus expansion).
const MAX_RECORD: usize = 16384 + 2048;

const CONTENT_HANDSHAKE: u8 = 22;
const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_HELLO_DONE: u8 = 14;

/// A handshake record (type 22, version 3.x) starting with a ClientHello
/// or ServerHello, on any port.
fn probe(ctx: &Context, first: &[u8]) -> bool {
    ctx.carrier == Carrier::Tcp && looks_like_hello(first)
}

fn looks_like_hello(b: &[u8]) -> bool {
    matches!(b, [CONTENT_HANDSHAKE, 3, minor, ..] if *minor <= 4)
        && b.get(5)
            .is_none_or(|t| *t == HS_CLIENT_HELLO || *t == HS_SERVER_HELLO)
}

const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const CONTENT_ALERT: u8 = 21;

/// The handshake bytes of the records at the start of a direction, and
/// whether no more will come (a record of another type began: encryption
/// or a fatal alert). ChangeCipherSpec records are stepped over: a TLS 1.3
/// client sends one before its second ClientHello after a
/// HelloRetryRequest; so are warning alerts.
fn handshake_bytes(data: &[u8]) -> Result<(Vec<u8>, bool), ParseError> {
    let mut hs = Vec::new();
    let mut rest = data;
    loop {
        let [kind, major, _minor, len_hi, len_lo, ..] = *rest else {
            return Ok((hs, false));
        };
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
        // A warning alert (a server's unrecognized_name before its hello)
        // does not end the handshake either.
        let warning = kind == CONTENT_ALERT && rest.get(5) == Some(&1);
        if (kind == CONTENT_CHANGE_CIPHER_SPEC && !hs.is_empty()) || warning {
            match rest.get(5 + len..) {
                Some(next) => {
                    rest = next;
                    continue;
                }
                None => return Ok((hs, false)),
            }
        }
        if kind != CONTENT_HANDSHAKE {
            if hs.is_empty() {
                return Err(ParseError::Malformed("not a handshake record"));
            }
            return Ok((hs, true));
        }
        if major != 3 || len > MAX_RECORD {
            return Err(ParseError::Malformed("record header"));
        }
        let body = rest.get(5..).unwrap_or_default();
        let fragment = body.get(..len).unwrap_or(body);
        let room = MAX_HANDSHAKE.saturating_sub(hs.len());
        hs.extend_from_slice(fragment.get(..room).unwrap_or(fragment));
        if hs.len() >= MAX_HANDSHAKE {
            return Ok((hs, true));
        }
        match body.get(len..) {
            Some(next) => rest = next,
            None => return Ok((hs, false)),
        }
    }
}

/// One handshake message: (type, body, whole).
fn message(r: &mut hello::Reader) -> Option<(u8, Vec<u8>, bool)> {
    let kind = r.u8("handshake type").ok()?;
    let len = r.u24("handshake length").ok()?;
    match r.bytes(len, "handshake body") {
        Ok(body) => Some((kind, body.to_vec(), true)),
        Err(_) => {
            let partial = r.rest().to_vec();
            let _ = r.bytes(partial.len(), "handshake body");
            Some((kind, partial, false))
        }
    }
}

fn parse_stream(
    _knowledge: &Knowledge,
    _ctx: &Context,
    data: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let (hs, ended) = handshake_bytes(data)?;
    let complete = ended || last;
    let mut r = hello::Reader::new(&hs);
    let Some((kind, body, whole)) = message(&mut r) else {
        return if complete {
            Err(ParseError::Truncated("handshake header"))
        } else {
            Ok(Progress::NeedMore)
        };
    };
    if !whole {
        if hs.len() >= MAX_HANDSHAKE {
            return Err(ParseError::Limit("hello over 64 KiB"));
        }
        return if complete {
            Err(ParseError::Truncated("hello"))
        } else {
            Ok(Progress::NeedMore)
        };
    }
    match kind {
        HS_CLIENT_HELLO => {
            // The client's next flight tells whether a second ClientHello
            // (after a HelloRetryRequest) follows; each hello is reported.
            let second = match message(&mut r) {
                None if !complete => return Ok(Progress::NeedMore),
                Some((_, _, false)) if !complete => return Ok(Progress::NeedMore),
                Some((HS_CLIENT_HELLO, body, true)) => ClientHello::parse(&body).ok(),
                _ => None,
            };
            for hello in std::iter::once(ClientHello::parse(&body)?).chain(second) {
                out.push(client_hello(&hello, 't'));
            }
            Ok(Progress::Done)
        }
        HS_SERVER_HELLO => server(&body, &mut r, complete, out),
        _ => Err(ParseError::Malformed("first handshake message not a hello")),
    }
}

/// The ServerHello, then (before TLS 1.3) the messages up to the
/// Certificate.
fn server(
    body: &[u8],
    r: &mut hello::Reader,
    complete: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let (mut finding, encrypted) = server_hello(body)?;
    if !encrypted {
        loop {
            let Some((kind, body, whole)) = message(r) else {
                if !complete {
                    return Ok(Progress::NeedMore);
                }
                break;
            };
            if kind != HS_CERTIFICATE {
                if !whole && !complete {
                    return Ok(Progress::NeedMore);
                }
                if kind == HS_SERVER_HELLO || !whole {
                    break;
                }
                // ServerKeyExchange, ServerHelloDone ...: no certificate
                // (anonymous or PSK suites) once ServerHelloDone is seen.
                if kind == HS_SERVER_HELLO_DONE {
                    break;
                }
                continue;
            }
            if !whole && !complete {
                return Ok(Progress::NeedMore);
            }
            let chain = cert::chain(&body);
            cert::set_fields(&mut finding, &chain);
            break;
        }
    }
    out.push(finding);
    Ok(Progress::Done)
}

/// The `tls` finding of a ClientHello; `transport` is JA4's first letter.
pub(crate) fn client_hello(hello: &ClientHello, transport: char) -> Finding {
    let mut finding = Finding::new("tls", About::Sender);
    finding.set("version", hello::version_name(hello.max_version()));
    hello.set_fields(&mut finding, transport);
    finding
}

/// The `tls` finding of a ServerHello body (TLS or DTLS), and whether what
/// follows it is encrypted (TLS 1.3, DTLS 1.3).
pub(crate) fn server_hello(body: &[u8]) -> Result<(Finding, bool), ParseError> {
    let hello = ServerHello::parse(body)?;
    let mut finding = Finding::new("tls", About::Sender);
    finding.set("version", hello::version_name(hello.version()));
    let ja3s = hello.ja3s_string();
    finding.set("ja3s.hash", super::cursor::md5_hex(&ja3s));
    finding.set("ja3s.string", ja3s);
    finding.set(
        "cipher_suite",
        tls_parser::TlsCipherSuite::from_id(hello.cipher)
            .map_or_else(|| format!("0x{:04x}", hello.cipher), |c| c.name.to_string()),
    );
    if let Some(alpn) = &hello.alpn {
        finding.set("server_alpn", String::from_utf8_lossy(alpn).into_owned());
    }
    let v = hello.version();
    Ok((finding, v == 0x0304 || v >> 8 == 0x7f || v == 0xfefc))
}

#[cfg(test)]
pub(crate) mod tests;
