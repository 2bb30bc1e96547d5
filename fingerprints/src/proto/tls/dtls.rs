//! DTLS (RFC 6347 1.0/1.2, RFC 9147 1.3) over UDP: the same ClientHello,
//! ServerHello and Certificate as TLS, in records with an epoch and a
//! sequence number, and handshake messages that may be split into
//! fragments over several datagrams. WebRTC (and so most video calls)
//! opens with STUN, then DTLS on the same ports, then SRTP; datagrams that
//! are not DTLS records are stepped over.

use std::collections::BTreeMap;

use super::{
    CONTENT_CHANGE_CIPHER_SPEC, CONTENT_HANDSHAKE, ClientHello, HS_CERTIFICATE, HS_CLIENT_HELLO,
    HS_SERVER_HELLO, HS_SERVER_HELLO_DONE, MAX_HANDSHAKE, cert, client_hello, server_hello,
};
use crate::proto::{Carrier, Context, Finding, Knowledge, ParseError, Progress};

const RECORD_HEADER: usize = 13;
const FRAGMENT_HEADER: usize = 12;
/// Handshake messages kept at most per direction.
const MAX_MESSAGES: usize = 16;
/// Datagrams read at most per direction before giving up on finding one.
const MAX_DATAGRAMS: usize = 256;

const HS_HELLO_VERIFY_REQUEST: u8 = 3;

/// Record versions: DTLS 1.0 (also the record version of a 1.2 or 1.3
/// hello), 1.2, 1.3, and OpenSSL's pre-RFC DTLS (0x0100).
fn dtls_version(v: u16) -> bool {
    matches!(v, 0xfeff | 0xfefd | 0xfefc | 0x0100)
}

/// A DTLS handshake record in epoch 0 starting with a ClientHello or
/// ServerHello fragment, on any UDP port.
pub(super) fn probe(ctx: &Context, first: &[u8]) -> bool {
    let Some(h) = record_header(first) else {
        return false;
    };
    ctx.carrier == Carrier::Udp
        && h.kind == CONTENT_HANDSHAKE
        && h.epoch == 0
        && h.len >= FRAGMENT_HEADER
        && matches!(
            first.get(RECORD_HEADER),
            Some(&HS_CLIENT_HELLO | &HS_SERVER_HELLO)
        )
}

struct RecordHeader {
    kind: u8,
    epoch: u16,
    len: usize,
}

/// A DTLSPlaintext header (type 20 to 25, a DTLS version). DTLS 1.3's
/// encrypted records use another header (first bits 001), RTP starts with
/// version bits 10 and STUN with 00: none of them pass.
fn record_header(b: &[u8]) -> Option<RecordHeader> {
    let [kind, v1, v2, e1, e2, _, _, _, _, _, _, l1, l2, ..] = *b else {
        return None;
    };
    ((20..=25).contains(&kind) && dtls_version(u16::from_be_bytes([v1, v2]))).then(|| {
        RecordHeader {
            kind,
            epoch: u16::from_be_bytes([e1, e2]),
            len: usize::from(u16::from_be_bytes([l1, l2])),
        }
    })
}

/// A handshake message being put together from its fragments.
struct Message {
    kind: u8,
    body: Vec<u8>,
    /// Which bytes of `body` arrived.
    have: Vec<bool>,
    missing: usize,
}

impl Message {
    fn complete(&self) -> bool {
        self.missing == 0
    }
}

/// The handshake messages of one direction by message_seq, and whether
/// the clear-text handshake is over (ChangeCipherSpec, an alert, or an
/// encrypted record came).
#[derive(Default)]
struct Handshake {
    messages: BTreeMap<u16, Message>,
    total: usize,
    ended: bool,
}

impl Handshake {
    fn read(data: &[u8]) -> Result<Handshake, ParseError> {
        let mut hs = Handshake::default();
        let mut rest = data;
        let mut datagrams = 0;
        while let [hi, lo, tail @ ..] = rest {
            if hs.ended || datagrams >= MAX_DATAGRAMS {
                break;
            }
            datagrams += 1;
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            let (Some(datagram), Some(next)) = (tail.get(..len), tail.get(len..)) else {
                break;
            };
            rest = next;
            hs.datagram(datagram)?;
        }
        Ok(hs)
    }

