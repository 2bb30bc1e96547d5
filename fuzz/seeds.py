#!/usr/bin/env python3
"""Writes seed corpora for mirador's fuzz targets from the captures in
pcaps/, the shipped OUI file and the shipped knowledge base, into
fuzz/corpus/<target>/ (git-ignored: seeds are made at run time, never
committed).

Usage (from anywhere): python3 fuzz/seeds.py [--out DIR]

Standard library only. It reads legacy pcap, pcapng and gzip-compressed
captures well enough to pull frames out; it is not a validating reader.
"""

import argparse
import gzip
import hashlib
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent

# LinkType::SUPPORTED in sensor/src/capture/mod.rs, in order: a selector
# byte is an index into it (see mirador_fuzz::link_type in fuzz/src/lib.rs).
SUPPORTED = [0, 1, 9, 12, 14, 50, 101, 104, 108, 113, 192, 228, 229, 276]

FRAMES_PER_FILE = 16  # decode seeds per capture
WORKER_FRAMES = 64  # frames per worker seed
WORKER_MAX_LEN = 16384  # keep in step with -max_len in README.md
CAPTURE_MAX_LEN = 65536


def read_capture(data):
    """Yields (link_type, ts_ns, frame) for each packet of a capture."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        yield from read_pcap(data, "<", magic[0] == 0x4D)
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        yield from read_pcap(data, ">", magic[3] == 0x4D)
    elif magic == b"\x0a\x0d\x0d\x0a":
        yield from read_pcapng(data)


def read_pcap(data, order, nanos):
    link_type = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    at = 24
    while at + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(order + "IIII", data, at)
        frame = data[at + 16 : at + 16 + incl]
        yield link_type, sec * 10**9 + frac * (1 if nanos else 1000), frame
        at += 16 + incl


def read_pcapng(data):
    order, interfaces, at = "<", [], 0
    while at + 12 <= len(data):
        if data[at : at + 4] == b"\x0a\x0d\x0d\x0a":
            order = "<" if data[at + 8 : at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        kind, length = struct.unpack_from(order + "II", data, at)
        if length < 12:
            return
        body = data[at + 8 : at + length - 4]
        if kind == 1:
            interfaces.append(struct.unpack_from(order + "H", body, 0)[0])
        elif kind == 6 and len(body) >= 20:
            if_id, high, low, incl = struct.unpack_from(order + "IIII", body, 0)
            if if_id < len(interfaces):
                # Microseconds is the default resolution; good enough here.
                ts = ((high << 32) | low) * 1000
                yield interfaces[if_id], ts, body[20 : 20 + incl]
        elif kind == 3 and interfaces:
            yield interfaces[0], 0, body[4:]
        at += length


# dissect seeds: payloads per capture, and their length at most.
DISSECT_PER_FILE = 64
DISSECT_MAX_LEN = 4096


def captures():
    for path in sorted((ROOT / "pcaps").rglob("*")):
        if path.is_file() and path.name.endswith((".pcap", ".pcapng", ".gz")):
            yield path


def ip_payload(link_type, frame):
    """(protocol, IP payload, UDP ports or None) of simple Ethernet, SLL and
    raw IP frames; None for anything else."""
    if link_type == 1:
        ether_type, at = struct.unpack_from(">H", frame, 12)[0], 14
        while ether_type in (0x8100, 0x88A8) and len(frame) >= at + 4:
            ether_type, at = struct.unpack_from(">H", frame, at + 2)[0], at + 4
    elif link_type == 113 and len(frame) >= 16:
        ether_type, at = struct.unpack_from(">H", frame, 14)[0], 16
    elif link_type in (12, 14, 101, 228, 229):
        ether_type, at = (0x86DD if frame[:1] and frame[0] >> 4 == 6 else 0x0800), 0
    else:
        return None
    ip = frame[at:]
    if ether_type == 0x0800 and len(ip) >= 20:
        protocol, payload = ip[9], ip[(ip[0] & 0x0F) * 4 :]
    elif ether_type == 0x86DD and len(ip) >= 40:
        protocol, payload = ip[6], ip[40:]
    else:
        return None
    if protocol == 17 and len(payload) >= 8:
        ports = struct.unpack_from(">HH", payload, 0)
        return protocol, payload[8:], ports
    return protocol, payload, None


def dt_byte(delta_ns):
    """The worker target's time step closest to (not above) `delta_ns`."""
    for scale, unit in enumerate((10**3, 10**6, 10**9, 100 * 10**9)):
        if delta_ns // unit <= 63:
            return scale << 6 | delta_ns // unit
    return 0xFF


