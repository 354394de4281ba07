#!/usr/bin/env python3
"""Recreate the fuzz seed corpora from the protocol's golden vectors.

Reads the golden vectors in crates/netipc/tests/data/ and writes one file per
seed into fuzz/corpus/<target>/ (git-ignored). Saved crash inputs under
fuzz/regressions/<target>/ are copied in too, so every run replays them first.

Existing corpus files are kept: libFuzzer adds what it finds to the same
directories, and seeding again only (re)writes the seed files.

Only the Python 3 standard library is used.
"""

import json
import pathlib
import shutil
import struct
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
DATA = FUZZ.parent / "crates" / "netipc" / "tests" / "data"
VECTORS = DATA / "netipc-v1-vectors.json"
LOOKUP_VECTORS = DATA / "netipc-v1-lookup-vectors.json"
TARGETS = [
    "header",
    "chunk_header",
    "hello",
    "hello_ack",
    "batch_view",
    "string_reverse",
    "snapshot_view",
    "cgroups_lookup_request",
    "cgroups_lookup_response",
    "apps_lookup_request",
    "apps_lookup_response",
]

# Vectors were recorded on a little-endian host and the protocol uses native
# byte order; the batch target reads its item count in native order too.
if sys.byteorder != "little":
    sys.exit("seed.py: the golden vectors are little-endian; this host is not")


def main() -> int:
    vectors = {v["name"]: v for v in json.loads(VECTORS.read_text())}
    seeds = {t: {} for t in TARGETS}

    def raw(name):
        v = vectors[name]
        data = bytes.fromhex(v["hex"])
        if len(data) != v["len"]:
            raise SystemExit(f"seed.py: vector {name}: hex is not {v['len']} bytes")
        return data

    for name, v in vectors.items():
        data = raw(name)
        if name.startswith("header_") or name.startswith("frame_"):
            # A whole frame is a header followed by payload bytes the header
            # decoder must ignore.
            seeds["header"][name] = data
        if name.startswith("chunk_"):
            seeds["chunk_header"][name] = data
        if name.startswith("string_reverse_"):
            seeds["string_reverse"][name] = data
        if name.startswith("cgroups_snapshot_response_"):
            seeds["snapshot_view"][name] = data
        if v["layer"] == "batch":
            count = v["inputs"]["item_count"]
            seeds["batch_view"][name] = struct.pack("<I", count) + data
        if name.startswith("frame_"):
            # Frame = 32-byte header + payload; feed the payload on.
            header, payload = data[:32], data[32:]
            item_count = struct.unpack_from("<I", header, 20)[0]
            flags = struct.unpack_from("<H", header, 10)[0]
            inner = v["inputs"]["payload_vector"]
            if flags & 1:
                seeds["batch_view"][name] = struct.pack("<I", item_count) + payload
            elif inner in ("hello", "hello_ack"):
                seeds[inner][name] = payload

    # Lookup payloads (valid and invalid) seed the decoder of their method
    # and payload kind; frames are covered by their payload vectors.
    for v in json.loads(LOOKUP_VECTORS.read_text()):
        data = bytes.fromhex(v["hex"])
        if len(data) != v["len"]:
            raise SystemExit(f"seed.py: vector {v['name']}: hex is not {v['len']} bytes")
        if v["payload"] == "frame":
            continue
        method = {"CGROUPS_LOOKUP": "cgroups_lookup", "APPS_LOOKUP": "apps_lookup"}[v["method"]]
        seeds[f"{method}_{v['payload']}"][v["name"]] = data

    seeds["hello"]["hello"] = raw("hello")
    seeds["hello_ack"]["hello_ack"] = raw("hello_ack")

    for target, files in seeds.items():
        if not files:
            raise SystemExit(f"seed.py: no seed found for {target}")
        out = FUZZ / "corpus" / target
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / f"seed-{name}").write_bytes(data)
        regressions = FUZZ / "regressions" / target
        count = 0
        if regressions.is_dir():
            for path in sorted(regressions.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    shutil.copyfile(path, out / f"regression-{path.name}")
                    count += 1
        print(f"seeded {target}: {len(files)} vectors, {count} regressions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