    /// The records of one datagram; a datagram that does not start with
    /// a DTLS record (STUN, RTP, DTLS 1.3 ciphertext) is stepped over.
    fn datagram(&mut self, mut d: &[u8]) -> Result<(), ParseError> {
        while let Some(h) = record_header(d) {
            let body = d.get(RECORD_HEADER..).unwrap_or_default();
            let record = body.get(..h.len).unwrap_or(body);
            d = body.get(h.len..).unwrap_or_default();
            if h.kind != CONTENT_HANDSHAKE || h.epoch != 0 {
                // ChangeCipherSpec, alert, application data, or the
                // encrypted Finished: nothing in clear follows.
                if h.kind == CONTENT_CHANGE_CIPHER_SPEC || h.epoch != 0 || !self.messages.is_empty()
                {
                    self.ended = true;
                    return Ok(());
                }
                continue;
            }
            // A bad fragment after good ones (a stray datagram) is dropped.
            if let Err(e) = self.fragments(record)
                && self.messages.is_empty()
            {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The handshake fragments of one record.
    fn fragments(&mut self, mut r: &[u8]) -> Result<(), ParseError> {
        while let &[
            kind,
            l1,
            l2,
            l3,
            s1,
            s2,
            o1,
            o2,
            o3,
            f1,
            f2,
            f3,
            ref tail @ ..,
        ] = r
        {
            let u24 = |a: u8, b: u8, c: u8| {
                (usize::from(a) << 16) | (usize::from(b) << 8) | usize::from(c)
            };
            let len = u24(l1, l2, l3);
            let seq = u16::from_be_bytes([s1, s2]);
            let offset = u24(o1, o2, o3);
            let frag_len = u24(f1, f2, f3);
            let fragment = tail.get(..frag_len).unwrap_or(tail);
            r = tail.get(frag_len..).unwrap_or_default();
            if offset.checked_add(frag_len).is_none_or(|end| end > len) {
                return Err(ParseError::Malformed(
                    "handshake fragment beyond its message",
                ));
            }
            self.add(kind, len, seq, offset, fragment)?;
        }
        Ok(())
    }

    fn add(
        &mut self,
        kind: u8,
        len: usize,
        seq: u16,
        offset: usize,
        fragment: &[u8],
    ) -> Result<(), ParseError> {
        if !self.messages.contains_key(&seq) {
            if self.messages.len() >= MAX_MESSAGES {
                return Ok(());
            }
            if self.total.saturating_add(len) > MAX_HANDSHAKE {
                return Err(ParseError::Limit("handshake over 64 KiB"));
            }
            self.total += len;
            self.messages.insert(
                seq,
                Message {
                    kind,
                    body: vec![0; len],
                    have: vec![false; len],
                    missing: len,
                },
            );
        }
        let Some(m) = self.messages.get_mut(&seq) else {
            return Ok(());
        };
        if m.kind != kind || m.body.len() != len {
            return Err(ParseError::Malformed("handshake fragments disagree"));
        }
        for (i, &byte) in fragment.iter().enumerate() {
            let at = offset.saturating_add(i);
            if let (Some(slot), Some(have)) = (m.body.get_mut(at), m.have.get_mut(at))
                && !*have
            {
                *slot = byte;
                *have = true;
                m.missing = m.missing.saturating_sub(1);
            }
        }
        Ok(())
    }
}

pub(super) fn parse_stream(
    _knowledge: &Knowledge,
    _ctx: &Context,
    data: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let hs = Handshake::read(data)?;
    let complete = hs.ended || last;
    let messages: Vec<&Message> = hs.messages.values().collect();
    if messages.iter().any(|m| m.kind == HS_CLIENT_HELLO) {
        client(&messages, complete, out)
    } else if messages
        .iter()
        .any(|m| matches!(m.kind, HS_SERVER_HELLO | HS_HELLO_VERIFY_REQUEST))
    {
        server(&messages, complete, out)
    } else if complete {
        Err(ParseError::Malformed("no DTLS hello"))
    } else {
        Ok(Progress::NeedMore)
    }
}

/// The client's hello: the one carrying the server's cookie when the
/// server asked for one (HelloVerifyRequest), else the first. Over DTLS
/// 1.0/1.2 the second hello repeats the first with the cookie added.
fn client(
    messages: &[&Message],
    complete: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let hellos: Vec<&Message> = messages
        .iter()
        .copied()
        .filter(|m| m.kind == HS_CLIENT_HELLO)
        .collect();
    let parsed: Vec<ClientHello> = hellos
        .iter()
        .filter(|m| m.complete())
        .filter_map(|m| ClientHello::parse_with(&m.body, true).ok())
        .collect();
    let with_cookie = parsed.iter().find(|h| !h.cookie.is_empty());
    // A later flight (Certificate, ClientKeyExchange) means no other hello
    // is coming.
    let moved_on = messages.iter().any(|m| m.kind != HS_CLIENT_HELLO);
    if with_cookie.is_none() && !complete && !moved_on {
        return Ok(Progress::NeedMore);
    }
    let hello = match with_cookie.or(parsed.first()) {
        Some(hello) => hello,
        None => {
            // Report why the hello gave nothing.
            return match hellos.iter().find(|m| m.complete()) {
                Some(m) => ClientHello::parse_with(&m.body, true).map(|_| Progress::Done),
                None if complete || moved_on => Err(ParseError::Truncated("client hello")),
                None => Ok(Progress::NeedMore),
            };
        }
    };
    let mut finding = client_hello(hello, 'd');
    finding.set("dtls", true);
    out.push(finding);
    Ok(Progress::Done)
}

/// The ServerHello, then (before DTLS 1.3) the Certificate.
fn server(
    messages: &[&Message],
    complete: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let Some(pos) = messages.iter().position(|m| m.kind == HS_SERVER_HELLO) else {
        // Only a HelloVerifyRequest so far: the ServerHello follows the
        // client's second hello.
        return if complete {
            Err(ParseError::Truncated(
                "no server hello after hello verify request",
            ))
        } else {
            Ok(Progress::NeedMore)
        };
    };
    let hello = messages.get(pos).copied();
    let Some(hello) = hello.filter(|m| m.complete()) else {
        return if complete {
            Err(ParseError::Truncated("server hello"))
        } else {
            Ok(Progress::NeedMore)
        };
    };
    let (mut finding, encrypted) = server_hello(&hello.body)?;
    finding.set("dtls", true);
    if !encrypted {
        let after = messages.get(pos + 1..).unwrap_or_default();
        match after.iter().find(|m| m.kind == HS_CERTIFICATE) {
            Some(c) if c.complete() => {
                cert::set_fields(&mut finding, &cert::chain(&c.body));
            }
            Some(_) if !complete => return Ok(Progress::NeedMore),
            // Anonymous or PSK suites send no certificate before
            // ServerHelloDone.
            None if !complete && !after.iter().any(|m| m.kind == HS_SERVER_HELLO_DONE) => {
                return Ok(Progress::NeedMore);
            }
            _ => {}
        }
    }
    out.push(finding);
    Ok(Progress::Done)
}

#[cfg(test)]
#[path = "dtls_tests.rs"]
mod tests;
