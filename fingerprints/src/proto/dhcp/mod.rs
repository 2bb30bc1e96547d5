//! DHCPv4 (RFC 2131 over the BOOTP layout of RFC 951, options of RFC 2132).
//!
//! Options are kept in wire order: the order of the parameter request list
//! and of the options themselves is what fingerprints a client's DHCP stack.

use std::net::Ipv4Addr;

use crate::mac::MacAddr;
use crate::proto::cursor::{colon_hex, nul_trimmed_text};

/// UDP ports: server, client.
pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;

const FIXED_LEN: usize = 236;
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];

/// Option codes used by mirador.
pub mod option {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const REQUESTED_IP: u8 = 50;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const END: u8 = 255;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    #[error("message of {0} bytes is shorter than the 240-byte BOOTP header and cookie")]
    Truncated(usize),
    #[error("no DHCP magic cookie (plain BOOTP or not DHCP)")]
    NoMagicCookie,
    #[error("option {code} at offset {offset} runs past the end of the message")]
    OptionOverrun { code: u8, offset: usize },
}

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
    Other(u8),
}

impl MessageType {
    pub fn from_code(code: u8) -> MessageType {
        match code {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            other => MessageType::Other(other),
        }
    }
}

/// A DHCP message borrowed from the UDP payload.
#[derive(Debug, Clone, Copy)]
pub struct DhcpMessage<'a> {
    bytes: &'a [u8],
}

/// One option as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpOption<'a> {
    pub code: u8,
    pub data: &'a [u8],
}

impl<'a> DhcpMessage<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<DhcpMessage<'a>, DhcpError> {
        if bytes.len() < FIXED_LEN + MAGIC_COOKIE.len() {
            return Err(DhcpError::Truncated(bytes.len()));
        }
        if bytes[FIXED_LEN..FIXED_LEN + 4] != MAGIC_COOKIE {
            return Err(DhcpError::NoMagicCookie);
        }
        Ok(DhcpMessage { bytes })
    }

    /// 1 = request (client to server), 2 = reply.
    pub fn op(&self) -> u8 {
        self.bytes[0]
    }

    pub fn xid(&self) -> u32 {
        u32::from_be_bytes([self.bytes[4], self.bytes[5], self.bytes[6], self.bytes[7]])
    }

    fn ipv4_at(&self, at: usize) -> Ipv4Addr {
        Ipv4Addr::new(
            self.bytes[at],
            self.bytes[at + 1],
            self.bytes[at + 2],
            self.bytes[at + 3],
        )
    }

    /// The client's current address (`ciaddr`).
    pub fn client_ip(&self) -> Ipv4Addr {
        self.ipv4_at(12)
    }

    /// The address the server assigns (`yiaddr`).
    pub fn your_ip(&self) -> Ipv4Addr {
        self.ipv4_at(16)
    }

    /// The relay agent's address (`giaddr`), set when the client is on another segment.
    pub fn relay_ip(&self) -> Ipv4Addr {
        self.ipv4_at(24)
    }

    /// The client hardware address when it is an Ethernet MAC.
    pub fn client_mac(&self) -> Option<MacAddr> {
        let (htype, hlen) = (self.bytes[1], self.bytes[2]);
        if htype == 1 && hlen == 6 {
            MacAddr::from_slice(&self.bytes[28..34])
        } else {
            None
        }
    }

    /// Options in wire order. Iteration stops at the END option; a malformed
    /// option yields one error and ends the iteration.
    pub fn options(&self) -> DhcpOptions<'a> {
        DhcpOptions {
            bytes: self.bytes,
            at: FIXED_LEN + MAGIC_COOKIE.len(),
        }
    }

    /// The first option with this code, if well-formed.
    pub fn option(&self, code: u8) -> Option<&'a [u8]> {
        self.options()
            .map_while(Result::ok)
            .find(|o| o.code == code)
            .map(|o| o.data)
    }

    pub fn message_type(&self) -> Option<MessageType> {
        match self.option(option::MESSAGE_TYPE)? {
            [code] => Some(MessageType::from_code(*code)),
            _ => None,
        }
    }

    /// The first IPv4 address carried by an address-valued option.
    pub fn option_ipv4(&self, code: u8) -> Option<Ipv4Addr> {
        let data = self.option(code)?;
        let octets: [u8; 4] = data.get(..4)?.try_into().ok()?;
        Some(Ipv4Addr::from(octets))
    }
}

