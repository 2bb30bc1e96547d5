//! Rewriting an Ethernet frame's addresses so that one capture, replayed
//! once per synthetic site, looks like the traffic of many sites.
//!
//! For site `s`:
//!
//! - every unicast MAC keeps its OUI and has its lower three bytes XORed
//!   with a per-site value (group, broadcast and all-zero MACs stay);
//! - every IPv4 address in a private, CGNAT or link-local range (10/8,
//!   172.16/12, 192.168/16, 100.64/10, 169.254/16) moves into 10/8: each
//!   (site, original /24) gets its own 10.X.Y.0/24, allocated in order of
//!   first use, and the host byte stays. Sites never share a block until
//!   the 65,536 blocks of 10/8 run out ([`SiteRewriter::blocks_exhausted`]);
//! - IPv6 unique-local addresses have their 40-bit global ID XORed with a
//!   per-site value, link-local ones the lower 24 bits of their interface
//!   identifier with the MAC value (so EUI-64 addresses follow their MAC);
//! - public and multicast addresses stay as they are.
//!
//! Addresses are rewritten where they are found: the Ethernet header, ARP
//! (sender and target, hardware and protocol), the IPv4 or IPv6 header
//! (after any VLAN tags), DHCP (the BOOTP address fields, the client
//! hardware address and the address options) and NDP (target addresses and
//! link-layer address options). Inner packets of tunnels and addresses
//! elsewhere in payloads stay. Checksums are not fixed.

use std::collections::HashMap;

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

/// Where an address sits in a frame, by byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Mac(usize),
    V4(usize),
    V6(usize),
}

/// Blocks of 256 addresses in 10/8.
const V4_BLOCKS: u32 = 1 << 16;

/// Rewrites frames for synthetic sites; remembers the IPv4 blocks it gave out.
#[derive(Debug, Default)]
pub struct SiteRewriter {
    blocks: HashMap<(u32, [u8; 3]), u16>,
    next_block: u32,
    /// More (site, /24) pairs were seen than 10/8 has blocks: some sites
    /// share addresses.
    pub blocks_exhausted: bool,
    fields: Vec<Field>,
}

impl SiteRewriter {
    pub fn new() -> SiteRewriter {
        SiteRewriter::default()
    }

    /// The 10.X.Y.0/24 blocks handed out so far.
    pub fn blocks_used(&self) -> usize {
        self.blocks.len()
    }

    /// Rewrites an Ethernet frame (starting with its Ethernet header) in
    /// place for `site`.
    pub fn rewrite(&mut self, frame: &mut [u8], site: u32) {
        let mut fields = std::mem::take(&mut self.fields);
        fields.clear();
        locate(frame, &mut fields);
        let mac = mac_salt(site);
        for &field in &fields {
            match field {
                Field::Mac(at) => {
                    if let Some(m) = frame.get_mut(at..at + 6) {
                        salt_mac(m, mac);
                    }
                }
                Field::V4(at) => {
                    if let Some(a) = frame.get_mut(at..at + 4) {
                        let old = [a[0], a[1], a[2], a[3]];
                        if is_private_v4(old) {
                            a.copy_from_slice(&self.map_v4(site, old));
                        }
                    }
                }
                Field::V6(at) => {
                    if let Some(a) = frame.get_mut(at..at + 16) {
                        salt_v6(a, site);
                    }
                }
            }
        }
        self.fields = fields;
    }

    fn map_v4(&mut self, site: u32, a: [u8; 4]) -> [u8; 4] {
        let next = &mut self.next_block;
        let block = *self
            .blocks
            .entry((site, [a[0], a[1], a[2]]))
            .or_insert_with(|| {
                let b = (*next % V4_BLOCKS) as u16;
                *next += 1;
                b
            });
        if self.next_block > V4_BLOCKS {
            self.blocks_exhausted = true;
        }
        let [x, y] = block.to_be_bytes();
        [10, x, y, a[3]]
    }
}

/// The value a site XORs into the lower three bytes of its MACs: distinct
/// for every site below 2^24 (an odd multiplier is a bijection), zero for
/// site 0, so that site 0 keeps the original MACs.
pub fn mac_salt(site: u32) -> [u8; 3] {
    let v = site.wrapping_mul(0x005b_d1e9) & 0x00ff_ffff;
    let [_, a, b, c] = v.to_be_bytes();
    [a, b, c]
}

/// The value a site XORs into the 40-bit global ID of unique-local addresses.
fn ula_salt(site: u32) -> [u8; 5] {
    let v = u64::from(site).wrapping_mul(0x9e_3779_b97f) & 0xff_ffff_ffff;
    let [_, _, _, a, b, c, d, e] = v.to_be_bytes();
    [a, b, c, d, e]
}

