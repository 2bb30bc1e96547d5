//! Ethernet MAC addresses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Reads a MAC from the first six bytes of `bytes`, if there are six.
    pub fn from_slice(bytes: &[u8]) -> Option<MacAddr> {
        bytes.get(..6)?.try_into().ok().map(MacAddr)
    }

    /// The group bit (I/G): multicast and broadcast destinations.
    pub fn is_group(self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// A station address that can name one device: not group, not all-zero.
    pub fn is_unicast(self) -> bool {
        !self.is_group() && self != MacAddr::ZERO
    }

    /// The U/L bit: set by software (randomised "private" Wi-Fi MACs, VMs,
    /// containers), so the address says nothing about the hardware vendor.
    pub fn is_locally_administered(self) -> bool {
        self.0[0] & 0x02 != 0
    }

    /// The address as a 48-bit integer, most significant byte first.
    pub fn as_u64(self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error for a string that is not six hex octets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a MAC address (expected six hex octets such as 00:1a:2b:3c:4d:5e): {0:?}")]
pub struct ParseMacError(pub String);

impl FromStr for MacAddr {
    type Err = ParseMacError;

    /// Accepts `00:1a:2b:3c:4d:5e`, `00-1A-2B-3C-4D-5E` and `001a.2b3c.4d5e`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: Vec<u8> = s
            .bytes()
            .filter(|b| !matches!(b, b':' | b'-' | b'.'))
            .collect();
        let err = || ParseMacError(s.to_string());
        if hex.len() != 12 {
            return Err(err());
        }
        let mut mac = [0u8; 6];
        for (i, pair) in hex.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| err())?;
            mac[i] = u8::from_str_radix(text, 16).map_err(|_| err())?;
        }
        Ok(MacAddr(mac))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_notations() {
        let want = MacAddr([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]);
        for s in ["00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E", "001a.2b3c.4d5e"] {
            assert_eq!(s.parse::<MacAddr>(), Ok(want));
        }
        assert_eq!(want.to_string(), "00:1a:2b:3c:4d:5e");
        assert!("00:1a:2b".parse::<MacAddr>().is_err());
        assert!("zz:1a:2b:3c:4d:5e".parse::<MacAddr>().is_err());
    }

    #[test]
    fn classifies_address_kinds() {
        assert!(MacAddr::BROADCAST.is_group());
        assert!(!MacAddr::ZERO.is_unicast());
        let multicast: MacAddr = "01:00:5e:00:00:fb".parse().unwrap_or_default();
        assert!(multicast.is_group() && !multicast.is_unicast());
        let random: MacAddr = "da:a1:19:00:00:01".parse().unwrap_or_default();
        assert!(random.is_unicast() && random.is_locally_administered());
        let burned_in: MacAddr = "00:17:88:24:76:ff".parse().unwrap_or_default();
        assert!(burned_in.is_unicast() && !burned_in.is_locally_administered());
        assert_eq!(burned_in.as_u64(), 0x0017_8824_76ff);
    }
}
