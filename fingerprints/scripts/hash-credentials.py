#!/usr/bin/env python3
"""Turns a list of default credentials into lines of
fingerprints/data/default-credentials.tsv, so that no password is ever
written to the repository.

Input (stdin), one credential a line, tab-separated:
    USER<TAB>PASSWORD<TAB>VENDOR<TAB>SOURCE
(an empty PASSWORD is a blank password; an empty VENDOR is "-": the
source names no vendor). Output (stdout):
    SHA256(USER \\0 PASSWORD)<TAB>VENDOR<TAB>SOURCE
one line per distinct credential; when two input lines name the same
credential their vendors and sources are merged. Sorted by vendor, then hash,
so that the file diffs well.
"""
import hashlib
import sys

merged = {}
for number, line in enumerate(sys.stdin, 1):
    line = line.rstrip("\r\n")
    if not line or line.startswith("#"):
        continue
    fields = line.split("\t")
    if len(fields) != 4:
        sys.exit(f"line {number}: expected USER<TAB>PASSWORD<TAB>VENDOR<TAB>SOURCE")
    user, password, vendor, source = fields
    digest = hashlib.sha256(user.encode() + b"\0" + password.encode()).hexdigest()
    vendors, sources = merged.setdefault(digest, ([], []))
    for value, into in ((vendor, vendors), (source, sources)):
        for part in value.split(", "):
            if part and part not in into:
                into.append(part)

rows = sorted(merged.items(), key=lambda kv: (", ".join(kv[1][0]).lower(), kv[0]))
for digest, (vendors, sources) in rows:
    print(f"{digest}\t{', '.join(vendors) or '-'}\t{', '.join(sources)}")