fn salt_mac(mac: &mut [u8], salt: [u8; 3]) {
    let group = mac.first().is_some_and(|b| b & 1 == 1);
    if group || mac.iter().all(|&b| b == 0) {
        return;
    }
    for (b, s) in mac.iter_mut().skip(3).zip(salt) {
        *b ^= s;
    }
}

pub fn is_private_v4(a: [u8; 4]) -> bool {
    match a {
        [10, ..] => true,
        [172, b, ..] => b & 0xf0 == 16,
        [192, 168, ..] => true,
        [100, b, ..] => b & 0xc0 == 64,
        [169, 254, ..] => true,
        _ => false,
    }
}

fn salt_v6(a: &mut [u8], site: u32) {
    if a.len() != 16 {
        return;
    }
    if a[0] & 0xfe == 0xfc {
        for (b, s) in a[1..6].iter_mut().zip(ula_salt(site)) {
            *b ^= s;
        }
    } else if a[0] == 0xfe && a[1] & 0xc0 == 0x80 {
        for (b, s) in a[13..16].iter_mut().zip(mac_salt(site)) {
            *b ^= s;
        }
    }
}

/// Finds the addresses in an Ethernet frame.
fn locate(frame: &[u8], fields: &mut Vec<Field>) {
    if frame.len() < 14 {
        return;
    }
    fields.push(Field::Mac(0));
    fields.push(Field::Mac(6));
    let Ok(packet) = LaxSlicedPacket::from_ethernet(frame) else {
        return;
    };
    // etherparse's slices borrow from `frame`: their distance from its
    // start is their offset.
    let base = frame.as_ptr() as usize;
    let offset_of = |s: &[u8]| (s.as_ptr() as usize).wrapping_sub(base);
    let mut push = |field: Field| {
        let (at, len) = match field {
            Field::Mac(at) => (at, 6),
            Field::V4(at) => (at, 4),
            Field::V6(at) => (at, 16),
        };
        if at.checked_add(len).is_some_and(|end| end <= frame.len()) {
            fields.push(field);
        }
    };
    match &packet.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let at = offset_of(ip.header().slice());
            push(Field::V4(at + 12));
            push(Field::V4(at + 16));
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let at = offset_of(ip.header().slice());
            push(Field::V6(at + 8));
            push(Field::V6(at + 24));
        }
        Some(LaxNetSlice::Arp(arp)) => arp_fields(offset_of(arp.slice()), arp.slice(), &mut push),
        None => {}
    }
    match &packet.transport {
        Some(TransportSlice::Udp(udp))
            if [67, 68].contains(&udp.source_port())
                || [67, 68].contains(&udp.destination_port()) =>
        {
            dhcp_fields(offset_of(udp.payload()), udp.payload(), &mut push);
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            ndp_fields(offset_of(icmp.slice()), icmp.slice(), &mut push);
        }
        _ => {}
    }
}

/// ARP: hardware and protocol addresses of sender and target.
fn arp_fields(at: usize, arp: &[u8], push: &mut impl FnMut(Field)) {
    let [_, _, p0, p1, hlen, plen, ..] = *arp else {
        return;
    };
    let (hlen, plen) = (usize::from(hlen), usize::from(plen));
    let sender = at + 8;
    let target = sender + hlen + plen;
    if hlen == 6 {
        push(Field::Mac(sender));
        push(Field::Mac(target));
    }
    if [p0, p1] == [0x08, 0x00] && plen == 4 {
        push(Field::V4(sender + hlen));
        push(Field::V4(target + hlen));
    }
}

