//! SSDP (UPnP discovery over HTTPU): NOTIFY, M-SEARCH and responses.
//!
//! A NOTIFY or a search response describes its sender (SERVER: OS and UPnP
//! stack, USN: its device UUID, LOCATION: where its description XML is); an
//! M-SEARCH tells what the sender looks for and its USER-AGENT.

use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError};

pub const PORT: u16 = 1900;

/// Headers read from one message.
const MAX_HEADERS: usize = 48;

pub const DISSECTORS: &[Dissector] = &[Dissector {
    name: "ssdp",
    probe,
    parse: Parse::Message(parse),
}];

/// Port 1900, or an HTTPU discovery line on another port (Plex's GDM, DIAL
/// helpers use the same requests).
fn probe(c: &Context, first: &[u8]) -> bool {
    c.carrier == Carrier::Udp
        && (c.either_port(&[PORT])
            || first.starts_with(b"M-SEARCH * HTTP/1.")
            || first.starts_with(b"NOTIFY * HTTP/1."))
}

fn parse(
    _: &Knowledge,
    _: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut f = Finding::new("ssdp", About::Sender);
    let parsed: &[httparse::Header] = if bytes.starts_with(b"HTTP/") {
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(bytes) {
            Ok(_) => {}
            Err(httparse::Error::TooManyHeaders) => return Err(ParseError::Limit("ssdp headers")),
            Err(_) => return Err(ParseError::Malformed("ssdp response")),
        }
        f.set("method", "RESPONSE");
        f.set("status", response.code);
        response.headers
    } else {
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(bytes) {
            Ok(_) => {}
            Err(httparse::Error::TooManyHeaders) => return Err(ParseError::Limit("ssdp headers")),
            Err(_) => return Err(ParseError::Malformed("ssdp request")),
        }
        let Some(method) = request.method else {
            return Err(ParseError::Truncated("ssdp request line"));
        };
        f.set("method", method);
        request.headers
    };
    // A message cut before its blank line still has whole header lines;
    // httparse leaves the slots it filled.
    for h in parsed.iter().filter(|h| !h.name.is_empty()) {
        let value = String::from_utf8_lossy(h.value).trim().to_string();
        if value.is_empty() {
            continue;
        }
        let key = match h.name.to_ascii_lowercase().as_str() {
            "server" => "server",
            "user-agent" => "user_agent",
            "nt" => "nt",
            "st" => "st",
            "nts" => "nts",
            "usn" => {
                f.set("uuid", uuid_of(&value));
                "usn"
            }
            "location" => "location",
            "x-user-agent" => "x_user_agent",
            "friendlyname.dial-multiscreen.org" => "friendly_name",
            _ => continue,
        };
        f.set(key, value);
    }
    out.push(f);
    Ok(())
}

/// The device UUID of a USN (`uuid:<id>::urn:...`).
fn uuid_of(usn: &str) -> Option<String> {
    let rest = usn
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("uuid:"))
        .and(usn.get(5..))?;
    let id = rest.split("::").next()?.trim();
    (!id.is_empty()).then(|| id.to_ascii_lowercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::testing::{capture, messages};

    /// Every SSDP header mirador keeps equals the header line tshark shows,
    /// and the method tshark's.
    #[test]
    fn headers_equal_tshark() {
        let knowledge = Knowledge::default();
        let mut compared = 0;
        for (path, frames) in [
            ("ndpi/ssdp-m-search-ua.pcap", 4),
            ("ndpi/anyconnect-vpn.pcap", 10),
        ] {
            let all = messages(path);
            let table = std::fs::read_to_string(capture(&format!(
                "tshark/ssdp_{}.tsv",
                path.replace('/', "_")
            )))
            .unwrap();
            let mut seen = 0;
            for line in table.lines() {
                let cols: Vec<&str> = line.split('\t').collect();
                let frame: usize = cols[0].parse().unwrap();
                let m = all.iter().find(|m| m.frame == frame).unwrap();
                assert!(probe(&m.context, &m.bytes));
                let mut out = Vec::new();
                parse(&knowledge, &m.context, &m.bytes, &mut out).unwrap();
                let f = &out[0];
                assert_eq!(f.about, About::Sender);
                if !cols[1].is_empty() {
                    assert_eq!(f.fields["method"], cols[1]);
                }
                let lines = cols[2..].join("\u{1f}");
                for header in lines.split(['\u{1f}']).flat_map(|l| l.split("\\r\\n")) {
                    let Some((name, value)) = header.split_once(':') else {
                        continue;
                    };
                    let key = match name.to_ascii_lowercase().as_str() {
                        "server" => "server",
                        "user-agent" => "user_agent",
                        "st" => "st",
                        "nt" => "nt",
                        "nts" => "nts",
                        "usn" => "usn",
                        "location" => "location",
                        _ => continue,
                    };
                    assert_eq!(f.fields[key], value.trim(), "{path} {frame}");
                    compared += 1;
                }
                seen += 1;
            }
            assert_eq!(seen, frames);
        }
        assert!(compared >= 20, "{compared}");
    }

    #[test]
    fn roku_response_and_plex_search() {
        let knowledge = Knowledge::default();
        let all = messages("ndpi/anyconnect-vpn.pcap");
        let m = all.iter().find(|m| m.frame == 411).unwrap();
        let mut out = Vec::new();
        parse(&knowledge, &m.context, &m.bytes, &mut out).unwrap();
        assert_eq!(out[0].fields["method"], "RESPONSE");
        assert_eq!(
            out[0].fields["uuid"],
            "295c0004-6807-106d-80cf-d831342077fb"
        );
        // Plex's discovery on port 32412: the request line only.
        let plex = messages("ndpi/ssdp-m-search.pcap");
        assert!(plex.iter().all(|m| probe(&m.context, &m.bytes)));
        out.clear();
        parse(&knowledge, &plex[0].context, &plex[0].bytes, &mut out).unwrap();
        assert_eq!(out[0].fields["method"], "M-SEARCH");
        // Truncations and garbage.
        for len in 0..m.bytes.len() {
            out.clear();
            let _ = parse(&knowledge, &m.context, &m.bytes[..len], &mut out);
        }
        assert!(parse(&knowledge, &m.context, b"\x00\xff garbage", &mut out).is_err());
    }
}
