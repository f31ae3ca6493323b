#!/usr/bin/env python3
"""Regenerate tests/data/web/results/: three small runs of the matrix
"fixture" for the dashboard's tests (tests/unit/test-web.c and
tests/web/). The first two are in the shape before the judging stage
(miglab-cell/1, evidence beside cell.json); the third is judged
(miglab-cell/2: attempts/<N>/, categories, a build failing its own control).
A fourth run, of another matrix, has ABI severities: run.json machine_abi
(a break, a warn and an info entry, listed info first), cells with an "abi"
judgement, a failure explained by the machine type, and findings that do or
do not put a passing cell in the attention list.
Run from this directory; the output is committed."""
import json, os, shutil

HOSTILE = "<script>alert(1)</script> \"quoted\" 'single' </textarea></pre><img src=x onerror=alert(2)>"
BUILDS = {
    "bookworm": ("debian:bookworm", "7.2.22", "1:7.2+dfsg-7+deb12u18+b3", "1493008b" * 8),
    "trixie": ("debian:trixie", "10.0.13", "1:10.0.13+ds-0+deb13u1", "a1b2c3d4" * 8),
}

# run.json "host": the old run in the shape before the fingerprint (no CPU
# numbers, flags or accel: the page says "unknown" and takes the run's accel);
# the new run a whole fingerprint (results/host.h) with one hostile flag.
HOST_OLD = {"arch": "x86_64", "cpus": 2, "hostname": "ci", "kernel": "6.1.0", "kvm_device": False,
            "cpu_model": "QEMU Virtual CPU", "memory": "8000000 kB"}
HOST_NEW = dict(HOST_OLD, cpu_vendor="GenuineIntel", cpu_family=6, cpu_model_number=106, cpu_stepping=6,
                cpu_microcode="0xd0003a5", cpu_model="Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
                cpu_flags=sorted(["fpu", "sse2", "avx2", "vmx", HOSTILE]), accel="tcg")

def build(name):
    p, v, pv, sha = BUILDS[name]
    return {"kind": "debian", "name": name, "provider": p, "version": v, "package_version": pv,
            "sha256": sha, "suite": name, "qemu": "/usr/bin/qemu-system-x86_64"}

def argv(side, machine):
    a = ["/usr/bin/qemu-system-x86_64", "-name", "guest=miglab-%s" % side, "-machine", machine,
         "-accel", "tcg", "-m", "256", "-append", "console=ttyS0 panic=-1 quiet"]
    if side != "src":
        a += ["-incoming", "defer"]
    return a

ABI_DIFFS = [
    {"section": "acpi", "key": "APIC revision", "what": "changed", "before": "1", "after": "3", "detail": None},
    {"section": "acpi", "key": "APIC content", "what": "changed", "before": "120 bytes", "after": "120 bytes",
     "detail": "bytes that differ: 0x8 (revision), 0x9 (checksum)\n-[008h 0008   1]  Revision : 01\n+[008h 0008   1]  Revision : 03\n"},
]