/// DHCP: the BOOTP address fields, the client hardware address, and the
/// options that carry addresses.
fn dhcp_fields(at: usize, bootp: &[u8], push: &mut impl FnMut(Field)) {
    if bootp.len() < 28 {
        return;
    }
    for field in [12, 16, 20, 24] {
        push(Field::V4(at + field));
    }
    if bootp[1] == 1 && bootp[2] == 6 {
        push(Field::Mac(at + 28));
    }
    if bootp.get(236..240) != Some(&[99, 130, 83, 99]) {
        return;
    }
    let mut i = 240;
    while let Some(&code) = bootp.get(i) {
        match code {
            0 => {
                i += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let Some(&len) = bootp.get(i + 1) else {
            break;
        };
        let value = i + 2;
        let end = value + usize::from(len);
        if end > bootp.len() {
            break;
        }
        match code {
            // Router, DNS server, broadcast address, requested address,
            // server identifier: lists of IPv4 addresses.
            3 | 6 | 28 | 50 | 54 => {
                for a in (value..end).step_by(4).filter(|a| a + 4 <= end) {
                    push(Field::V4(at + a));
                }
            }
            // Client identifier: hardware type 1 and a MAC.
            61 if len == 7 && bootp[value] == 1 => push(Field::Mac(at + value + 1)),
            _ => {}
        }
        i = end;
    }
}

/// NDP: target (and redirect destination) addresses and link-layer address
/// options.
fn ndp_fields(at: usize, icmp: &[u8], push: &mut impl FnMut(Field)) {
    let Some(&kind) = icmp.first() else {
        return;
    };
    let options = match kind {
        133 => 8,
        134 => 16,
        135 | 136 => {
            push(Field::V6(at + 8));
            24
        }
        137 => {
            push(Field::V6(at + 8));
            push(Field::V6(at + 24));
            40
        }
        _ => return,
    };
    let mut i = options;
    while let (Some(&kind), Some(&len)) = (icmp.get(i), icmp.get(i + 1)) {
        if len == 0 {
            break;
        }
        if matches!(kind, 1 | 2) && len == 1 {
            push(Field::Mac(at + i + 2));
        }
        i += usize::from(len) * 8;
    }
}

#[cfg(test)]
mod tests {
    use etherparse::{PacketBuilder, VlanId};

    use super::*;

    const A: [u8; 6] = [0x00, 0x1b, 0x21, 0x01, 0x02, 0x03];
    const B: [u8; 6] = [0x3c, 0x22, 0xfb, 0x0a, 0x0b, 0x0c];
    const BROADCAST: [u8; 6] = [0xff; 6];

    fn udp_v4(src: [u8; 4], dst: [u8; 4], vlan: Option<u16>, ports: (u16, u16)) -> Vec<u8> {
        let eth = PacketBuilder::ethernet2(A, B);
        let ip = match vlan {
            Some(id) => eth
                .single_vlan(VlanId::try_new(id).unwrap())
                .ipv4(src, dst, 64),
            None => eth.ipv4(src, dst, 64),
        };
        let b = ip.udp(ports.0, ports.1);
        let mut out = Vec::new();
        b.write(&mut out, &[0u8; 8]).unwrap();
        out
    }

    #[test]
    fn macs_keep_their_oui_and_differ_by_site() {
        let mut r = SiteRewriter::new();
        let mut f = udp_v4([8, 8, 8, 8], [1, 1, 1, 1], None, (1000, 53));
        let orig = f.clone();
        r.rewrite(&mut f, 0);
        assert_eq!(f, orig, "site 0 keeps MACs and public addresses");
        r.rewrite(&mut f, 7);
        let salt = mac_salt(7);
        // Destination B, then source A.
        assert_eq!(&f[0..3], &B[0..3]);
        assert_eq!(f[3..6], [B[3] ^ salt[0], B[4] ^ salt[1], B[5] ^ salt[2]]);
        assert_eq!(&f[6..9], &A[0..3]);
        assert_ne!(&f[9..12], &A[3..6]);
        // Public addresses stay.
        assert_eq!(&f[26..34], &[8, 8, 8, 8, 1, 1, 1, 1]);
    }

    #[test]
    fn group_and_zero_macs_stay() {
        let mut m = BROADCAST;
        salt_mac(&mut m, [1, 2, 3]);
        assert_eq!(m, BROADCAST);
        let mut m = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
        salt_mac(&mut m, [1, 2, 3]);
        assert_eq!(m, [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);
        let mut m = [0; 6];
        salt_mac(&mut m, [1, 2, 3]);
        assert_eq!(m, [0; 6]);
    }

    #[test]
    fn mac_salts_are_distinct() {
        let salts: std::collections::HashSet<_> = (0..100_000).map(mac_salt).collect();
        assert_eq!(salts.len(), 100_000);
        assert_eq!(mac_salt(0), [0, 0, 0]);
    }

    #[test]
    fn private_ipv4_moves_into_ten_per_site_behind_vlan_tags() {
        let mut r = SiteRewriter::new();
        let orig = udp_v4([192, 168, 1, 20], [172, 20, 3, 4], Some(12), (1000, 53));
        let (mut s0, mut s1) = (orig.clone(), orig.clone());
        r.rewrite(&mut s0, 0);
        r.rewrite(&mut s1, 1);
        // Ethernet 14 + VLAN 4 + IPv4 source at 12.
        let (src, dst) = (30..34, 34..38);
        assert_eq!(&s0[src.clone()], &[10, 0, 0, 20]);
        assert_eq!(&s0[dst.clone()], &[10, 0, 1, 4]);
        assert_eq!(&s1[src.clone()], &[10, 0, 2, 20]);
        assert_eq!(&s1[dst.clone()], &[10, 0, 3, 4]);
        // The same address in the same site maps the same way again.
        let mut again = orig.clone();
        r.rewrite(&mut again, 1);
        assert_eq!(again, s1);
        assert_eq!(r.blocks_used(), 4);
        assert!(!r.blocks_exhausted);
    }

    #[test]
    fn private_ranges() {
        for a in [
            [10, 1, 2, 3],
            [172, 16, 0, 1],
            [172, 31, 255, 1],
            [192, 168, 0, 1],
            [100, 64, 0, 1],
            [100, 127, 0, 1],
            [169, 254, 3, 4],
        ] {
            assert!(is_private_v4(a), "{a:?}");
        }
        for a in [
            [172, 32, 0, 1],
            [100, 128, 0, 1],
            [8, 8, 8, 8],
            [224, 0, 0, 251],
            [255, 255, 255, 255],
            [0, 0, 0, 0],
        ] {
            assert!(!is_private_v4(a), "{a:?}");
        }
    }

    #[test]
    fn arp_addresses_follow_the_frame() {
        let mut f = Vec::new();
        f.extend_from_slice(&BROADCAST);
        f.extend_from_slice(&A);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
        f.extend_from_slice(&A);
        f.extend_from_slice(&[192, 168, 1, 20]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&[192, 168, 1, 1]);
        let mut r = SiteRewriter::new();
        r.rewrite(&mut f, 3);
        assert_eq!(&f[0..6], &BROADCAST);
        assert_eq!(&f[22..28], &f[6..12], "sender MAC as the Ethernet source");
        assert_ne!(&f[22..28], &A);
        assert_eq!(&f[28..32], &[10, 0, 0, 20]);
        assert_eq!(&f[32..38], &[0; 6]);
        assert_eq!(&f[38..42], &[10, 0, 0, 1]);
    }

    #[test]
    fn dhcp_addresses_and_client_mac() {
        let mut bootp = vec![0u8; 240];
        bootp[0] = 2;
        bootp[1] = 1;
        bootp[2] = 6;
        bootp[16..20].copy_from_slice(&[192, 168, 1, 50]);
        bootp[28..34].copy_from_slice(&A);
        bootp[236..240].copy_from_slice(&[99, 130, 83, 99]);
        bootp.extend_from_slice(&[53, 1, 5]);
        bootp.extend_from_slice(&[3, 4, 192, 168, 1, 1]);
        bootp.extend_from_slice(&[6, 8, 192, 168, 1, 1, 9, 9, 9, 9]);
        bootp.extend_from_slice(&[255]);
        let mut f = Vec::new();
        PacketBuilder::ethernet2(B, A)
            .ipv4([192, 168, 1, 1], [192, 168, 1, 50], 64)
            .udp(67, 68)
            .write(&mut f, &bootp)
            .unwrap();
        let mut r = SiteRewriter::new();
        r.rewrite(&mut f, 2);
        let d = 14 + 20 + 8;
        assert_eq!(&f[d + 16..d + 20], &[10, 0, 0, 50]);
        assert_eq!(
            &f[d + 28..d + 34],
            &f[0..6],
            "chaddr as the Ethernet destination"
        );
        assert_ne!(&f[d + 28..d + 34], &A);
        let o = d + 240 + 3;
        assert_eq!(&f[o + 2..o + 6], &[10, 0, 0, 1]);
        assert_eq!(&f[o + 8..o + 16], &[10, 0, 0, 1, 9, 9, 9, 9]);
    }

    #[test]
    fn ipv6_link_local_ula_and_ndp() {
        let link_local = [
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x1b, 0x21, 0xff, 0xfe, 0x01, 0x02, 0x03,
        ];
        let ula = [0xfd, 1, 2, 3, 4, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
        let global = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        // A neighbour advertisement for the link-local address, with a
        // target link-layer address option.
        let mut body = Vec::new();
        body.extend_from_slice(&link_local);
        body.extend_from_slice(&[2, 1]);
        body.extend_from_slice(&A);
        let mut f = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv6(link_local, ula, 255)
            .icmpv6_raw(136, 0, [0x60, 0, 0, 0])
            .write(&mut f, &body)
            .unwrap();
        let mut r = SiteRewriter::new();
        r.rewrite(&mut f, 5);
        let salt = mac_salt(5);
        let src = &f[22..38];
        assert_eq!(&src[..13], &link_local[..13]);
        assert_eq!(
            src[13..],
            [0x01 ^ salt[0], 0x02 ^ salt[1], 0x03 ^ salt[2]],
            "the EUI-64 identifier follows the MAC"
        );
        assert_eq!(&src[13..], &f[9..12]);
        let dst = &f[38..54];
        assert_eq!(dst[0], 0xfd);
        assert_ne!(&dst[1..6], &ula[1..6]);
        assert_eq!(&dst[6..], &ula[6..]);
        let icmp = 54;
        assert_eq!(&f[icmp + 8..icmp + 24], src, "NDP target rewritten");
        assert_eq!(&f[icmp + 26..icmp + 32], &f[6..12], "link-layer option");
        // Global addresses stay.
        let mut g = global;
        salt_v6(&mut g, 5);
        assert_eq!(g, global);
    }
}
