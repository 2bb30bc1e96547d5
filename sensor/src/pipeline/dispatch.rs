//! Spreading packets read by one thread over N workers. Packets are copied
//! into per-worker batches (the only copy on the offline path), and batches
//! are recycled, so the steady state allocates nothing.

use crossbeam_channel::{Receiver, Sender};

use std::net::IpAddr;

use etherparse::{
    EtherType, Ethernet2Slice, IpNumber, Ipv4HeaderSlice, Ipv6HeaderSlice, SingleVlanSlice,
};

use crate::capture::{LinkType, Packet, Timestamp};
use crate::decode::{self, Vlans};
use crate::flow::{Endpoint, FlowKey, FlowPacket};

/// Packets per batch, and bytes: whichever fills first.
const BATCH_PACKETS: usize = 512;
const BATCH_BYTES: usize = 512 * 1024;

#[derive(Clone, Copy)]
struct Meta {
    ts: Timestamp,
    link_type: LinkType,
    wire_len: u32,
    end: usize,
}

/// Packets bound for one worker.
#[derive(Default)]
pub struct Batch {
    data: Vec<u8>,
    meta: Vec<Meta>,
}

impl Batch {
    fn push(&mut self, p: &Packet<'_>) {
        self.data.extend_from_slice(p.data);
        self.meta.push(Meta {
            ts: p.ts,
            link_type: p.link_type,
            wire_len: p.wire_len,
            end: self.data.len(),
        });
    }

    fn is_full(&self) -> bool {
        self.meta.len() >= BATCH_PACKETS || self.data.len() >= BATCH_BYTES
    }

    fn clear(&mut self) {
        self.data.clear();
        self.meta.clear();
    }

    /// The packets, in arrival order.
    pub fn packets(&self) -> impl Iterator<Item = Packet<'_>> {
        let mut start = 0;
        self.meta.iter().map(move |m| {
            let data = &self.data[start..m.end];
            start = m.end;
            Packet {
                ts: m.ts,
                link_type: m.link_type,
                data,
                wire_len: m.wire_len,
            }
        })
    }
}

/// The worker a packet belongs to: its flow's shard, so that both
/// directions of a flow meet in one worker. Packets outside flows go to
/// the worker of their source MAC, spreading ARP and friends.
pub fn shard(p: &Packet<'_>, workers: usize) -> usize {
    if let Some(key) = plain_flow_key(p) {
        return key.shard(workers);
    }
    let Ok(view) = decode::decode(p) else {
        return 0;
    };
    match FlowPacket::new(p.ts, 0, &view) {
        Some(fp) => fp.key.shard(workers),
        None => view
            .src_mac
            .map_or(0, |m| (m.as_u64() % workers as u64) as usize),
    }
}

/// The flow key of the common packet, read from its headers alone:
/// Ethernet (VLAN tags allowed), IPv4 or IPv6 without extension headers or
/// fragmentation, TCP or UDP not bound for a tunnel port. The reading
/// thread runs this for every packet, so it skips the full decode; any other
/// packet returns `None` and takes the full decode, which gives the same key.
fn plain_flow_key(p: &Packet<'_>) -> Option<FlowKey> {
    if p.link_type != LinkType::ETHERNET {
        return None;
    }
    let eth = Ethernet2Slice::from_slice_without_fcs(p.data).ok()?;
    let (mut ether_type, mut payload) = (eth.ether_type(), eth.payload_slice());
    let mut vlans = Vlans::default();
    while matches!(
        ether_type,
        EtherType::VLAN_TAGGED_FRAME
            | EtherType::PROVIDER_BRIDGING
            | EtherType::VLAN_DOUBLE_TAGGED_FRAME
    ) {
        let tag = SingleVlanSlice::from_slice(payload).ok()?;
        vlans.push(tag.vlan_identifier().value());
        (ether_type, payload) = (tag.ether_type(), tag.payload_slice());
    }
    let (src, dst, protocol, transport) = match ether_type {
        EtherType::IPV4 => {
            let ip = Ipv4HeaderSlice::from_slice(payload).ok()?;
            if ip.is_fragmenting_payload() {
                return None;
            }
            let header_len = ip.slice().len();
            (
                IpAddr::V4(ip.source_addr()),
                IpAddr::V4(ip.destination_addr()),
                ip.protocol(),
                payload.get(header_len..)?,
            )
        }
        EtherType::IPV6 => {
            let ip = Ipv6HeaderSlice::from_slice(payload).ok()?;
            (
                IpAddr::V6(ip.source_addr()),
                IpAddr::V6(ip.destination_addr()),
                ip.next_header(),
                payload.get(40..)?,
            )
        }
        _ => return None,
    };
    if protocol != IpNumber::TCP && protocol != IpNumber::UDP {
        return None;
    }
    let ports = transport.get(..4)?;
    let src_port = u16::from_be_bytes([ports[0], ports[1]]);
    let dst_port = u16::from_be_bytes([ports[2], ports[3]]);
    if decode::may_carry_tunnel(protocol.0, dst_port) {
        return None;
    }
    let src = Endpoint {
        ip: src,
        port: src_port,
    };
    let dst = Endpoint {
        ip: dst,
        port: dst_port,
    };
    Some(FlowKey::new(src, dst, protocol.0, vlans).0)
}