/// Iterator over the options of a message, in wire order.
#[derive(Debug, Clone)]
pub struct DhcpOptions<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Iterator for DhcpOptions<'a> {
    type Item = Result<DhcpOption<'a>, DhcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let code = *self.bytes.get(self.at)?;
            match code {
                option::PAD => self.at += 1,
                option::END => {
                    self.at = self.bytes.len();
                    return None;
                }
                _ => {
                    let offset = self.at;
                    let overrun = DhcpError::OptionOverrun { code, offset };
                    let Some(&len) = self.bytes.get(offset + 1) else {
                        self.at = self.bytes.len();
                        return Some(Err(overrun));
                    };
                    let start = offset + 2;
                    let end = start + usize::from(len);
                    let Some(data) = self.bytes.get(start..end) else {
                        self.at = self.bytes.len();
                        return Some(Err(overrun));
                    };
                    self.at = end;
                    return Some(Ok(DhcpOption { code, data }));
                }
            }
        }
    }
}

/// DHCP messages become `dhcp` events: a client's about its hardware
/// address, a server's about itself plus, for the address it hands out,
/// about the client.
pub const DISSECTORS: &[super::Dissector] = &[super::Dissector {
    name: "dhcp",
    probe,
    parse: super::Parse::Message(parse_message),
}];

fn probe(context: &super::Context, _first: &[u8]) -> bool {
    context.carrier == super::Carrier::Udp && context.either_port(&[SERVER_PORT, CLIENT_PORT])
}

impl From<DhcpError> for super::ParseError {
    fn from(e: DhcpError) -> super::ParseError {
        match e {
            DhcpError::Truncated(_) => super::ParseError::Truncated("dhcp header"),
            DhcpError::NoMagicCookie => super::ParseError::Malformed("dhcp magic cookie"),
            DhcpError::OptionOverrun { .. } => super::ParseError::Truncated("dhcp option"),
        }
    }
}

impl MessageType {
    /// The name Suricata gives it in `dhcp.dhcp_type`.
    pub fn name(self) -> &'static str {
        match self {
            MessageType::Discover => "discover",
            MessageType::Offer => "offer",
            MessageType::Request => "request",
            MessageType::Decline => "decline",
            MessageType::Ack => "ack",
            MessageType::Nak => "nak",
            MessageType::Release => "release",
            MessageType::Inform => "inform",
            MessageType::Other(_) => "unknown",
        }
    }
}

fn ipv4_list(data: &[u8]) -> Vec<String> {
    data.chunks_exact(4)
        .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]).to_string())
        .collect()
}

fn non_zero(ip: Ipv4Addr) -> Option<String> {
    (!ip.is_unspecified()).then(|| ip.to_string())
}

/// User class (RFC 3004): length-prefixed instances; many clients send one
/// bare string instead.
fn user_class(data: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        match tail.get(..usize::from(len)) {
            Some(part) if len > 0 => {
                parts.push(nul_trimmed_text(part));
                rest = tail.get(usize::from(len)..).unwrap_or_default();
            }
            _ => return nul_trimmed_text(data),
        }
    }
    parts.join(",")
}

