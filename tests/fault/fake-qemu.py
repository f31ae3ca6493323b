#!/usr/bin/python3
# A hostile stand-in for qemu-system-x86_64, for the fault suite
# (tests/fault/test-fault.c) through a `path:` build. It answers what miglab
# asks a build (--version, -machine help) like a QEMU 10.0, then misbehaves
# as its first argument says:
#   stderr-garbage  print invalid UTF-8 and 3000 multi-byte characters on
#                   stderr and exit 1 (a QEMU failing at start)
#   qmp-flood       open the QMP and probe sockets, send the QMP greeting,
#                   then flood events forever instead of answering
#                   qmp_capabilities
#   probe-flood     answer QMP like a quiet QEMU; whoever connects to the
#                   probe channel gets an endless line of bytes (no newline)
#   silent          answer QMP like a quiet QEMU; the probe channel accepts and
#                   says nothing (a guest that never boots)
# Sockets are the -chardev socket,id=qmp0|probe0,path=... miglab gives.
import json
import os
import socket
import sys
import threading
import time

MACHINES = """Supported machines are:
pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-10.0)
pc-i440fx-10.0       Standard PC (i440FX + PIIX, 1996) (default)
q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-10.0)
pc-q35-10.0          Standard PC (Q35 + ICH9, 2009)
none                 empty machine
"""


def chardev_paths(argv):
    """{id: path} of the -chardev socket options."""
    out = {}
    for i, a in enumerate(argv[:-1]):
        if a != "-chardev" or not argv[i + 1].startswith("socket,"):
            continue
        opts = {}
        # Values have their commas doubled (QEMU's option syntax).
        parts = argv[i + 1].replace(",,", "\0").split(",")
        for p in parts[1:]:
            k, _, v = p.partition("=")
            opts[k] = v.replace("\0", ",")
        out[opts.get("id")] = opts.get("path")
    return out


def listen(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    return s


def send(conn, obj):
    conn.sendall((json.dumps(obj) + "\r\n").encode())


GREETING = {"QMP": {"version": {"qemu": {"micro": 99, "minor": 0, "major": 10},
                                "package": "fake"}, "capabilities": []}}


def qmp_quiet(conn):
    """Answer every command with an empty return (query-kvm: disabled)."""
    send(conn, GREETING)
    f = conn.makefile("rb")
    for line in f:
        try:
            cmd = json.loads(line)
        except ValueError:
            continue
        ret = {}
        if cmd.get("execute") == "query-kvm":
            ret = {"enabled": False, "present": False}
        elif cmd.get("execute") == "query-status":
            ret = {"status": "running", "running": True}
        elif cmd.get("execute") == "quit":
            send(conn, {"return": {}, "id": cmd.get("id")})
            os._exit(0)
        reply = {"return": ret}
        if "id" in cmd:
            reply["id"] = cmd["id"]
        send(conn, reply)


def qmp_flood(conn):
    send(conn, GREETING)
    ev = (json.dumps({"event": "RTC_CHANGE", "data": {"offset": 0, "qom-path": "/machine/unattached/device[0]"},
                      "timestamp": {"seconds": 1, "microseconds": 2}}) + "\r\n").encode() * 64
    while True:
        conn.sendall(ev)


def probe_flood(conn):
    chunk = b"A" * 65536
    while True:
        conn.sendall(chunk)


def serve(sock, handler):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=guard, args=(handler, conn), daemon=True).start()


def guard(handler, conn):
    try:
        handler(conn)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    mode, argv = sys.argv[1], sys.argv[2:]
    if "--version" in argv:
        print("QEMU emulator version 10.0.99 (fake for miglab's fault suite)")
        return 0
    if "-machine" in argv and argv[argv.index("-machine") + 1] == "help":
        sys.stdout.write(MACHINES)
        return 0
    if "-dump-vmstate" in argv:
        print("fake QEMU: no vmstate", file=sys.stderr)
        return 1
    if mode == "stderr-garbage":
        err = sys.stderr.buffer
        err.write(b"qemu-system-x86_64: invalid bytes \xff\xfe\xc3( here\n")
        # 3000 three-byte characters (U+20AC), then a line a cut can fall in.
        err.write(("\u20ac" * 3000).encode() + b"\n")
        err.write(b"qemu-system-x86_64: fake failure at start \xe2\x82\n")
        err.flush()
        return 1
    paths = chardev_paths(argv)
    qmp = listen(paths["qmp0"])
    probe = listen(paths["probe0"])
    if mode == "qmp-flood":
        threading.Thread(target=serve, args=(probe, lambda c: time.sleep(3600)), daemon=True).start()
        serve(qmp, qmp_flood)
    elif mode == "silent":
        threading.Thread(target=serve, args=(probe, lambda c: time.sleep(3600)), daemon=True).start()
        serve(qmp, qmp_quiet)
    elif mode == "probe-flood":
        threading.Thread(target=serve, args=(probe, probe_flood), daemon=True).start()
        serve(qmp, qmp_quiet)
    else:
        print("fake QEMU: unknown mode " + mode, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
