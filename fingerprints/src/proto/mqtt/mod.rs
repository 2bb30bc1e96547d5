//! MQTT 3.1, 3.1.1 and 5: an IoT device's CONNECT names its client id
//! (often a serial number or MAC) and user, and its first PUBLISH topics
//! name the product (`homeassistant/...`, `tele/tasmota_...`). The password
//! is never read out, only its presence; a CONNECT with one is also a
//! `login` finding.

use super::login::{self, Attempts};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "mqtt",
    probe,
    parse: Parse::Stream(parse),
}];

/// Topics kept from the client's first PUBLISH packets.
const MAX_TOPICS: usize = 8;
/// Packets read after CONNECT while looking for topics.
const MAX_PACKETS: usize = 64;
const MAX_TEXT: usize = 512;

fn probe(context: &Context, bytes: &[u8]) -> bool {
    if context.carrier != Carrier::Tcp || bytes.first() != Some(&0x10) {
        return false;
    }
    // The protocol name follows a remaining length of one to four bytes.
    (2..=5).any(|at| {
        bytes
            .get(at..)
            .is_some_and(|r| r.starts_with(b"\x00\x04MQTT") || r.starts_with(b"\x00\x06MQIsdp"))
    })
}

/// The next control packet: (type and flags byte, body, rest); `None`
/// when more bytes are needed.
/// A control packet: its first byte, its body, and the bytes after it.
type Packet<'a> = (u8, &'a [u8], &'a [u8]);

fn packet(bytes: &[u8]) -> Result<Option<Packet<'_>>, ParseError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let mut len = 0usize;
    let mut at = 1;
    loop {
        let Some(&b) = bytes.get(at) else {
            return Ok(None);
        };
        len |= usize::from(b & 0x7f) << (7 * (at - 1));
        at += 1;
        if b & 0x80 == 0 {
            break;
        }
        if at > 4 {
            return Err(ParseError::Malformed("mqtt remaining length"));
        }
    }
    let Some(body) = bytes.get(at..at + len) else {
        return Ok(None);
    };
    Ok(Some((
        first,
        body,
        bytes.get(at + len..).unwrap_or_default(),
    )))
}

/// A cursor over a packet body.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ParseError> {
        let v = self.0.get(..n).ok_or(ParseError::Malformed(what))?;
        self.0 = self.0.get(n..).unwrap_or_default();
        Ok(v)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, ParseError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ParseError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([
            b.first().copied().unwrap_or_default(),
            b.get(1).copied().unwrap_or_default(),
        ]))
    }

    /// A two-byte-length-prefixed string or binary.
    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], ParseError> {
        let n = usize::from(self.u16(what)?);
        self.take(n, what)
    }

    fn string(&mut self, what: &'static str) -> Result<String, ParseError> {
        let b = self.bytes(what)?;
        let b = b.get(..MAX_TEXT).unwrap_or(b);
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    /// Skips MQTT 5 properties (a variable-byte length, then the bytes).
    fn skip_properties(&mut self) -> Result<(), ParseError> {
        let mut len = 0usize;
        for i in 0..4 {
            let b = self.u8("mqtt properties length")?;
            len |= usize::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.take(len, "mqtt properties")?;
                return Ok(());
            }
        }
        Err(ParseError::Malformed("mqtt properties length"))
    }
}

fn parse(
    knowledge: &Knowledge,
    context: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    let Some((first, body, rest)) = packet(bytes)? else {
        return if last {
            Err(ParseError::Truncated("mqtt packet"))
        } else {
            Ok(Progress::NeedMore)
        };
    };
    let mut f = Finding::new("mqtt", About::Sender);
    let mut attempts = Attempts::new(knowledge);
    match first {
        0x10 => {
            connect(body, &mut f, &mut attempts)?;
            let (topics, complete) = publish_topics(rest)?;
            if !complete && !last {
                return Ok(Progress::NeedMore);
            }
            if !topics.is_empty() {
                f.set("publish_topics", topics);
            }
        }
        0x20 if !context.to_server => {
            let mut b = Body(body);
            let flags = b.u8("mqtt connack")?;
            let code = b.u8("mqtt connack")?;
            f.set("connack.session_present", flags & 0x01 != 0);
            f.set("connack.return_code", code);
        }
        _ => return Err(ParseError::Malformed("mqtt first packet")),
    }
    out.push(f);
    out.extend(attempts.finding("mqtt"));
    Ok(Progress::Done)
}

fn connect(body: &[u8], f: &mut Finding, attempts: &mut Attempts<'_>) -> Result<(), ParseError> {
    let mut b = Body(body);
    let protocol = b.string("mqtt protocol name")?;
    if protocol != "MQTT" && protocol != "MQIsdp" {
        return Err(ParseError::Malformed("mqtt protocol name"));
    }
    let version = b.u8("mqtt protocol level")?;
    let flags = b.u8("mqtt connect flags")?;
    let keepalive = b.u16("mqtt keepalive")?;
    if version == 5 {
        b.skip_properties()?;
    }
    f.set("connect.protocol_string", protocol);
    f.set("connect.protocol_version", version);
    f.set("connect.flags.clean_session", flags & 0x02 != 0);
    f.set("connect.flags.will", flags & 0x04 != 0);
    f.set("connect.keepalive", keepalive);
    f.set("connect.client_id", b.string("mqtt client id")?);
    if flags & 0x04 != 0 {
        if version == 5 {
            b.skip_properties()?;
        }
        f.set("connect.will.topic", b.string("mqtt will topic")?);
        b.bytes("mqtt will message")?;
    }
    let username = if flags & 0x80 != 0 {
        Some(b.bytes("mqtt username")?)
    } else {
        None
    };
    let password_present = flags & 0x40 != 0;
    // The password is only compared with the username and looked up among
    // default credentials, never kept: a device whose password is its
    // username (often its serial or MAC) has a guessable credential, and
    // writing that username would write the password out.
    let password = if password_present {
        b.bytes("mqtt password").ok()
    } else {
        None
    };
    let password_is_username = password.is_some() && password == username;
    if let Some(password) = password {
        attempts.push(login::attempt(
            "connect",
            username.unwrap_or_default(),
            password,
        ));
    }
    match username {
        Some(_) if password_is_username => {
            f.set("connect.password_is_username", true);
        }
        Some(name) => {
            f.set(
                "connect.username",
                String::from_utf8_lossy(name.get(..MAX_TEXT).unwrap_or(name)).into_owned(),
            );
        }
        None => {}
    }
    f.set("connect.password_present", password_present);
    Ok(())
}

/// The distinct topics of the PUBLISH packets after CONNECT, and whether
/// the list is complete (enough topics or packets seen).
fn publish_topics(mut bytes: &[u8]) -> Result<(Vec<serde_json::Value>, bool), ParseError> {
    let mut topics: Vec<serde_json::Value> = Vec::new();
    for _ in 0..MAX_PACKETS {
        let Some((first, body, rest)) = packet(bytes)? else {
            return Ok((topics, false));
        };
        bytes = rest;
        if first >> 4 == 3 {
            let topic = Body(body).string("mqtt publish topic")?;
            // MQTT 5 may send an empty topic with a topic alias.
            if !topic.is_empty() && !topics.iter().any(|t| t == &topic) {
                topics.push(topic.into());
                if topics.len() == MAX_TOPICS {
                    return Ok((topics, true));
                }
            }
        }
    }
    Ok((topics, true))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
