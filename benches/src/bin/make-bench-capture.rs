//! make-bench-capture: grows a large benchmark capture out of real ones.
//!
//! Every Ethernet packet of the inputs is written once per synthetic site,
//! its addresses rewritten for that site (see `benches::synth`), the copies
//! of one packet side by side, so that all sites are busy at once. The
//! inputs are replayed this way, round after round, until the target
//! number of packets is written. Timestamps form one increasing timeline:
//! each packet keeps its gap to the one before it in its capture, clamped
//! to one second (see `benches::timeline`). By default the number of sites
//! is chosen, after a first pass counting the distinct source MACs of the
//! inputs, so that about `--devices` (10,000) distinct source MACs result.
//!
//! The output is a classic little-endian microsecond pcap; checksums are
//! not fixed.

use std::collections::HashSet;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use benches::pcap_out::PcapWriter;
use benches::synth::SiteRewriter;
use benches::timeline::Timeline;
use clap::Parser;
use sensor::capture::merge::expand_inputs;
use sensor::capture::{CaptureError, CaptureFile, LinkType, Packet};

/// Builds a large benchmark capture from real captures.
#[derive(Parser)]
#[command(name = "make-bench-capture")]
struct Args {
    /// Where to write the capture (classic pcap, Ethernet).
    #[arg(long, value_name = "FILE.pcap")]
    out: PathBuf,
    /// Synthetic sites [default: enough for --devices source MACs].
    #[arg(long, value_name = "N")]
    sites: Option<u32>,
    /// Stop after writing this many packets.
    #[arg(long, value_name = "N", default_value_t = 3_000_000)]
    target_packets: u64,
    /// Distinct source MACs to aim at when choosing the number of sites.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    devices: u64,
    /// Capture files, or directories searched for them.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make-bench-capture: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A source MAC that names a device: unicast and not all zeros.
fn source_mac(frame: &[u8]) -> Option<[u8; 6]> {
    let mac: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    (mac[0] & 1 == 0 && mac != [0; 6]).then_some(mac)
}

/// Hands every Ethernet packet of `files`, in order, to `on_packet` (with
/// whether it is the first of its file) until that returns false; returns
/// the files that could not be read to their end. Packets of other link
/// types are skipped without error.
fn each_ethernet_packet(
    files: &[PathBuf],
    mut on_packet: impl FnMut(&Packet<'_>, bool) -> Result<bool>,
) -> Result<Vec<CaptureError>> {
    let mut errors = Vec::new();
    for path in files {
        let mut file = match CaptureFile::open(path) {
            Ok(file) => file,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut first = true;
        loop {
            match file.advance() {
                Ok(true) => {}
                Ok(false) => break,
                Err(CaptureError::UnsupportedLinkType { .. }) => break,
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
            let Some(p) = file.current() else {
                continue;
            };
            if p.link_type == LinkType::ETHERNET && p.data.len() >= 14 {
                if !on_packet(&p, first)? {
                    return Ok(errors);
                }
                first = false;
            }
        }
    }
    Ok(errors)
}

fn report_errors(errors: &[CaptureError]) {
    const SHOWN: usize = 5;
    for e in errors.iter().take(SHOWN) {
        eprintln!("make-bench-capture: skipped the rest of {e}");
    }
    if errors.len() > SHOWN {
        eprintln!(
            "make-bench-capture: ... and {} more files that could not be read to their end",
            errors.len() - SHOWN
        );
    }
}

/// The first pass: Ethernet packets and distinct source MACs.
fn scan(files: &[PathBuf]) -> Result<(u64, usize)> {
    let mut packets = 0u64;
    let mut macs = HashSet::new();
    let errors = each_ethernet_packet(files, |p, _| {
        packets += 1;
        macs.extend(source_mac(p.data));
        Ok(true)
    })?;
    report_errors(&errors);
    Ok((packets, macs.len()))
}

fn run(args: &Args) -> Result<()> {
    let inputs = expand_inputs(&args.inputs);
    if inputs.files.is_empty() {
        bail!("no capture files in {}", describe(&args.inputs));
    }
    eprintln!(
        "make-bench-capture: {} capture files in {}",
        inputs.files.len(),
        describe(&args.inputs)
    );
    let sites = match args.sites {
        Some(n) => n.max(1),
        None => {
            let (packets, macs) = scan(&inputs.files)?;
            if macs == 0 {
                bail!("the inputs hold no Ethernet packet with a unicast source MAC");
            }
            let sites = args.devices.div_ceil(macs as u64).max(1);
            eprintln!(
                "make-bench-capture: the inputs hold {packets} Ethernet packets from {macs} \
                 source MACs: {sites} sites for about {} devices",
                args.devices
            );
            u32::try_from(sites).context("too many sites")?
        }
    };

    let out =
        File::create(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut writer = PcapWriter::new(BufWriter::with_capacity(1 << 20, out), 1)?;
    let mut rewriter = SiteRewriter::new();
    let mut timeline = Timeline::new();
    let mut frame = Vec::new();
    let mut written = 0u64;
    let mut macs = HashSet::new();
    let mut rounds = 0u32;
    while written < args.target_packets {
        let before = written;
        let errors = each_ethernet_packet(&inputs.files, |p, first_in_file| {
            if first_in_file {
                timeline.start_file();
            }
            let ts = timeline.place(p.ts.0);
            for site in 0..sites {
                frame.clear();
                frame.extend_from_slice(p.data);
                rewriter.rewrite(&mut frame, site);
                macs.extend(source_mac(&frame));
                writer.write(ts, p.wire_len, &frame)?;
                written += 1;
                if written >= args.target_packets {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        if rounds == 0 && args.sites.is_some() {
            report_errors(&errors);
        }
        rounds += 1;
        if written == before {
            bail!("the inputs hold no Ethernet packet");
        }
    }
    let bytes = writer.bytes;
    writer
        .finish()
        .with_context(|| format!("cannot write {}", args.out.display()))?;

    println!("{}", args.out.display());
    println!("  packets              {written}");
    println!("  sites                {sites}");
    println!("  rounds               {rounds} (replays of the inputs; the last may be partial)");
    println!("  distinct source MACs {}", macs.len());
    println!(
        "  IPv4 /24 blocks      {}{}",
        rewriter.blocks_used(),
        if rewriter.blocks_exhausted {
            " (10/8 exhausted: some sites share addresses)"
        } else {
            ""
        }
    );
    println!(
        "  file size            {bytes} bytes ({:.1} MB)",
        bytes as f64 / 1e6
    );
    Ok(())
}

fn describe(paths: &[PathBuf]) -> String {
    let names: Vec<_> = paths
        .iter()
        .map(|p| Path::new(p).display().to_string())
        .collect();
    names.join(", ")
}