def synthetic_ndp():
    mac = bytes.fromhex("0017882476ff")
    target = bytes.fromhex("fe80000000000000021788fffe2476ff")  # fe80::217:88ff:fe24:76ff
    yield bytes([133, 0, 0, 0, 0, 0, 0, 0, 1, 1]) + mac  # RS + source LLA
    yield bytes([134, 0, 0, 0, 64, 0, 7, 8]) + bytes(8) + bytes([1, 1]) + mac  # RA
    yield bytes([135, 0, 0, 0, 0, 0, 0, 0]) + target + bytes([1, 1]) + mac  # NS
    yield bytes([136, 0, 0, 0, 0xE0, 0, 0, 0]) + target + bytes([2, 1]) + mac  # NA
    yield bytes([137, 0, 0, 0, 0, 0, 0, 0]) + target + target + bytes([2, 1]) + mac


def synthetic_dhcp():
    m = bytearray(236)
    m[0:3] = bytes([1, 1, 6])
    m[28:34] = bytes.fromhex("0017882476ff")
    m += bytes([99, 130, 83, 99])
    m += bytes([53, 1, 1, 55, 4, 1, 3, 6, 15, 61, 7, 1]) + bytes.fromhex("0017882476ff")
    m += bytes([50, 4, 192, 168, 1, 23, 0, 0, 255])
    yield bytes(m)
    r = bytearray(m[:240])
    r[0], r[16:20] = 2, bytes([192, 168, 1, 23])
    r += bytes([53, 1, 5, 54, 4, 192, 168, 1, 1, 3, 4, 192, 168, 1, 1, 1, 4, 255, 255, 255, 0, 255])
    yield bytes(r)


def oui_seeds():
    lines = (ROOT / "fingerprints" / "data" / "oui.tsv").read_text().splitlines(True)
    by_len = {6: [], 7: [], 9: []}
    for line in lines:
        prefix = line.split("\t", 1)[0]
        if len(prefix) in by_len and len(by_len[len(prefix)]) < 24:
            by_len[len(prefix)].append(line)
    yield "".join(lines[:12])
    yield "".join(by_len[6] + by_len[7] + by_len[9])
    yield "".join(l.replace("\n", "\r\n") for l in by_len[9])
    yield "# comment\n\n00000C\tCisco Systems, Inc\n70B3D5F2F\t  Acme Co.,Ltd \n0050C2\tIEEE Registration Authority\n"


KB_MAX_LEN = 4096  # keep in step with -max_len in README.md
KB_CHUNK = 1500  # rules text per kb seed, at most


def kb_taxonomy_for(taxonomy, rules):
    """The lines of `taxonomy` that the category labels of `rules` need:
    each label and its ancestors, in the taxonomy's order."""
    needed = set()
    for line in rules.splitlines():
        columns = line.split("\t")
        if len(columns) == 7 and columns[3] == "category":
            parts = columns[4].split("/")
            needed.update("/".join(parts[:n]) for n in range(1, len(parts) + 1))
    return "".join(l for l in taxonomy.splitlines(True) if l.split("\t", 1)[0] in needed)