def cell(run_id, cid, src, dst, machine, kernel, verdict, reason, failure=None, findings=(),
         known=None, evidence_logs=None, phases_fail=None):
    phases = [{"name": "boot-src", "status": "pass", "start_ms": 1, "duration_ms": 9000,
               "figures": {"boot_to_hello_ms": 8700, "workload_start_ms": 300}}]
    if verdict == "skip":
        phases = [{"name": "plan", "status": "skip", "start_ms": 0, "duration_ms": 0, "figures": {}}]
    else:
        fwd_status = "fail" if phases_fail == "migrate-forward" else "pass"
        phases.append({"name": "migrate-forward", "status": fwd_status, "start_ms": 9001, "duration_ms": 1500,
                       "figures": {"status": "completed", "total-time": 1024, "downtime": 98,
                                   "setup-time": 1, "ram-transferred": 162311189, "ram-mbps": 1269.29}})
        if fwd_status == "fail":
            phases[-1]["error"] = failure.get("evidence") if failure else "failed"
        else:
            phases.append({"name": "reboot-dst", "status": "pass", "start_ms": 10600, "duration_ms": 4000,
                           "figures": {"reset_to_hello_ms": 3900, "abi_differences": 2 if findings else 0}})
            phases.append({"name": "migrate-back", "status": "fail" if phases_fail == "migrate-back" else "pass",
                           "start_ms": 14700, "duration_ms": 1300,
                           "figures": {"status": "completed", "total-time": 900, "downtime": 60}})
            if phases_fail == "migrate-back":
                phases[-1]["error"] = failure.get("evidence") if failure else "failed"
    doc = {
        "schema": "miglab-cell/1", "cell_id": cid, "run_id": run_id, "started_at": "2026-11-01T00:00:00Z",
        "state": "done", "verdict": verdict, "reason": reason,
        "inputs": {"src": build(src), "dst": build(dst), "machine": machine, "kernel": "debian:" + kernel,
                   "guest": {"kernel_release": "6.1.0-50-amd64" if kernel == "bookworm" else "6.12.9-amd64",
                             "kernel_package_version": "6.1.176-1"},
                   "scenario": "forward-back", "accel": "tcg", "memory_mib": 256, "workload_mib": 64,
                   "runner": "local", "extra_args": {"src": [], "dst": []}},
        "machine": machine, "accel": "tcg", "accel_actual": "tcg", "phases": phases,
        "findings": list(findings),
        "commands": {"src": argv("src", machine), "dst": argv("dst", machine)},
        "logs": {"qemu_stderr_src": "qemu-src.stderr", "qemu_stderr_dst": "qemu-dst.stderr",
                 "console_src": "console-src.log", "console_dst": "console-dst.log",
                 "qmp_src": "qmp-src.log", "qmp_dst": "qmp-dst.log"},
        "exit_src": "exited with status 0", "exit_dst": "exited with status 0", "wall_ms": 16500,
    }
    if verdict == "skip":
        doc["commands"] = {}
        doc["logs"] = {}
    if failure:
        doc["failure"] = failure
    if known:
        doc["known_issue"] = known
    logs = {
        "qemu-src.stderr": b"",
        "qemu-dst.stderr": b"qemu-system-x86_64: warning: Machine type is deprecated\n",
        "console-src.log": b"[    0.000000] Linux version 6.1.0-50-amd64\nmiglab-probe: ready\n",
        "console-dst.log": b"miglab-probe: ready\n",
        "qmp-src.log": b'+0.073 < {"QMP": {"version": {}}}\n+0.073 > {"execute":"qmp_capabilities","id":1}\n',
        "qmp-dst.log": b'+0.070 < {"return": {}, "id": 1}\n',
    }
    if evidence_logs:
        logs.update(evidence_logs)
    return doc, logs

def judged(doc, logs, category, attempts, unsound=None, direction=None):
    """A cell in the judged shape: evidence in attempts/<N>/, its judgement in cell.json."""
    doc["schema"] = "miglab-cell/2"
    doc["category"] = category
    doc["evidence_dir"] = "attempts/1"
    doc["attempts"] = [{"attempt": n + 1, "verdict": v, "outcome": v, "reason": doc["reason"],
                        "class": doc.get("failure", {}).get("class") if v == "fail" else None,
                        "lossless_capture": n > 0, "wall_ms": 16500, "dir": "attempts/%d" % (n + 1)}
                       for n, v in enumerate(attempts)]
    failed = sum(1 for v in attempts if v == "fail")
    doc["repeat"] = {"kind": "single" if len(attempts) == 1 else "deterministic" if failed == len(attempts)
                     else "intermittent" if failed else "none-failed",
                     "attempts": len(attempts), "judged": len(attempts), "failed": failed, "lab_errors": 0,
                     "text": "%d of %d attempt(s) failed" % (failed, len(attempts))}
    doc["control"] = doc["inputs"]["src"]["provider"] == doc["inputs"]["dst"]["provider"]
    if unsound:
        doc["unsound"] = unsound
    if direction:
        doc["failure"]["direction"] = direction
    doc["_attempt_dir"] = "attempts/1"
    return doc, logs

