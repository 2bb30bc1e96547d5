//! QUIC Initial packets (RFC 9000/9001, v2 RFC 9369), decrypted with the
//! public salt: the ClientHello inside, JA4 with the `q` prefix. Initial
//! keys derive from the client's connection id alone, so a passive sensor
//! reads the same hello it reads over TCP.

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use aes_gcm::Aes128Gcm;
use aes_gcm::aead::{Aead, Payload};
use hkdf::Hkdf;
use sha2::Sha256;

use super::tls::ClientHello;
use super::tls::hello::{Reader, version_name};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "quic",
    probe,
    parse: Parse::Stream(parse_stream),
}];

/// CRYPTO bytes gathered at most for one ClientHello.
const MAX_CRYPTO: usize = 64 * 1024;
/// Initial packets read at most per direction.
const MAX_PACKETS: usize = 64;

const V1: u32 = 0x0000_0001;
const V2: u32 = 0x6b33_43cf;

/// What differs between versions: the salt, the labels, and the type bits
/// of an Initial packet.
struct VersionParams {
    salt: [u8; 20],
    key: &'static [u8],
    iv: &'static [u8],
    hp: &'static [u8],
    initial_type: u8,
}

fn params(version: u32) -> Option<VersionParams> {
    const V1_LABELS: (&[u8], &[u8], &[u8]) = (b"quic key", b"quic iv", b"quic hp");
    let (salt, (key, iv, hp), initial_type) = match version {
        // RFC 9001 section 5.2 (drafts 33 and 34 already used it).
        V1 | 0xff00_0021 | 0xff00_0022 => (
            [
                0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8,
                0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
            ],
            V1_LABELS,
            0,
        ),
        // RFC 9369 section 3.3.
        V2 => (
            [
                0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26,
                0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
            ],
            (
                b"quicv2 key".as_slice(),
                b"quicv2 iv".as_slice(),
                b"quicv2 hp".as_slice(),
            ),
            1,
        ),
        // Drafts 29 to 32, still seen from older stacks.
        0xff00_001d..=0xff00_0020 => (
            [
                0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61,
                0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99,
            ],
            V1_LABELS,
            0,
        ),
        // Drafts 23 to 28, and Facebook's mvfst versions built on them.
        0xff00_0017..=0xff00_001c | 0xface_b002 | 0xface_b00e => (
            [
                0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4,
                0x63, 0x65, 0xbe, 0xf9, 0xf5, 0x02,
            ],
            V1_LABELS,
            0,
        ),
        // Draft 22, and mvfst's first version.
        0xff00_0016 | 0xface_b001 => (
            [
                0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51,
                0x9e, 0xbd, 0x7a, 0x02, 0x64, 0x4a,
            ],
            V1_LABELS,
            0,
        ),
        _ => return None,
    };
    Some(VersionParams {
        salt,
        key,
        iv,
        hp,
        initial_type,
    })
}

fn version_string(version: u32) -> String {
    match version {
        V1 => "1".to_string(),
        V2 => "2".to_string(),
        v => format!("{v:08x}"),
    }
}

/// A long-header Initial packet of a version whose keys are known, in a
/// datagram padded to the 1200 bytes clients must send; or a first packet
/// of a reserved version (0x?a?a?a?a, RFC 9000 section 15) sent to force
/// version negotiation before the real Initial.
fn probe(ctx: &Context, first: &[u8]) -> bool {
    ctx.carrier == Carrier::Udp
        && first.len() >= 1200
        && (initial_version(first).is_some() || forces_negotiation(first))
}

fn forces_negotiation(packet: &[u8]) -> bool {
    let [first, a, b, c, d, ..] = *packet else {
        return false;
    };
    first & 0x80 != 0 && u32::from_be_bytes([a, b, c, d]) & 0x0f0f_0f0f == 0x0a0a_0a0a
}

fn initial_version(packet: &[u8]) -> Option<u32> {
    let [first, a, b, c, d, ..] = *packet else {
        return None;
    };
    let version = u32::from_be_bytes([a, b, c, d]);
    let p = params(version)?;
    (first & 0xc0 == 0xc0 && (first >> 4) & 0x03 == p.initial_type).then_some(version)
}

/// A variable-length integer (RFC 9000 section 16).
fn varint(r: &mut Reader, what: &'static str) -> Result<u64, ParseError> {
    let first = r.u8(what)?;
    let extra = (1usize << (first >> 6)) - 1;
    let rest = r.bytes(extra, what)?;
    Ok(rest
        .iter()
        .fold(u64::from(first & 0x3f), |acc, b| (acc << 8) | u64::from(*b)))
}