def kb_seeds():
    """The shipped taxonomy; each rules file in chunks of whole lines (its
    comment header first); each chunk after the part of the taxonomy it
    needs and a NUL (the kb target's taxonomy/rules separator); a small
    hand-made pair."""
    kb = ROOT / "fingerprints" / "data" / "kb"
    taxonomy = (kb / "taxonomy.tsv").read_text()
    yield taxonomy
    for path in sorted((kb / "rules").glob("*.tsv")):
        lines = path.read_text().splitlines(True)
        chunks, chunk = [], "".join(l for l in lines[:8] if l.startswith("#"))
        for line in lines:
            if line.startswith("#"):
                continue
            if len(chunk) + len(line) > KB_CHUNK:
                chunks.append(chunk)
                chunk = ""
            chunk += line
        if chunk.strip():
            chunks.append(chunk)
        for chunk in chunks:
            yield chunk
            yield kb_taxonomy_for(taxonomy, chunk) + "\0" + chunk
    yield (
        "# category\tcriticality\tdescription\nit\t2\tIT\nit/printer\t3\tPrinters\n"
        "\0"
        "mdns.services\tis\t_ipp._tcp.local\tcategory\tit/printer\t0.9\tRFC 8010\r\n"
        "mdns.txt.md\tregex\t^(.+) (\\S+)$\tmodel\t$2 $1\t0.9\tDNS-SD\n"
        "http.server\tcontains\tipbridge\tvendor\tPhilips\t0\tvendor docs\n"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "fuzz" / "corpus")
    args = parser.parse_args()
    seeds = {
        t: {}
        for t in ("decode", "dhcp", "ndp", "worker", "capture_file", "oui", "dissect", "kb")
    }

    def add(target, data):
        if isinstance(data, str):
            data = data.encode()
        seeds[target][hashlib.sha1(data).hexdigest()] = data

    for path in captures():
        raw = path.read_bytes()
        if len(raw) <= CAPTURE_MAX_LEN:
            add("capture_file", raw)
        try:
            packets = list(read_capture(raw))
        except (struct.error, OSError, EOFError):
            continue
        worker = bytearray([0x40 | 2 << 3])
        last_ts = None
        for n, (link_type, ts, frame) in enumerate(packets):
            if link_type not in SUPPORTED:
                continue
            selector = SUPPORTED.index(link_type)
            if n < FRAMES_PER_FILE:
                add("decode", bytes([selector]) + frame)
            if n < WORKER_FRAMES and len(worker) + 4 + len(frame) <= WORKER_MAX_LEN:
                delta = 0 if last_ts is None else max(ts - last_ts, 0)
                worker += bytes([selector, dt_byte(delta)]) + struct.pack(">H", len(frame))
                worker += frame
                last_ts = ts
            parsed = ip_payload(link_type, frame)
            if parsed is None:
                continue
            protocol, payload, ports = parsed
            # dissect: [selector, flags, message]; the selector varies so
            # that unpinned runs show each message to several parsers.
            if payload and n < DISSECT_PER_FILE:
                if protocol == 17:
                    add("dissect", bytes([n % 256, 1]) + payload[:DISSECT_MAX_LEN])
                elif protocol == 6 and len(payload) > 20:
                    tcp_payload = payload[(payload[12] >> 4) * 4 :]
                    if tcp_payload:
                        add("dissect", bytes([n % 256, 3]) + tcp_payload[:DISSECT_MAX_LEN])
            if ports and {67, 68} & set(ports):
                add("dhcp", payload)
                add("decode", bytes([selector]) + frame)
            if protocol == 58 and payload[:1] and 133 <= payload[0] <= 137:
                add("ndp", payload)
                add("decode", bytes([selector]) + frame)
        if len(worker) > 1:
            add("worker", worker)
            # The same frames, the second one at the end of time (dt 0xff).
            second = 1 + 4 + struct.unpack_from(">H", worker, 3)[0]
            if second + 1 < len(worker):
                late = bytearray(worker)
                late[second + 1] = 0xFF
                add("worker", late)
    for data in synthetic_dhcp():
        add("dhcp", data)
    for data in synthetic_ndp():
        add("ndp", data)
    for text in oui_seeds():
        add("oui", text)
    for text in kb_seeds():
        assert len(text.encode()) <= KB_MAX_LEN
        add("kb", text)

    for target, files in seeds.items():
        out = args.out / target
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / f"seed-{name}").write_bytes(data)
        print(f"{target}: {len(files)} seeds in {out}")


if __name__ == "__main__":
    main()
