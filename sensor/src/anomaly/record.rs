//! What the monitor reads from a worker's inventory batch, each with its
//! time: flows opened and answered, address bindings, what protocols said,
//! traffic sent, and flows ended.

use std::net::IpAddr;
use std::sync::Arc;

use fingerprints::MacAddr;
use fingerprints::proto::Finding;

use crate::capture::Timestamp;
use crate::extract::{BindingSource, Observation};
use crate::inventory::{EndedFlow, InventoryBatch, Sighting};

/// A flow between a client and a server, with the flags of the packet
/// that made the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    pub flow_id: u64,
    pub client_mac: Option<MacAddr>,
    pub client: IpAddr,
    pub client_port: u16,
    pub server_mac: Option<MacAddr>,
    pub server: IpAddr,
    pub server_port: u16,
    pub protocol: u8,
    pub tcp_flags: u8,
}

impl Contact {
    /// A TCP connection attempt: a SYN without ACK.
    pub fn is_syn(&self) -> bool {
        use crate::flow::tcp_flags::{ACK, SYN};
        self.protocol == 6 && self.tcp_flags & (SYN | ACK) == SYN
    }

    pub fn tuple(&self) -> (IpAddr, u16, IpAddr, u16) {
        (self.client, self.client_port, self.server, self.server_port)
    }

    fn of(s: &Sighting) -> Contact {
        let (client_mac, client, client_port, server_mac, server, server_port) = if s.reply {
            (
                s.dst_mac, s.dst_ip, s.dst_port, s.src_mac, s.src_ip, s.src_port,
            )
        } else {
            (
                s.src_mac, s.src_ip, s.src_port, s.dst_mac, s.dst_ip, s.dst_port,
            )
        };
        Contact {
            flow_id: s.flow_id,
            client_mac,
            client,
            client_port,
            server_mac,
            server,
            server_port,
            protocol: s.protocol,
            tcp_flags: s.tcp_flags,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Record {
    /// A flow's first packet from its client.
    Opened(Contact),
    /// The server's first packet (a SYN+ACK, a RST, a datagram back).
    Answered(Contact),
    Binding {
        mac: MacAddr,
        ip: IpAddr,
        source: BindingSource,
    },
    /// A DHCP server named this address the router.
    RouterAddress(IpAddr),
    /// A protocol's finding about a device (by MAC) or an address.
    Said {
        mac: Option<MacAddr>,
        ip: Option<IpAddr>,
        finding: Arc<Finding>,
    },
    /// Bytes a device sent since the last record of it.
    Sent { mac: MacAddr, bytes: u64 },
    /// A flow ended, as one of its local ends saw it.
    Ended(EndedFlow),
}

impl Record {
    /// Orders records of the same instant alike whichever worker made them.
    fn order_key(&self) -> (u8, u64) {
        use std::hash::BuildHasher;
        let h = foldhash::fast::FixedState::default();
        match self {
            Record::Binding { mac, ip, .. } => (0, h.hash_one((mac, ip))),
            Record::RouterAddress(ip) => (1, h.hash_one(ip)),
            Record::Opened(c) => (2, h.hash_one(c.tuple())),
            Record::Answered(c) => (3, h.hash_one(c.tuple())),
            Record::Said { mac, ip, finding } => (4, h.hash_one((mac, ip, finding.event_type))),
            Record::Sent { mac, .. } => (5, h.hash_one(mac)),
            // Not the flow id: ids depend on the number of workers.
            Record::Ended(e) => {
                let f = &e.summary;
                (
                    6,
                    h.hash_one((e.mac, f.start_us, f.destination, f.as_client)),
                )
            }
        }
    }
}

/// A record with its time, and its place among records of the same
/// instant, computed once (sorting compares it many times).
#[derive(Debug, Clone)]
pub struct Timed {
    pub ts: Timestamp,
    order: (u8, u64),
    pub record: Record,
}

impl Timed {
    pub fn new(ts: Timestamp, record: Record) -> Timed {
        Timed {
            ts,
            order: record.order_key(),
            record,
        }
    }

    pub fn sort_key(&self) -> (Timestamp, (u8, u64)) {
        (self.ts, self.order)
    }
}

/// Everything in `batch` the detectors read, appended to `out`.
pub fn read_batch(batch: &InventoryBatch, out: &mut Vec<Timed>) {
    for s in &batch.sightings {
        let c = Contact::of(s);
        out.push(Timed::new(
            s.ts,
            if s.reply {
                Record::Answered(c)
            } else {
                Record::Opened(c)
            },
        ));
    }
    for (ts, o) in &batch.observations {
        match *o {
            Observation::Binding { mac, ip, source } => {
                out.push(Timed::new(*ts, Record::Binding { mac, ip, source }))
            }
            Observation::RouterAddress { ip } => {
                out.push(Timed::new(*ts, Record::RouterAddress(ip)))
            }
            Observation::Router { .. } => {}
        }
    }
    for filed in &batch.claims {
        let c = &filed.claim;
        out.push(Timed::new(
            filed.first,
            Record::Said {
                mac: c.mac,
                ip: c.ip,
                finding: c.finding.clone(),
            },
        ));
    }
    for (mac, activity) in &batch.activity {
        if activity.first.is_some() && activity.sent.bytes > 0 {
            out.push(Timed::new(
                activity.last,
                Record::Sent {
                    mac: *mac,
                    bytes: activity.sent.bytes,
                },
            ));
        }
    }
    for e in &batch.flows_ended {
        out.push(Timed::new(e.ended, Record::Ended(*e)));
    }
}