def write_run(root, run_id, started, cells, host, extra=None):
    rdir = os.path.join(root, run_id)
    os.makedirs(os.path.join(rdir, "cells"))
    counts = {}
    summary = []
    for doc, logs in cells:
        cdir_name = doc.get("_dir", doc["cell_id"])
        doc.pop("_dir", None)
        cdir = os.path.join(rdir, "cells", cdir_name)
        edir = os.path.join(cdir, doc.pop("_attempt_dir", ""))
        os.makedirs(edir, exist_ok=True)
        with open(os.path.join(cdir, "cell.json"), "w") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
        for name in doc["logs"].values():
            with open(os.path.join(edir, name), "wb") as f:
                f.write(logs.get(name, b""))
        counts[doc["verdict"]] = counts.get(doc["verdict"], 0) + 1
        summary.append({"cell_id": doc["cell_id"], "verdict": doc["verdict"], "src": doc["inputs"]["src"]["provider"],
                        "dst": doc["inputs"]["dst"]["provider"], "machine": doc["machine"],
                        "kernel": doc["inputs"]["kernel"], "wall_ms": doc["wall_ms"]})
        if "category" in doc:
            summary[-1]["category"] = doc["category"]
    run = {"schema": "miglab-run/1", "run_id": run_id, "kind": "matrix", "state": "done",
           "started_at": started, "matrix": {"name": "fixture", "path": "/work/main/matrix/fixture.ini",
                                             "sha256": "0f" * 32},
           "builds": {n: build(n) for n in BUILDS},
           "kernels": {"bookworm": {"kernel_release": "6.1.0-50-amd64", "kernel_package": "linux-image-6.1.0-50-amd64",
                                    "kernel_package_version": "6.1.176-1"}},
           "host": host,
           "counts": counts, "cells": summary, "wall_ms": 60000, "accel": "tcg"}
    if extra:
        run.update(extra)
    with open(os.path.join(rdir, "run.json"), "w") as f:
        json.dump(run, f, indent=2, sort_keys=True)