fn parse_message(
    _knowledge: &super::Knowledge,
    context: &super::Context,
    bytes: &[u8],
    out: &mut Vec<super::Finding>,
) -> Result<(), super::ParseError> {
    use super::{About, Finding};
    let m = DhcpMessage::parse(bytes)?;
    // A broken option ends the list; what came before it still counts.
    let options: Vec<DhcpOption> = m.options().map_while(Result::ok).collect();
    let reply = m.op() == 2;
    let chaddr = m.client_mac();
    let mut client = Finding::new("dhcp", chaddr.map_or(About::Sender, About::Mac));
    let mut server = Finding::new("dhcp", About::Sender);
    let kind = if reply { "reply" } else { "request" };
    let dhcp_type = m.message_type().map(MessageType::name);
    for f in [&mut client, &mut server] {
        f.set("type", kind);
        f.set("id", m.xid());
        f.set("dhcp_type", dhcp_type);
    }
    client.set("client_mac", chaddr.map(|m| m.to_string()));
    client.set("client_ip", non_zero(m.client_ip()));
    if reply {
        client.set("assigned_ip", non_zero(m.your_ip()));
    }
    client.set("relay_ip", non_zero(m.relay_ip()));
    let order: Vec<u8> = options.iter().map(|o| o.code).collect();
    // In a reply every option is the server's; in a request the client's.
    let own = if reply { &mut server } else { &mut client };
    own.set("option_order", order);
    for o in &options {
        let d = o.data;
        match o.code {
            12 => {
                client.set("hostname", nul_trimmed_text(d));
            }
            81 => {
                // Flags, two obsolete RCODE bytes, then the name (RFC 4702).
                let wire = d.first().is_some_and(|flags| flags & 0x04 != 0);
                client.set("fqdn", d.get(3..).map(|name| fqdn_text(name, wire)));
            }
            50 => {
                client.set("requested_ip", ipv4_list(d).into_iter().next());
            }
            61 => {
                client.set("client_id", colon_hex(d, false));
            }
            // A client's class (RFC 2132 9.13). A server that sends one
            // echoes the class it answers (`ArubaAP` to Aruba access
            // points, `PXEClient` to network boot): it says nothing about
            // the server, nor surely about this client.
            60 if reply => {
                server.set("echoed_vendor_class", nul_trimmed_text(d));
            }
            60 => {
                client.set("vendor_class_identifier", nul_trimmed_text(d));
            }
            55 => {
                let own = if reply { &mut server } else { &mut client };
                own.set("params", d.to_vec());
                own.set(
                    "fingerprint",
                    d.iter().map(u8::to_string).collect::<Vec<_>>().join(","),
                );
            }
            57 => {
                if let Ok(size) = <[u8; 2]>::try_from(d) {
                    client.set("max_msg_size", u16::from_be_bytes(size));
                }
            }
            77 => {
                client.set("user_class", user_class(d));
            }
            54 if reply => {
                server.set("server_id", ipv4_list(d).into_iter().next());
            }
            3 if reply => {
                server.set("routers", ipv4_list(d));
            }
            6 if reply => {
                server.set("dns_servers", ipv4_list(d));
            }
            1 if reply => {
                server.set("subnet_mask", ipv4_list(d).into_iter().next());
            }
            51 if reply => {
                if let Ok(secs) = <[u8; 4]>::try_from(d) {
                    server.set("lease_time", u32::from_be_bytes(secs));
                }
            }
            _ => {}
        }
    }
    let _ = context;
    if reply {
        out.push(server);
        // Without a hardware address the client facts have no subject.
        if chaddr.is_some() {
            out.push(client);
        }
    } else {
        out.push(client);
    }
    Ok(())
}