/// HKDF-Expand-Label of TLS 1.3 with an empty context.
fn expand_label(secret: &[u8], label: &[u8], out: &mut [u8]) -> Result<(), ParseError> {
    let hk = Hkdf::<Sha256>::from_prk(secret).map_err(|_| ParseError::Malformed("secret"))?;
    let mut info = Vec::with_capacity(label.len() + 10);
    info.extend_from_slice(&(out.len() as u16).to_be_bytes());
    info.push((6 + label.len()) as u8);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label);
    info.push(0);
    hk.expand(&info, out)
        .map_err(|_| ParseError::Malformed("key length"))
}

/// The client's Initial keys for a destination connection id.
struct Keys {
    key: [u8; 16],
    iv: [u8; 12],
    hp: [u8; 16],
}

impl Keys {
    fn derive(p: &VersionParams, dcid: &[u8]) -> Result<Keys, ParseError> {
        let (initial, _) = Hkdf::<Sha256>::extract(Some(&p.salt), dcid);
        let mut client = [0u8; 32];
        expand_label(&initial, b"client in", &mut client)?;
        let mut keys = Keys {
            key: [0; 16],
            iv: [0; 12],
            hp: [0; 16],
        };
        expand_label(&client, p.key, &mut keys.key)?;
        expand_label(&client, p.iv, &mut keys.iv)?;
        expand_label(&client, p.hp, &mut keys.hp)?;
        Ok(keys)
    }
}

/// One decrypted Initial packet: its CRYPTO frames as (offset, data).
type CryptoFrames = Vec<(u64, Vec<u8>)>;

/// Reads the packets of a datagram; returns the CRYPTO frames of the client
/// Initial ones it can decrypt. `keys` are those of the first Initial seen
/// (RFC 9001 5.2: later Initials keep them though their DCID changes).
fn datagram(
    mut data: &[u8],
    keys: &mut Option<(u32, Keys)>,
    frames: &mut CryptoFrames,
) -> Result<(), ParseError> {
    while let Some(version) = initial_version(data) {
        let Some(p) = params(version) else { break };
        let mut r = Reader::new(data);
        r.bytes(5, "quic header")?;
        let dcid = r.vec8("quic dcid")?;
        if dcid.len() > 20 {
            return Err(ParseError::Malformed("quic dcid length"));
        }
        r.vec8("quic scid")?;
        let token_len = varint(&mut r, "quic token length")?;
        r.bytes(
            usize::try_from(token_len).unwrap_or(usize::MAX),
            "quic token",
        )?;
        let length = varint(&mut r, "quic length")?;
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        let pn_offset = data.len() - r.rest().len();
        let end = pn_offset
            .checked_add(length)
            .filter(|e| *e <= data.len())
            .ok_or(ParseError::Truncated("quic packet"))?;
        let packet = data
            .get(..end)
            .ok_or(ParseError::Truncated("quic packet"))?;
        if keys.as_ref().is_none_or(|(v, _)| *v != version) {
            *keys = Some((version, Keys::derive(&p, dcid)?));
        }
        let mut plain = keys
            .as_ref()
            .map(|(_, k)| decrypt(k, packet, pn_offset))
            .unwrap_or(Err(ParseError::Malformed("quic keys")));
        if plain.is_err() {
            // After a Retry the client's keys come from the new DCID.
            let retry_keys = Keys::derive(&p, dcid)?;
            plain = decrypt(&retry_keys, packet, pn_offset);
            if plain.is_ok() {
                *keys = Some((version, retry_keys));
            }
        }
        crypto_frames(&plain?, frames)?;
        data = data.get(end..).unwrap_or_default();
    }
    Ok(())
}

/// Removes header protection and opens the payload (RFC 9001 5.3, 5.4).
fn decrypt(keys: &Keys, packet: &[u8], pn_offset: usize) -> Result<Vec<u8>, ParseError> {
    let sample: [u8; 16] = packet
        .get(pn_offset + 4..pn_offset + 20)
        .and_then(|s| s.try_into().ok())
        .ok_or(ParseError::Truncated("quic sample"))?;
    let hp = Aes128::new_from_slice(&keys.hp).map_err(|_| ParseError::Malformed("hp key"))?;
    let mut mask = aes::Block::from(sample);
    hp.encrypt_block(&mut mask);
    let mut header = packet
        .get(..pn_offset + 4)
        .ok_or(ParseError::Truncated("quic packet number"))?
        .to_vec();
    let first = header
        .first_mut()
        .ok_or(ParseError::Truncated("quic header"))?;
    *first ^= mask[0] & 0x0f;
    let pn_len = usize::from(*first & 0x03) + 1;
    let mut pn: u64 = 0;
    for i in 0..pn_len {
        let byte = header
            .get_mut(pn_offset + i)
            .ok_or(ParseError::Truncated("quic packet number"))?;
        *byte ^= mask[1 + i];
        pn = (pn << 8) | u64::from(*byte);
    }
    header.truncate(pn_offset + pn_len);
    let mut nonce = keys.iv;
    for (n, p) in nonce.iter_mut().rev().zip(pn.to_be_bytes().iter().rev()) {
        *n ^= p;
    }
    let payload = packet
        .get(pn_offset + pn_len..)
        .ok_or(ParseError::Truncated("quic payload"))?;
    let aead = Aes128Gcm::new_from_slice(&keys.key).map_err(|_| ParseError::Malformed("key"))?;
    aead.decrypt(
        &aes_gcm::Nonce::from(nonce),
        Payload {
            msg: payload,
            aad: &header,
        },
    )
    .map_err(|_| ParseError::Malformed("quic initial does not decrypt"))
}