def main():
    root = "results"
    shutil.rmtree(root, ignore_errors=True)
    ids = {
        "ctl": "bookworm-to-bookworm-pc-q35-7.2-k-bookworm-11111111",
        "fwd": "bookworm-to-trixie-pc-q35-7.2-k-bookworm-22222222",
        "fx": "bookworm-to-trixie-pc-i440fx-7.2-k-bookworm-33333333",
        "back": "trixie-to-bookworm-pc-q35-7.2-k-bookworm-44444444",
        "skip": "trixie-to-bookworm-pc-q35-10.0-k-bookworm-55555555",
    }
    old = [
        cell("20261101-000000-aaaa", ids["ctl"], "bookworm", "bookworm", "pc-q35-7.2", "bookworm", "pass", "both migrations passed"),
        cell("20261101-000000-aaaa", ids["fwd"], "bookworm", "trixie", "pc-q35-7.2", "bookworm", "pass", "both migrations passed"),
        cell("20261101-000000-aaaa", ids["fx"], "bookworm", "trixie", "pc-i440fx-7.2", "bookworm", "fail",
             "the destination rejected the migration stream",
             failure={"phase": "migrate-forward", "evidence": "load of migration failed: Invalid argument",
                      "class": "destination-rejected-stream", "title": "The destination rejected the stream",
                      "matched": "dst stderr: load of migration failed: Invalid argument"},
             phases_fail="migrate-forward"),
        cell("20261101-000000-aaaa", ids["back"], "trixie", "bookworm", "pc-q35-7.2", "bookworm", "pass", "both migrations passed"),
        cell("20261101-000000-aaaa", ids["skip"], "trixie", "bookworm", "pc-q35-10.0", "bookworm", "skip",
             "machine type pc-q35-10.0 is missing on debian:bookworm"),
    ]
    abi = {"kind": "abi-change", "phase": "reboot-dst", "against": "boot-src", "severity": "warn", "count": 2,
           "first": "APIC revision", "summary": "ACPI APIC revision: 1 -> 3", "differences": ABI_DIFFS}
    vm = {"kind": "vmstate", "severity": "warn", "errors": 1, "check_ms": 12,
          "forward": {"errors": 1, "warnings": 0, "first": {"severity": "error", "device": "virtio-net",
                                                               "message": "subsection virtio-net/uso unknown"}},
          "back": {"errors": 0, "warnings": 0}}
    hostile_id = "evil-" + HOSTILE
    new = [
        cell("20261102-000000-bbbb", ids["ctl"], "bookworm", "bookworm", "pc-q35-7.2", "bookworm", "pass", "both migrations passed"),
        cell("20261102-000000-bbbb", ids["fwd"], "bookworm", "trixie", "pc-q35-7.2", "bookworm", "fail",
             "the destination rejected the migration stream",
             failure={"phase": "migrate-forward", "evidence": "Unknown subsection virtio-net/uso",
                      "class": "subsection-unknown", "title": "A subsection the destination does not know",
                      "matched": "dst stderr: qemu-system-x86_64: error while loading state for instance 0x0 of device 'virtio-net'",
                      "device": "virtio-net", "field": "uso"},
             findings=[abi, vm], phases_fail="migrate-forward"),
        cell("20261102-000000-bbbb", ids["fx"], "bookworm", "trixie", "pc-i440fx-7.2", "bookworm", "xfail",
             "known issue i440fx-acpi: the destination rejected the migration stream",
             failure={"phase": "migrate-forward", "evidence": "load of migration failed: Invalid argument",
                      "class": "destination-rejected-stream", "title": "The destination rejected the stream"},
             known={"id": "i440fx-acpi", "note": "fixed in 10.1", "link": "https://gitlab.com/qemu-project/qemu/-/issues/1",
                    "fixup": None},
             phases_fail="migrate-forward"),
        cell("20261102-000000-bbbb", ids["back"], "trixie", "bookworm", "pc-q35-7.2", "bookworm", "pass", "both migrations passed"),
        cell("20261102-000000-bbbb", ids["skip"], "trixie", "bookworm", "pc-q35-10.0", "bookworm", "skip",
             "machine type pc-q35-10.0 is missing on debian:bookworm"),
    ]
    doc, logs = cell("20261102-000000-bbbb", hostile_id, "trixie", "trixie", "pc-q35-7.2", "bookworm", "fail",
                     "hostile guest: " + HOSTILE,
                     failure={"phase": "migrate-forward",
                              "evidence": HOSTILE + " ctl:\u0001\u001b[31m\u007f\u0085 end",
                              "class": "unclassified", "title": "Nothing in the catalogue matched"},
                     phases_fail="migrate-forward",
                     evidence_logs={"console-dst.log": b"boot\n" + HOSTILE.encode() +
                                    b"\nbad utf8: \xff\xfe \xc0\xaf \xed\xa0\x80 nul:\x00 esc:\x1b[2J\r\nend\n",
                                    "qemu-dst.stderr": b"qemu: " + HOSTILE.encode() + b"\n"})
    doc["_dir"] = "trixie-to-trixie-pc-q35-7.2-k-bookworm-66666666"
    doc["commands"]["dst"].append("--evil=" + HOSTILE)
    doc["inputs"]["extra_args"]["dst"] = ["-device", "x,id='$(reboot)'"]
    new.append((doc, logs))
    write_run(root, "20261101-000000-aaaa", "2026-11-01T00:00:00Z", old, HOST_OLD)
    write_run(root, "20261102-000000-bbbb", "2026-11-02T00:00:00Z", new, HOST_NEW)

    # Judged: 7.2.22 fails migrating to itself in 2 of 3 attempts here, and
    # the forward cell fails the same way (source-unsound), which is neither a
    # new failure nor a fix against the run before; i440fx fails every time.
    run3 = "20261103-000000-cccc"
    panic = {"phase": "migrate-forward", "evidence": "boot_id before: a, after: b",
             "class": "guest-panicked", "title": "The guest kernel panicked", "family": "guest-state-lost",
             "matched": "dst console: Kernel panic - not syncing: Fatal exception in interrupt",
             "oops": "general protection fault ...\nRIP: 0010:rb_next+0x14/0x50"}
    unsound = {"role": "source", "build": "debian:bookworm", "version": "7.2.22", "family": "guest-state-lost",
               "control": ids["ctl"], "control_failed": 2, "control_attempts": 3,
               "text": "QEMU 7.2.22 (debian:bookworm) fails migrating to itself the same way here "
                       "(guest-state-lost, 2 of 3 attempts of its control cell): a defect of that build "
                       "on this host, not of the pair"}
    fwd_dir = {"migration": "forward", "from": "debian:bookworm", "from_version": "7.2.22",
               "to": "debian:trixie", "to_version": "10.0.13",
               "text": "debian:bookworm (QEMU 7.2.22) -> debian:trixie (QEMU 10.0.13)"}
    judged_cells = [
        judged(*cell(run3, ids["ctl"], "bookworm", "bookworm", "pc-q35-7.2", "bookworm", "fail",
                     "intermittent (2 of 3 attempts failed): the guest rebooted during migration",
                     failure=dict(panic), phases_fail="migrate-forward"),
               "intermittent", ["fail", "pass", "fail"]),
        judged(*cell(run3, ids["fwd"], "bookworm", "trixie", "pc-q35-7.2", "bookworm", "fail",
                     "deterministic (3 of 3 attempts failed): the guest rebooted during migration",
                     failure=dict(panic), phases_fail="migrate-forward"),
               "source-unsound", ["fail", "fail", "fail"], unsound=unsound, direction=fwd_dir),
        judged(*cell(run3, ids["fx"], "bookworm", "trixie", "pc-i440fx-7.2", "bookworm", "fail",
                     "deterministic (3 of 3 attempts failed): the destination rejected the migration stream",
                     failure={"phase": "migrate-forward", "evidence": "load of migration failed: Invalid argument",
                              "class": "destination-rejected-stream", "title": "The destination rejected the stream"},
                     phases_fail="migrate-forward"),
               "fail", ["fail", "fail", "fail"], direction=fwd_dir),
        judged(*cell(run3, ids["back"], "trixie", "bookworm", "pc-q35-7.2", "bookworm", "pass",
                     "forward and back migrations passed"), "pass", ["pass"]),
        judged(*cell(run3, ids["skip"], "trixie", "bookworm", "pc-q35-10.0", "bookworm", "skip",
                     "machine type pc-q35-10.0 is missing on debian:bookworm"), "skip", ["skip"]),
    ]
    extra = {"judgements": {"intermittent": 1, "source-unsound": 1, "fail": 1, "pass": 1, "skip": 1},
             "unsound_builds": [{"build": "debian:bookworm", "version": "7.2.22", "attempts": 3, "failed": 2,
                                 "classes": {"guest-panicked": 2}, "controls": [ids["ctl"]], "explains": 1,
                                 "text": "QEMU 7.2.22 (debian:bookworm) fails migrating to itself here: 2 of 3 "
                                         "attempts (guest-panicked 2); it explains 1 other cell(s)"}],
             "confirm": 2}
    write_run(root, run3, "2026-11-03T00:00:00Z", judged_cells, HOST_NEW, extra)
    abi_run(root)

