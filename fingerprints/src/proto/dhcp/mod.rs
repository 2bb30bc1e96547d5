//! DHCPv4 (RFC 2131 over the BOOTP layout of RFC 951, options of RFC 2132).
//!
//! Options are kept in wire order: the order of the parameter request list
//! and of the options themselves is what fingerprints a client's DHCP stack.

use std::net::Ipv4Addr;

use crate::mac::MacAddr;

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

/// DHCP events and evidence (filled by the identity-evidence work).
pub const DISSECTORS: &[super::Dissector] = &[];

#[cfg(test)]
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
