//! Heap allocations on the per-packet path.
//!
//! One worker runs over the fixture packets twice. The first (cold) pass
//! creates flows and devices and grows the tables; the second (warm) pass
//! replays the same packets shifted later by the span of the set plus one
//! second, less than the idle timeout, so that the flows are updated
//! rather than created again. Only allocations of the warm pass count
//! against the guard, and only those of packets off the identity path:
//! more than [`MAX_WARM_PER_PACKET`] per packet fails. Packets that reach a
//! protocol parser (a few per identity-bearing flow, every DNS or mDNS
//! datagram, every SYN) allocate their findings; they are reported apart.
//! A third pass is reported for information: what allocates in it
//! allocates again and again, not just while tables grow.
//!
//! Run with `cargo bench -p benches --bench allocations`.

use std::process::ExitCode;

use allocation_counter::AllocationInfo;
use benches::fixtures::{PacketSet, analyze_sensor, fixture_files};
use benches::timeline::NANOS_PER_SEC;
use sensor::capture::Timestamp;
use sensor::flow::FlowConfig;
use sensor::pipeline::Worker;

/// The guard: allocations per packet allowed in the warm pass.
const MAX_WARM_PER_PACKET: f64 = 0.01;

/// Packets loaded at most (all of nDPI's test captures hold about 110,000).
const MAX_PACKETS: usize = 2_000_000;

fn report(name: &str, info: &AllocationInfo, packets: usize) -> f64 {
    let per_packet = info.count_total as f64 / packets as f64;
    println!(
        "{name:<5} pass: {:>9} allocations, {per_packet:>8.4} per packet, {:>12} bytes, {:>8.1} bytes per packet",
        info.count_total,
        info.bytes_total,
        info.bytes_total as f64 / packets as f64,
    );
    per_packet
}

/// The first pass over the packets. Its own function (as is the warm
/// pass), so that a debugger can stop at it: see the README. It ends with
/// the worker's housekeeping, so that what the pass learnt is in the
/// inventory and the warm pass finds nothing left to insert.
#[inline(never)]
fn cold_pass(worker: &mut Worker<'_>, set: &PacketSet) -> AllocationInfo {
    allocation_counter::measure(|| {
        let mut last = Timestamp::default();
        for p in set.packets(0) {
            last = last.max(p.ts);
            worker.process(&p);
        }
        worker.tick(Timestamp(last.0 + NANOS_PER_SEC));
    })
}

/// Allocations of a pass, split between the packets that took the
/// identity path (a parser, a stream buffer, a SYN signature, or the
/// housekeeping that files findings as evidence and parses what ending
/// flows' streams hold: findings are owned and kept) and all the others,
/// which must not allocate.
#[derive(Default)]
struct Split {
    other: AllocationInfo,
    other_packets: usize,
    identity: AllocationInfo,
    identity_packets: usize,
}

/// The same packets again, `shift_ns` later, each measured on its own.
#[inline(never)]
fn warm_pass(worker: &mut Worker<'_>, set: &PacketSet, shift_ns: u64) -> Split {
    let mut split = Split::default();
    for p in set.packets(shift_ns) {
        let identity_work =
            |s: sensor::pipeline::WorkerStats| s.extract.identity_packets + s.claims_filed;
        let before = identity_work(worker.stats());
        let info = allocation_counter::measure(|| worker.process(&p));
        let (total, packets) = if identity_work(worker.stats()) > before {
            (&mut split.identity, &mut split.identity_packets)
        } else {
            (&mut split.other, &mut split.other_packets)
        };
        total.count_total += info.count_total;
        total.bytes_total += info.bytes_total;
        *packets += 1;
    }
    split
}

fn main() -> ExitCode {
    let (files, source) = fixture_files();
    if files.is_empty() {
        println!("allocations: skipped: no capture found in {source}");
        return ExitCode::SUCCESS;
    }
    let set = PacketSet::load(&files, MAX_PACKETS);
    if set.is_empty() {
        println!("allocations: skipped: no packets in the captures of {source}");
        return ExitCode::SUCCESS;
    }
    println!(
        "allocations: {} packets ({} MB) of {} captures from {source}, spanning {:.0} s of packet time",
        set.len(),
        set.bytes() / 1_000_000,
        set.files,
        set.span_ns() as f64 / NANOS_PER_SEC as f64,
    );

    // Flows must outlive the gap between their packets in the two passes:
    // mirador's offline idle timeout, or longer if the packets span more.
    let shift = set.span_ns() + NANOS_PER_SEC;
    let offline = FlowConfig::offline();
    let flows = FlowConfig {
        idle_timeout: offline.idle_timeout.max(shift / NANOS_PER_SEC + 60),
        ..offline
    };
    if flows.idle_timeout != offline.idle_timeout {
        println!(
            "allocations: idle timeout raised from {} s to {} s, above the span of the packets",
            offline.idle_timeout, flows.idle_timeout
        );
    }
    let sensor = analyze_sensor(flows);
    let mut worker = Worker::new(0, 1, &sensor);

    let cold = cold_pass(&mut worker, &set);
    let flows_after_cold = worker.stats().flows.created;
    let warm = warm_pass(&mut worker, &set, shift);
    let flows_after_warm = worker.stats().flows.created;
    // A third pass, for information: allocations that remain here recur,
    // those gone were one-off growth.
    let again = warm_pass(&mut worker, &set, 2 * shift);

    report("cold", &cold, set.len());
    let per_packet = report("warm", &warm.other, warm.other_packets);
    report("again", &again.other, again.other_packets);
    println!(
        "allocations: the identity path, not guarded: {} of {} warm packets ({:.1} %)",
        warm.identity_packets,
        set.len(),
        100.0 * warm.identity_packets as f64 / set.len() as f64
    );
    report("ident", &warm.identity, warm.identity_packets.max(1));
    println!(
        "allocations: flows created: {flows_after_cold} in the cold pass, {} in the warm pass \
         (TCP flows closed and opened again); {} devices",
        flows_after_warm - flows_after_cold,
        sensor.inventory.device_count()
    );
    let stats = worker.finish();
    println!(
        "allocations: {} packets processed, {} decode errors",
        stats.packets,
        stats.decode_error_total(),
    );
    if per_packet > MAX_WARM_PER_PACKET {
        println!(
            "allocations: FAILED: the warm pass made {per_packet:.4} allocations per packet off the identity path (at most {MAX_WARM_PER_PACKET} allowed)"
        );
        return ExitCode::FAILURE;
    }
    println!(
        "allocations: ok: at most {MAX_WARM_PER_PACKET} allocations per packet when warm, off the identity path"
    );
    ExitCode::SUCCESS
}
