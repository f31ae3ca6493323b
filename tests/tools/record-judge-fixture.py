#!/usr/bin/env python3
"""Copy cells of a real miglab run into a judging fixture (tests/data/judge/).

    tests/tools/record-judge-fixture.py RUN_DIR FIXTURE_DIR CELL_ID...

Keeps what the judging stage reads and stays small: run.json's facts, each
attempt's attempt.json, QEMU stderr and the guest consoles (their last 64 KiB).
ABI dumps, QMP transcripts, probe logs and streams are left out, and their
keys removed from attempt.json "logs", so the fixture says exactly what it
holds. The judgement files (cell.json, run.json's judged part) are not
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
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    run, out, cells = sys.argv[1], sys.argv[2], sys.argv[3:]
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
                if key.startswith(KEEP_PREFIXES) and os.path.exists(os.path.join(a_src, name)):
                    copy_tail(os.path.join(a_src, name), os.path.join(a_dst, name))
                else:
                    del logs[key]
            with open(os.path.join(a_dst, "attempt.json"), "w") as f:
                json.dump(doc, f, indent=2, sort_keys=True)


if __name__ == "__main__":
    main()
