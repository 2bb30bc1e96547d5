//! Spreading packets read by one thread over workers: offline, the reading
//! thread is itself worker 0 and hands the other workers their shares;
//! live through libpcap, one reader per interface feeds all workers.
//! Packets are copied into per-worker batches and batches are recycled, so
//! the steady state allocates nothing.

use crossbeam_channel::{Receiver, Sender};

use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use super::{Worker, WorkerStats};
use crate::capture::{LinkType, Packet, Timestamp};
use crate::flow::Shares;

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
    /// How far the stream had got when the batch was sent: time moves on
    /// for the worker's flows even when the batch holds none of its packets.
    pub now: Timestamp,
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
        self.now = Timestamp::default();
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
    shares: Shares,
    filling: Vec<Batch>,
    /// A channel per worker; `None` for the worker that reads (its packets
    /// are handed back by [`dispatch`](Self::dispatch)).
    to_workers: Vec<Option<Sender<Batch>>>,
    recycled: Receiver<Batch>,
    when_full: WhenFull,
    /// The latest packet time read.
    now: Timestamp,
    /// Packets dropped because a worker's queue was full.
    pub dropped: u64,
}

impl Dispatcher {
    pub fn new(
        shares: Shares,
        to_workers: Vec<Option<Sender<Batch>>>,
        recycled: Receiver<Batch>,
        when_full: WhenFull,
    ) -> Dispatcher {
        Dispatcher {
            shares,
            filling: to_workers.iter().map(|_| Batch::default()).collect(),
            to_workers,
            recycled,
            when_full,
            now: Timestamp::default(),
            dropped: 0,
        }
    }

    /// Queues the packet for its worker; `true` when it belongs to the
    /// reading worker itself, which then processes it.
    pub fn dispatch(&mut self, p: &Packet<'_>) -> bool {
        self.now = self.now.max(p.ts);
        let w = super::shard::of_packet(p, &self.shares);
        if self.to_workers[w].is_none() {
            return true;
        }
        self.filling[w].push(p);
        if self.filling[w].is_full() {
            self.send(w);
        }
        false
    }

    fn send(&mut self, w: usize) {
        let Some(to_worker) = &self.to_workers[w] else {
            return;
        };
        if self.when_full == WhenFull::Drop && to_worker.is_full() {
            self.dropped += self.filling[w].meta.len() as u64;
            self.filling[w].clear();
            return;
        }
        let mut next = self.recycled.try_recv().unwrap_or_default();
        next.clear();
        let mut full = std::mem::replace(&mut self.filling[w], next);
        full.now = self.now;
        // A worker that has gone away has nothing left to do with it.
        let lost = match self.when_full {
            WhenFull::Wait => to_worker.send(full).err().map(|e| e.into_inner()),
            WhenFull::Drop => to_worker.try_send(full).err().map(|e| e.into_inner()),
        };
        self.dropped += lost.map_or(0, |b| b.meta.len() as u64);
    }

    /// Sends the partly filled batches (live: when the source is idle, so
    /// packets do not wait for a batch to fill).
    #[cfg(feature = "libpcap")]
    pub fn flush(&mut self) {
        for w in 0..self.to_workers.len() {
            if !self.filling[w].meta.is_empty() {
                self.send(w);
            }
        }
    }

    /// Sends what is left, and to every worker the time the stream ended;
    /// closes the channels; returns the drop count.
    pub fn finish(mut self) -> u64 {
        for w in 0..self.to_workers.len() {
            self.send(w);
        }
        self.dropped
    }
}

/// A worker fed by a dispatcher: processes batches until the channel closes,
/// and hands each emptied batch back. With `idle`, it does its housekeeping
/// by the clock when no batch comes for that long (live capture).
pub fn work_on_batches(
    mut worker: Worker<'_>,
    batches: Receiver<Batch>,
    recycle: Sender<Batch>,
    idle: Option<Duration>,
) -> WorkerStats {
    loop {
        let received = match idle {
            Some(wait) => batches.recv_timeout(wait),
            None => batches.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok(batch) => {
                for p in batch.packets() {
                    worker.process(&p);
                }
                worker.stream_time(batch.now);
                // Beyond what circulates, a batch is simply dropped.
                let _ = recycle.try_send(batch);
            }
            Err(RecvTimeoutError::Timeout) => worker.tick(Timestamp::now()),
            Err(RecvTimeoutError::Disconnected) => return worker.finish(),
        }
    }
}