def vq_diff(dev, q, before, after, key=None):
    return {"section": "virtio", "key": key or "%s queue %d size" % (dev, q), "what": "changed",
            "before": before, "after": after, "detail": None, "kind": "virtio-queue", "severity": "error"}

def graded(diffs, kind, severity):
    return [dict(d, kind=kind, severity=severity) for d in diffs]

def kinds_of(diffs):
    rank = ["none", "info", "warn", "error", "fail"]
    out = {}
    for d in diffs:
        k = out.setdefault(d["kind"], {"severity": "none", "count": 0})
        k["count"] += 1
        if rank.index(d["severity"]) > rank.index(k["severity"]):
            k["severity"] = d["severity"]
    return out

def worst(diffs):
    rank = ["none", "info", "warn", "error", "fail"]
    return max((d["severity"] for d in diffs), key=rank.index)

def abi_finding(phase, against, diffs, reference=None):
    f = {"kind": "abi-change", "phase": phase, "against": against, "severity": worst(diffs),
         "count": len(diffs), "kinds": kinds_of(diffs), "first": diffs[0]["key"],
         "first_kind": diffs[0]["kind"], "summary": "\n".join("%s %s: %s -> %s" % (d["section"], d["key"],
                                                                                  d["before"], d["after"])
                                                               for d in diffs),
         "differences": diffs}
    if reference:
        f["reference"] = reference
    return f

