//! Spreading packets read by one thread over N workers (live capture through
//! libpcap, which gives one handle per interface). Packets are copied into
//! per-worker batches and batches are recycled, so the steady state
//! allocates nothing; a worker that falls behind loses batches, counted,
//! rather than stalling the capture.

use crossbeam_channel::{Receiver, Sender};

use crate::capture::{LinkType, Packet, Timestamp};

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

/// The reading side: fills batches and sends them to the workers.
pub struct Dispatcher {
    filling: Vec<Batch>,
    to_workers: Vec<Sender<Batch>>,
    recycled: Receiver<Batch>,
    /// Packets dropped because a worker's queue was full.
    pub dropped: u64,
}

impl Dispatcher {
    pub fn new(to_workers: Vec<Sender<Batch>>, recycled: Receiver<Batch>) -> Dispatcher {
        Dispatcher {
            filling: to_workers.iter().map(|_| Batch::default()).collect(),
            to_workers,
            recycled,
            dropped: 0,
        }
    }

    pub fn dispatch(&mut self, p: &Packet<'_>) {
        let w = super::shard::of_packet(p, self.to_workers.len());
        self.filling[w].push(p);
        if self.filling[w].is_full() {
            self.send(w);
        }
    }

    fn send(&mut self, w: usize) {
        if self.to_workers[w].is_full() {
            self.dropped += self.filling[w].meta.len() as u64;
            self.filling[w].clear();
            return;
        }
        let mut next = self.recycled.try_recv().unwrap_or_default();
        next.clear();
        let full = std::mem::replace(&mut self.filling[w], next);
        // Full meanwhile (another interface's reader), or the worker is gone.
        if let Err(e) = self.to_workers[w].try_send(full) {
            self.dropped += e.into_inner().meta.len() as u64;
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