/// Option 81's name: DNS wire format when the E flag is set, else ASCII.
fn fqdn_text(name: &[u8], wire: bool) -> String {
    if !wire {
        return nul_trimmed_text(name);
    }
    let mut labels = Vec::new();
    let mut rest = name;
    while let Some((&len, tail)) = rest.split_first() {
        if len == 0 {
            return labels.join(".");
        }
        match tail.get(..usize::from(len)) {
            Some(label) if len < 64 => {
                labels.push(nul_trimmed_text(label));
                rest = tail.get(usize::from(len)..).unwrap_or_default();
            }
            _ => return nul_trimmed_text(name),
        }
    }
    if labels.is_empty() {
        nul_trimmed_text(name)
    } else {
        labels.join(".")
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn message(options: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; FIXED_LEN];
        m[0] = 2;
        m[1] = 1;
        m[2] = 6;
        m[16..20].copy_from_slice(&[192, 168, 1, 23]);
        m[28..34].copy_from_slice(&[0x00, 0x17, 0x88, 0x24, 0x76, 0xff]);
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(options);
        m
    }

    #[test]
    fn reads_header_and_options_in_wire_order() {
        let bytes = message(&[
            53, 1, 5, 0, 54, 4, 192, 168, 1, 1, 3, 4, 192, 168, 1, 254, 255, 9,
        ]);
        let m = DhcpMessage::parse(&bytes).expect("valid message");
        assert_eq!(m.op(), 2);
        assert_eq!(m.your_ip(), Ipv4Addr::new(192, 168, 1, 23));
        assert_eq!(
            m.client_mac().map(|m| m.to_string()).as_deref(),
            Some("00:17:88:24:76:ff")
        );
        assert_eq!(m.message_type(), Some(MessageType::Ack));
        assert_eq!(
            m.option_ipv4(option::ROUTER),
            Some(Ipv4Addr::new(192, 168, 1, 254))
        );
        let codes: Vec<u8> = m.options().map_while(Result::ok).map(|o| o.code).collect();
        assert_eq!(codes, [53, 54, 3]);
    }

    #[test]
    fn hostile_lengths_are_errors_not_panics() {
        assert_eq!(
            DhcpMessage::parse(&[0; 10]).err(),
            Some(DhcpError::Truncated(10))
        );
        let mut no_cookie = message(&[]);
        no_cookie[FIXED_LEN] = 0;
        assert_eq!(
            DhcpMessage::parse(&no_cookie).err(),
            Some(DhcpError::NoMagicCookie)
        );
        let bytes = message(&[53, 1, 3, 12, 200, b'a']);
        let m = DhcpMessage::parse(&bytes).expect("header is valid");
        let items: Vec<_> = m.options().collect();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[1],
            Err(DhcpError::OptionOverrun {
                code: 12,
                offset: 243
            })
        );
        let bytes = message(&[53]);
        let m = DhcpMessage::parse(&bytes).expect("header is valid");
        assert_eq!(m.message_type(), None);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod dissector_tests {
    use super::*;
    use crate::proto::{About, Finding, Knowledge};
    use crate::testing::messages;

    fn findings(capture: &str) -> Vec<(crate::testing::Message, Vec<Finding>)> {
        let knowledge = Knowledge::default();
        messages(capture)
            .into_iter()
            .filter(|m| (DISSECTORS[0].probe)(&m.context, &m.bytes))
            .map(|m| {
                let mut out = Vec::new();
                let crate::proto::Parse::Message(parse) = DISSECTORS[0].parse else {
                    panic!("message parser")
                };
                parse(&knowledge, &m.context, &m.bytes, &mut out).expect("parses");
                (m, out)
            })
            .collect()
    }

    /// `[Name: value]` of an nDPI flow line.
    fn ndpi_field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
        let start = line.find(&format!("[{name}: "))? + name.len() + 3;
        let len = line[start..].find(']')?;
        Some(&line[start..start + len])
    }

    /// The DHCP fingerprint (option 55), class id (60) and host name (12)
    /// of every client nDPI reports equal nDPI's.
    #[test]
    fn fingerprint_class_and_hostname_equal_ndpi() {
        let mut compared = 0;
        for capture in [
            "ndpi/whatsapp_login_chat.pcap",
            "ndpi/fuzz-2006-06-26-2594.pcap",
            "ndpi/android.pcap",
        ] {
            let expected = std::fs::read_to_string(crate::testing::capture(&format!(
                "ndpi/result/{}.out",
                capture.trim_start_matches("ndpi/")
            )))
            .unwrap();
            let all = findings(capture);
            for line in expected.lines().filter(|l| l.contains("DHCP Fingerprint")) {
                let client = line.split_whitespace().nth(2).unwrap();
                let (ip, port) = client.rsplit_once(':').unwrap();
                let ours = all
                    .iter()
                    .filter(|(m, _)| {
                        m.src_ip.unwrap().to_string() == ip
                            && m.context.src_port.to_string() == port
                    })
                    .flat_map(|(_, f)| f)
                    .find(|f| f.fields.contains_key("fingerprint"))
                    .unwrap_or_else(|| panic!("{capture}: no fingerprint for {client}"));
                assert_eq!(
                    ours.fields["fingerprint"],
                    ndpi_field(line, "DHCP Fingerprint").unwrap(),
                    "{capture}"
                );
                assert_eq!(
                    ours.fields
                        .get("vendor_class_identifier")
                        .and_then(|v| v.as_str()),
                    ndpi_field(line, "DHCP Class Ident"),
                    "{capture}"
                );
                // nDPI prints host names lowercased.
                assert_eq!(
                    ours.fields
                        .get("hostname")
                        .and_then(|v| v.as_str())
                        .map(str::to_lowercase)
                        .as_deref(),
                    ndpi_field(line, "Hostname/SNI"),
                    "{capture}"
                );
                assert!(matches!(ours.about, About::Mac(_)));
                compared += 1;
            }
        }
        assert_eq!(compared, 3);
    }

    /// Zeek's dhcp.pcap: a VMware DHCP server answers with option 60
    /// `ArubaAP` (tshark, frames 2 and 6); the server is no access point.
    #[test]
    fn a_vendor_class_in_a_reply_is_an_echo_not_the_servers() {
        let all = findings("zeek/dhcp.pcap");
        let replies: Vec<&Finding> = all
            .iter()
            .filter(|(m, _)| m.frame == 2 || m.frame == 6)
            .flat_map(|(_, f)| f)
            .collect();
        assert_eq!(replies.len(), 4, "a server and a client finding per reply");
        for f in replies {
            assert!(!f.fields.contains_key("vendor_class_identifier"), "{f:?}");
            if f.about == About::Sender {
                assert_eq!(f.fields["echoed_vendor_class"], "ArubaAP");
            }
        }
    }

    /// The ACK of fuzz-2006-06-26-2594.pcap as tshark decodes it (frame 485:
    /// yiaddr 192.168.1.2 for 00:e0:ed:01:6e:bd, server and router
    /// 192.168.1.1).
    #[test]
    fn server_reply_splits_server_and_client_facts() {
        let all = findings("ndpi/fuzz-2006-06-26-2594.pcap");
        let (_, ack) = all.iter().find(|(m, _)| m.frame == 485).unwrap();
        assert_eq!(ack.len(), 2);
        let server = &ack[0];
        assert_eq!(server.about, About::Sender);
        assert_eq!(server.fields["dhcp_type"], "ack");
        assert_eq!(server.fields["type"], "reply");
        assert_eq!(server.fields["server_id"], "192.168.1.1");
        assert_eq!(server.fields["routers"], serde_json::json!(["192.168.1.1"]));
        assert!(!server.fields.contains_key("assigned_ip"));
        let client = &ack[1];
        let mac: MacAddr = MacAddr([0x00, 0xe0, 0xed, 0x01, 0x6e, 0xbd]);
        assert_eq!(client.about, About::Mac(mac));
        assert_eq!(client.fields["assigned_ip"], "192.168.1.2");
        assert_eq!(client.fields["client_mac"], "00:e0:ed:01:6e:bd");
    }

    #[test]
    fn garbage_is_an_error_and_truncated_options_keep_what_came_before() {
        let knowledge = Knowledge::default();
        let all = messages("ndpi/fuzz-2006-06-26-2594.pcap");
        let request = all.iter().find(|m| m.frame == 484).unwrap();
        let mut out = Vec::new();
        for len in 0..request.bytes.len() {
            out.clear();
            let r = parse_message(
                &knowledge,
                &request.context,
                &request.bytes[..len],
                &mut out,
            );
            assert_eq!(r.is_err(), len < 240, "{len}");
        }
        let mut bytes = request.bytes.clone();
        for b in bytes.iter_mut().skip(240) {
            *b = 0xfe;
        }
        out.clear();
        parse_message(&knowledge, &request.context, &bytes, &mut out).unwrap();
        assert!(!out[0].fields.contains_key("hostname"));
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod suricata_verify_tests;
