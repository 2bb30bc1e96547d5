#!/usr/bin/env python3
"""Rebuild fingerprints/data/oui.tsv from the IEEE Registration Authority's public listings.

Usage:
  refresh-oui.py                     download MA-L, MA-M, MA-S and IAB from standards-oui.ieee.org
  refresh-oui.py FILE_OR_DIR ...     use local copies instead (IEEE CSV files such as oui.csv,
                                     mam.csv, oui36.csv, iab.csv, e.g. /usr/share/ieee-data from
                                     Debian's ieee-data package, or IEEE's oui.txt listing)

Later inputs override earlier ones for the same prefix, so list the freshest source last.
Entries registered as "Private" carry no vendor and are left out.
"""
import csv, datetime, io, os, sys, urllib.request

IEEE = [
    "https://standards-oui.ieee.org/iab/iab.csv",
    "https://standards-oui.ieee.org/oui/oui.csv",
    "https://standards-oui.ieee.org/oui28/mam.csv",
    "https://standards-oui.ieee.org/oui36/oui36.csv",
]
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "oui.tsv")


def entries(name, text):
    """Yield (hex prefix, organization) from an IEEE CSV or oui.txt listing."""
    if "(base 16)" in text:
        for line in text.splitlines():
            if "(base 16)" in line:
                prefix, _, org = line.partition("(base 16)")
                yield prefix.strip().upper(), org.strip()
        return
    for row in csv.DictReader(io.StringIO(text)):
        yield row["Assignment"].strip().upper(), row["Organization Name"].strip()


def read(src):
    if src.startswith("https://"):
        req = urllib.request.Request(src, headers={"User-Agent": "mirador refresh-oui"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode("utf-8", "replace")
    with open(src, encoding="utf-8", errors="replace") as f:
        return f.read()


def main(args):
    sources = []
    for a in args or IEEE:
        if os.path.isdir(a):
            order = ["iab.csv", "oui.csv", "mam.csv", "oui36.csv"]
            sources += [os.path.join(a, f) for f in order if os.path.exists(os.path.join(a, f))]
        else:
            sources.append(a)
    table = {}
    for src in sources:
        n = 0
        for prefix, org in entries(src, read(src)):
            if len(prefix) not in (6, 7, 9) or not org or org.lower() == "private":
                continue
            int(prefix, 16)  # reject anything that is not hex
            table[prefix] = " ".join(org.replace("\t", " ").split())
            n += 1
        print(f"{src}: {n} entries", file=sys.stderr)
    with open(OUT, "w", encoding="utf-8") as out:
        out.write("# IEEE Registration Authority MAC address blocks: MA-L (6 hex digits), MA-M (7), MA-S and IAB (9).\n")
        out.write(f"# Built {datetime.date.today()} by fingerprints/scripts/refresh-oui.py from:\n")
        for src in sources:
            out.write(f"#   {src}\n")
        out.write("# Format: PREFIX<TAB>ORGANIZATION, sorted by prefix. See fingerprints/data/README.md.\n")
        for prefix in sorted(table):
            out.write(f"{prefix}\t{table[prefix]}\n")
    print(f"wrote {len(table)} blocks to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
