#!/usr/bin/env python3
"""Copy cells of a real miglab run into a judging fixture (tests/data/judge/).

    tests/tools/record-judge-fixture.py [--with-abi] RUN_DIR FIXTURE_DIR CELL_ID...

Keeps what the judging stage reads and stays small: run.json's facts, each
attempt's attempt.json, QEMU stderr and the guest consoles (their last 64 KiB).
ABI dumps, QMP transcripts, probe logs and streams are left out, and their
keys removed from attempt.json "logs", so the fixture says exactly what it
holds; --with-abi keeps the ABI dumps (abi-<phase>.json, about 50 KB each). The judgement files (cell.json, run.json's judged part) are not
copied: the tests judge the fixture themselves."""
import json
import os
import shutil
import sys

KEEP_PREFIXES = ("console_", "qemu_stderr_")
TAIL = 64 << 10


def copy_tail(src, dst):
    with open(src, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - TAIL))
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data)


def main():
    args = sys.argv[1:]
    with_abi = bool(args) and args[0] == "--with-abi"
    if with_abi:
        args = args[1:]
    if len(args) < 3:
        sys.exit(__doc__)
    run, out, cells = args[0], args[1], args[2:]
    keep = KEEP_PREFIXES + (("abi_boot-src", "abi_live-dst", "abi_reboot-dst", "abi_back-src") if with_abi else ())
    os.makedirs(os.path.join(out, "cells"), exist_ok=True)
    with open(os.path.join(run, "run.json")) as f:
        facts = json.load(f)
    for k in ("cells", "counts", "judgements", "unsound_builds", "judged_at"):
        facts.pop(k, None)
    with open(os.path.join(out, "run.json"), "w") as f:
        json.dump(facts, f, indent=2, sort_keys=True)
    for cell in cells:
        src = os.path.join(run, "cells", cell, "attempts")
        for n in sorted(os.listdir(src), key=int):
            a_src = os.path.join(src, n)
            a_dst = os.path.join(out, "cells", cell, "attempts", n)
            os.makedirs(a_dst, exist_ok=True)
            with open(os.path.join(a_src, "attempt.json")) as f:
                doc = json.load(f)
            logs = doc.get("logs", {})
            for key in list(logs):
                name = logs[key]
                if key.startswith(keep) and os.path.exists(os.path.join(a_src, name)):
                    if key.startswith("abi_"):
                        shutil.copyfile(os.path.join(a_src, name), os.path.join(a_dst, name))
                    else:
                        copy_tail(os.path.join(a_src, name), os.path.join(a_dst, name))
                else:
                    del logs[key]
            with open(os.path.join(a_dst, "attempt.json"), "w") as f:
                json.dump(doc, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