/// The CRYPTO frames of an Initial payload (which may also hold PADDING,
/// PING, ACK and CONNECTION_CLOSE, RFC 9000 17.2.2).
fn crypto_frames(payload: &[u8], frames: &mut CryptoFrames) -> Result<(), ParseError> {
    let mut r = Reader::new(payload);
    while !r.is_empty() {
        match varint(&mut r, "quic frame type")? {
            0x00 | 0x01 => {}
            kind @ (0x02 | 0x03) => {
                varint(&mut r, "ack")?;
                varint(&mut r, "ack delay")?;
                let ranges = varint(&mut r, "ack ranges")?;
                varint(&mut r, "ack range")?;
                for _ in 0..ranges.min(payload.len() as u64) {
                    varint(&mut r, "ack gap")?;
                    varint(&mut r, "ack range")?;
                }
                if kind == 0x03 {
                    for _ in 0..3 {
                        varint(&mut r, "ecn count")?;
                    }
                }
            }
            0x06 => {
                let offset = varint(&mut r, "crypto offset")?;
                let len = varint(&mut r, "crypto length")?;
                let data = r.bytes(usize::try_from(len).unwrap_or(usize::MAX), "crypto data")?;
                if offset.saturating_add(len) > MAX_CRYPTO as u64 {
                    return Err(ParseError::Limit("crypto stream over 64 KiB"));
                }
                frames.push((offset, data.to_vec()));
            }
            0x1c | 0x1d => break,
            _ => return Err(ParseError::Malformed("frame not allowed in initial")),
        }
    }
    Ok(())
}

/// The CRYPTO stream from offset 0, as far as it is contiguous.
fn reassemble(frames: &CryptoFrames) -> Vec<u8> {
    let mut stream: Vec<u8> = Vec::new();
    loop {
        let before = stream.len();
        for (offset, data) in frames {
            let Ok(start) = usize::try_from(*offset) else {
                continue;
            };
            let end = start.saturating_add(data.len());
            if start <= stream.len() && end > stream.len() {
                stream.extend_from_slice(data.get(stream.len() - start..).unwrap_or_default());
            }
        }
        if stream.len() == before {
            return stream;
        }
    }
}

fn parse_stream(
    _knowledge: &Knowledge,
    ctx: &Context,
    data: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    // The server's Initials are keyed on its own connection id choice;
    // its identity travels in the encrypted Handshake packets.
    if !ctx.to_server {
        return Ok(Progress::Done);
    }
    let mut keys = None;
    let mut frames = CryptoFrames::new();
    let mut version = None;
    let mut r = Reader::new(data);
    for _ in 0..MAX_PACKETS {
        let Ok(len) = r.u16("datagram length") else {
            break;
        };
        let Ok(datagram_bytes) = r.bytes(usize::from(len), "datagram") else {
            break;
        };
        version = version.or_else(|| initial_version(datagram_bytes));
        match datagram(datagram_bytes, &mut keys, &mut frames) {
            Ok(()) => {}
            // A datagram of the first flight that will not open is not a
            // QUIC client we can read.
            Err(e) if frames.is_empty() => return Err(e),
            Err(_) => {}
        }
        let stream = reassemble(&frames);
        let mut h = Reader::new(&stream);
        if let (Ok(1), Ok(len)) = (h.u8("handshake type"), h.u24("handshake length")) {
            if let Ok(body) = h.bytes(len, "client hello") {
                let hello = ClientHello::parse(body)?;
                // The handshake is TLS: its fields go where a TCP client's
                // do (JA3, JA4 with the `q` prefix, SNI), so a device's TLS
                // stacks are one set of evidence, with the QUIC version beside.
                let mut finding = Finding::new("tls", About::Sender);
                finding.set("quic.version", version.map(version_string));
                finding.set("version", version_name(hello.max_version()));
                hello.set_fields(&mut finding, 'q');
                out.push(finding);
                return Ok(Progress::Done);
            }
        } else if stream.len() >= 4 {
            return Err(ParseError::Malformed("crypto stream not a client hello"));
        }
    }
    if last {
        Err(ParseError::Truncated("client hello"))
    } else {
        Ok(Progress::NeedMore)
    }
}

#[cfg(test)]
mod tests;
