//! DNP3 over TCP or UDP: the link addresses a station uses tell outstation
//! from master, and the application function codes tell what a master
//! does to an outstation (reads, operates, restarts, file transfers).

use super::cursor::{Cursor, insert_bounded, summarise};
use super::{About, Carrier, Context, Dissector, Finding, Knowledge, Parse, ParseError, Progress};

pub const DISSECTORS: &[Dissector] = &[
    Dissector {
        name: "dnp3",
        probe: probe_tcp,
        parse: Parse::Stream(parse_stream),
    },
    Dissector {
        name: "dnp3",
        probe: probe_udp,
        parse: Parse::Message(parse_datagram),
    },
];

const PORT: u16 = 20000;
/// Link frames read per stream direction or datagram.
const MAX_FRAMES: usize = 256;
/// Distinct addresses and function codes kept.
const MAX_CODES: usize = 32;

fn probe_tcp(ctx: &Context, first: &[u8]) -> bool {
    ctx.carrier == Carrier::Tcp && ctx.either_port(&[PORT]) && first.starts_with(&[0x05, 0x64])
}

fn probe_udp(ctx: &Context, first: &[u8]) -> bool {
    ctx.carrier == Carrier::Udp && ctx.either_port(&[PORT]) && first.starts_with(&[0x05, 0x64])
}

#[derive(Debug, Default)]
struct Summary {
    frames: usize,
    sources: Vec<u16>,
    destinations: Vec<u16>,
    function_codes: Vec<u8>,
}

fn parse_stream(
    _knowledge: &Knowledge,
    _ctx: &Context,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<Finding>,
) -> Result<Progress, ParseError> {
    summarise(
        bytes,
        last,
        MAX_FRAMES,
        "DNP3 link header",
        |b, summary: &mut Summary| {
            let error = read_frames(b, summary).err();
            (summary.frames, error)
        },
        report,
        out,
    )
}

fn parse_datagram(
    _knowledge: &Knowledge,
    _ctx: &Context,
    bytes: &[u8],
    out: &mut Vec<Finding>,
) -> Result<(), ParseError> {
    let mut summary = Summary::default();
    let error = read_frames(bytes, &mut summary).err();
    if summary.frames == 0 {
        return Err(error.unwrap_or(ParseError::Truncated("DNP3 link header")));
    }
    report(&summary, out);
    Ok(())
}

fn read_frames(bytes: &[u8], summary: &mut Summary) -> Result<(), ParseError> {
    let mut cur = Cursor::new(bytes);
    while cur.remaining() > 0 && summary.frames < MAX_FRAMES {
        let mut frame = cur;
        if frame.u16be("start bytes")? != 0x0564 {
            return Err(ParseError::Malformed("DNP3 start bytes"));
        }
        let length = usize::from(frame.u8("link length")?);
        if length < 5 {
            return Err(ParseError::Malformed("DNP3 link length"));
        }
        let _control = frame.u8("link control")?;
        let destination = frame.u16le("destination")?;
        let source = frame.u16le("source")?;
        frame.skip(2, "header CRC")?;
        // User data in blocks of up to 16 bytes, each followed by a CRC.
        let data_length = length - 5;
        let with_crcs = data_length + 2 * data_length.div_ceil(16);
        let data = frame.take(with_crcs, "DNP3 user data")?;
        cur = frame;
        summary.frames += 1;
        insert_bounded(&mut summary.sources, source, MAX_CODES);
        insert_bounded(&mut summary.destinations, destination, MAX_CODES);
        // The first block: transport header, application control, function.
        if let Some(&[transport, _app_control, function]) = data.get(..3)
            && transport & 0x40 != 0
            && data_length >= 3
        {
            insert_bounded(&mut summary.function_codes, function, MAX_CODES);
        }
    }
    Ok(())
}

fn report(summary: &Summary, out: &mut Vec<Finding>) {
    let mut f = Finding::new("dnp3", About::Sender);
    f.set("src_addresses", summary.sources.clone())
        .set("dst_addresses", summary.destinations.clone());
    if !summary.function_codes.is_empty() {
        f.set("function_codes", summary.function_codes.clone());
    }
    out.push(f);
}

#[cfg(test)]
mod tests;