/// What to do when a worker's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait: offline, nothing is lost by reading more slowly.
    Wait,
    /// Drop the batch and count it: live, capture must never stall.
    Drop,
}

/// The reading side: fills batches and sends them to the workers.
pub struct Dispatcher {
    filling: Vec<Batch>,
    to_workers: Vec<Sender<Batch>>,
    recycled: Receiver<Batch>,
    when_full: WhenFull,
    /// Packets dropped because a worker's queue was full.
    pub dropped: u64,
}

impl Dispatcher {
    pub fn new(
        to_workers: Vec<Sender<Batch>>,
        recycled: Receiver<Batch>,
        when_full: WhenFull,
    ) -> Dispatcher {
        Dispatcher {
            filling: to_workers.iter().map(|_| Batch::default()).collect(),
            to_workers,
            recycled,
            when_full,
            dropped: 0,
        }
    }

    pub fn dispatch(&mut self, p: &Packet<'_>) {
        let w = shard(p, self.to_workers.len());
        self.filling[w].push(p);
        if self.filling[w].is_full() {
            self.send(w);
        }
    }

    fn send(&mut self, w: usize) {
        if self.when_full == WhenFull::Drop && self.to_workers[w].is_full() {
            self.dropped += self.filling[w].meta.len() as u64;
            self.filling[w].clear();
            return;
        }
        let mut next = self.recycled.try_recv().unwrap_or_default();
        next.clear();
        let full = std::mem::replace(&mut self.filling[w], next);
        // A worker that has gone away has nothing left to do with it.
        match self.when_full {
            WhenFull::Wait => {
                let _ = self.to_workers[w].send(full);
            }
            WhenFull::Drop => {
                if let Err(e) = self.to_workers[w].try_send(full) {
                    self.dropped += e.into_inner().meta.len() as u64;
                }
            }
        }
    }

    /// Sends the partly filled batches (live: when the source is idle, so
    /// packets do not wait for a batch to fill).
    pub fn flush(&mut self) {
        for w in 0..self.to_workers.len() {
            if !self.filling[w].meta.is_empty() {
                self.send(w);
            }
        }
    }

    /// Sends what is left and closes the channels; returns the drop count.
    pub fn finish(mut self) -> u64 {
        self.flush();
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::capture::CaptureFile;

    /// The header-only shortcut must put every packet in the worker the
    /// full decode would: checked on every packet of every fixture.
    #[test]
    fn plain_flow_keys_agree_with_full_decode() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../pcaps");
        let files = crate::capture::merge::expand_inputs(&[fixtures]).files;
        let (mut shortcut, mut packets) = (0, 0);
        for path in files {
            let Ok(mut file) = CaptureFile::open(&path) else {
                continue;
            };
            while let Ok(true) = file.advance() {
                let Some(p) = file.current() else { break };
                packets += 1;
                if let Some(key) = plain_flow_key(&p) {
                    shortcut += 1;
                    let view = decode::decode(&p).expect("a packet with a plain key decodes");
                    let full = FlowPacket::new(p.ts, 0, &view).map(|f| f.key);
                    assert_eq!(Some(key), full, "{}: packet {packets}", path.display());
                }
            }
        }
        assert!(
            packets > 2000 && shortcut * 2 > packets,
            "{shortcut} of {packets}"
        );
    }
}