def abi_run(root):
    """Judged with ABI severities: the machine-type entries come first on
    the run page; only cells that need a reader are in the attention list."""
    run4 = "20261104-000000-dddd"
    ids = {
        "ctl": "bookworm-to-bookworm-pc-q35-7.2-k-bookworm-a1a1a1a1",
        "fwd": "bookworm-to-trixie-pc-q35-7.2-k-bookworm-b2b2b2b2",
        "back": "trixie-to-bookworm-pc-q35-7.2-k-bookworm-c3c3c3c3",
        "fx-warn": "bookworm-to-trixie-pc-i440fx-7.2-k-bookworm-d4d4d4d4",
        "fx-info": "trixie-to-bookworm-pc-i440fx-7.2-k-bookworm-e5e5e5e5",
        "old-cont": "bookworm-to-trixie-pc-q35-5.2-k-bookworm-f6f6f6f6",
        "old-xchk": "trixie-to-bookworm-pc-q35-5.2-k-bookworm-a7a7a7a7",
    }
    pair = "debian:bookworm..debian:trixie"
    a = {"provider": "debian:bookworm", "version": "7.2.22"}
    b = {"provider": "debian:trixie", "version": "10.0.13"}
    # The break: 23 virtqueue sizes (more than the 20 the run page lists per
    # kind), one with a guest-controlled key and detail, and two ACPI changes.
    vq = [vq_diff("0000:00:%02x.0 (virtio-net)" % (2 + i // 4), i % 4, 256, 1024) for i in range(22)]
    vq.insert(0, dict(vq_diff("", 0, 1024, 128, key="0000:00:01.0 (console) " + HOSTILE),
                      detail="guest said: " + HOSTILE))
    acpi = graded(ABI_DIFFS, "acpi", "warn")
    checksum = [{"section": "acpi", "key": "DSDT checksum", "what": "changed", "before": "0x8a", "after": "0x88",
                 "detail": None, "kind": "checksum", "severity": "info"}]
    fw = [{"section": "smbios", "key": "BIOS version", "what": "changed", "before": "1.16.2", "after": "1.16.3",
           "detail": None, "kind": "firmware-version", "severity": "info",
           "firmware": "the two sides ran different guest firmware, which decides this value"}]
    entries = {
        "info": {"id": pair + "@pc-q35-5.2", "machine": "pc-q35-5.2", "verdict": "info", "severity": "info",
                 "differences": fw, "cells": [ids["old-cont"], ids["old-xchk"]]},
        "warn": {"id": pair + "@pc-i440fx-7.2", "machine": "pc-i440fx-7.2", "verdict": "warn", "severity": "warn",
                 "differences": acpi + checksum, "cells": [ids["fx-warn"], ids["fx-info"]]},
        "break": {"id": pair + "@pc-q35-7.2", "machine": "pc-q35-7.2", "verdict": "break", "severity": "error",
                  "differences": vq + acpi, "cells": [ids["fwd"], ids["back"]]},
    }
    for e in entries.values():
        d = e["differences"]
        e.update(a=a, b=b, kinds=kinds_of(d), count=len(d), shown_kernel="debian:bookworm",
                 summary="\n".join("%s %s: %s -> %s" % (x["section"], x["key"], x["before"], x["after"]) for x in d),
                 kernels=[{"kernel": "debian:bookworm", "a_boot": "cell " + e["cells"][0],
                           "b_boot": "cell " + e["cells"][1], "count": len(d), "severity": e["severity"]}])
        first = d[0]
        e["text"] = ("machine-type ABI %s: debian:bookworm (QEMU 7.2.22) and debian:trixie (QEMU 10.0.13) boot %s "
                     "differently: %d difference(s), the worst %s (%s): %s %s: %s -> %s"
                     % ("break" if e["verdict"] == "break" else "change", e["machine"], len(d), e["severity"],
                        first["kind"], first["section"], first["key"], first["before"], first["after"]))

    def mt(which):
        e = entries[which]
        return {"verdict": e["verdict"], "severity": e["severity"], "id": e["id"]}

    def c(key, src, dst, machine, verdict, reason, abi_sev, which, findings=(), failure=None):
        doc, logs = cell(run4, ids[key], src, dst, machine, "bookworm", verdict, reason, failure=failure,
                         findings=findings, phases_fail="migrate-back" if failure else None)
        doc["abi"] = {"severity": abi_sev}
        if which:
            doc["abi"]["machine_type"] = mt(which)
        return judged(doc, logs, verdict, [verdict])

    vq_fail = {"phase": "migrate-back", "class": "virtqueue-state-mismatch",
               "title": "A virtqueue's state does not fit the destination's device",
               "evidence": "qemu-system-x86_64: VQ 0 vring.num 1024 exceeds allocated max 128",
               "device": "0000:00:01.0/virtio-console", "field": "VQ 0",
               "explained_by": [{"machine_abi": entries["break"]["id"], "key": vq[0]["key"], "difference": vq[0],
                                 "text": "explained by the machine-type ABI of pc-q35-7.2: the builds give this "
                                         "virtqueue different sizes at a fresh boot (" + HOSTILE + ": 1024 -> 128), "
                                         "and the destination cannot take the source's 1024 entries"}]}
    reference = {"matches": "source build", "destination_boot": "cell " + ids["ctl"],
                 "differences_from_boot_src": 0, "differences_from_destination_boot": 1,
                 "text": "the guest after the reboot on the destination sees the source build's machine, "
                         "not the destination build's"}
    continuity = {"kind": "continuity", "severity": "warn", "device": "virtio-rng",
                  "error": "no entropy read on the source before the migration"}
    crosscheck = {"kind": "abi-crosscheck", "severity": "warn", "phase": "boot-src",
                  "text": "the guest sees virtio queue 0 size 256, QEMU says 1024"}
    cells = [
        c("ctl", "bookworm", "bookworm", "pc-q35-7.2", "pass", "forward and back migrations passed", "none", None),
        c("fwd", "bookworm", "trixie", "pc-q35-7.2", "fail",
          "deterministic (1 of 1 attempts failed): the destination QEMU died after the source reported completed",
          "info", "break", findings=[abi_finding("reboot-dst", "boot-src", graded(ABI_DIFFS, "acpi", "info"))],
          failure=vq_fail),
        c("back", "trixie", "bookworm", "pc-q35-7.2", "pass", "forward and back migrations passed", "error", "break",
          findings=[abi_finding("reboot-dst", "destination-boot", [vq[0]], reference)]),
        c("fx-warn", "bookworm", "trixie", "pc-i440fx-7.2", "pass", "forward and back migrations passed", "warn",
          "warn", findings=[abi_finding("reboot-dst", "boot-src", acpi)]),
        c("fx-info", "trixie", "bookworm", "pc-i440fx-7.2", "pass", "forward and back migrations passed", "info",
          "warn", findings=[abi_finding("reboot-dst", "boot-src", checksum + fw)]),
        c("old-cont", "bookworm", "trixie", "pc-q35-5.2", "pass", "forward and back migrations passed", "info",
          "info", findings=[abi_finding("reboot-dst", "boot-src", fw), continuity]),
        c("old-xchk", "trixie", "bookworm", "pc-q35-5.2", "pass", "forward and back migrations passed", "none",
          "info", findings=[crosscheck]),
    ]
    extra = {"matrix": {"name": "fixture-abi", "path": "/work/main/matrix/fixture-abi.ini", "sha256": "1e" * 32},
             "judgements": {"pass": 6, "fail": 1},
             "machine_abi": [entries["info"], entries["warn"], entries["break"]]}
    write_run(root, run4, "2026-11-04T00:00:00Z", cells, HOST_NEW, extra)

main()
