//! Spreading packets read by one thread over N workers. Packets are copied
//! into per-worker batches (the only copy on the offline path), and batches
//! are recycled, so the steady state allocates nothing.

use crossbeam_channel::{Receiver, Sender};

use crate::capture::{LinkType, Packet, Timestamp};
use crate::decode;
use crate::flow::FlowPacket;

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
    let Ok(view) = decode::decode(p) else {
        return 0;
    };
    match FlowPacket::new(p.ts, 0, &view) {
        Some(fp) => fp.key.shard(workers),
        None => view.src_mac.map_or(0, |m| (m.as_u64() % workers as u64) as usize),
    }
}

/// The reading side: fills batches and sends them to the workers.
pub struct Dispatcher {
    filling: Vec<Batch>,
    to_workers: Vec<Sender<Batch>>,
    recycled: Receiver<Batch>,
}

impl Dispatcher {
    pub fn new(to_workers: Vec<Sender<Batch>>, recycled: Receiver<Batch>) -> Dispatcher {
        Dispatcher {
            filling: to_workers.iter().map(|_| Batch::default()).collect(),
            to_workers,
            recycled,
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
        let mut next = self.recycled.try_recv().unwrap_or_default();
        next.clear();
        let full = std::mem::replace(&mut self.filling[w], next);
        // A worker that has gone away has nothing left to do with it.
        let _ = self.to_workers[w].send(full);
    }

    /// Sends what is left and closes the channels.
    pub fn finish(mut self) {
        for w in 0..self.to_workers.len() {
            if !self.filling[w].meta.is_empty() {
                self.send(w);
            }
        }
    }
}
