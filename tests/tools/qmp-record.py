#!/usr/bin/env python3
"""Record a real QMP conversation with one QEMU build into a replay fixture
(tests/data/qmp/qemu-X.Y.txt) for tests/unit/test-qmp.c.

Usage (as root; QEMU runs chrooted in a Debian root, the QMP socket lives in a
host directory bind-mounted at /w inside the root):

    tests/tools/qmp-record.py ROOT OUTPUT [--machine pc-q35-7.2]

The fixture format: '#' lines are comments, '## NAME' starts a section, '>'
lines are what the client sent, '<' lines what QEMU sent, each one compact
JSON value exactly as it crossed the socket.  The replay harness ignores the
value of "id" when it compares client lines and substitutes the client's id in
the replies.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

# One entry per section: (name, command, arguments, settle seconds). Settle is
# how long to keep reading after the reply so asynchronous events that follow
# it land in the same section; "MIGRATION" reads until a MIGRATION event with a
# terminal status (the migration to the -incoming destination QEMU).
SCRIPT = [
    ("capabilities", "qmp_capabilities", None, 0.1),
    ("query-version", "query-version", None, 0.0),
    ("query-status-prelaunch", "query-status", None, 0.0),
    ("unknown-command", "no-such-command", None, 0.0),
    ("migrate-bad-uri", "migrate", {"uri": "bogus:nowhere"}, 0.1),
    ("migrate-events-on", "migrate-set-capabilities",
     {"capabilities": [{"capability": "events", "state": True}]}, 0.0),
    ("migrate-unix-nobody", "migrate", {"uri": "unix:/w/nobody.sock"}, 0.5),
    ("query-migrate-failed", "query-migrate", None, 0.0),
    ("migrate-channels", "migrate",
     {"channels": [{"channel-type": "main",
                    "addr": {"transport": "socket", "type": "unix",
                             "path": "/w/nobody.sock"}}]}, 0.5),
    ("migrate-blk", "migrate", {"uri": "unix:/w/nobody.sock", "blk": False}, 0.5),
    ("cont", "cont", None, 0.2),
    ("query-status-running", "query-status", None, 0.0),
    ("stop", "stop", None, 0.2),
    ("query-status-paused", "query-status", None, 0.0),
    ("migrate-to-dst", "migrate", {"uri": "unix:/w/in.sock"}, "MIGRATION"),
    ("query-migrate-completed", "query-migrate", None, 0.0),
    ("query-status-postmigrate", "query-status", None, 0.0),
    ("quit", "quit", None, None),  # None: read until QEMU closes the socket
]


class Recorder:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.lines = []  # (dir, text) in the order they crossed the socket
        self.next_id = 1

    def _read_line(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                # QEMU exiting after 'quit' may reset rather than close.
                self.lines.append(("#", "connection reset by QEMU"))
                return ""
            if not data:
                return ""
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        text = line.decode().rstrip("\r")
        self.lines.append(("<", text))
        return text

    def read_until_reply(self, want_id, timeout=10.0):
        while True:
            text = self._read_line(timeout)
            if text is None:
                sys.exit("qmp-record: no reply in %.0f s" % timeout)
            if text == "":
                sys.exit("qmp-record: QEMU closed the socket")
            msg = json.loads(text)
            if want_id is None or msg.get("id") == want_id:
                return msg

    def settle(self, seconds):
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0 or self._read_line(left) in (None, ""):
                return

    def until_migration_ends(self, timeout=60.0):
        while True:
            text = self._read_line(timeout)
            if text in (None, ""):
                sys.exit("qmp-record: migration did not end")
            msg = json.loads(text)
            if msg.get("event") == "MIGRATION" and \
                    msg["data"]["status"] in ("completed", "failed", "cancelled"):
                return

    def until_eof(self, timeout=10.0):
        while self._read_line(timeout) not in (None, ""):
            pass

    def execute(self, cmd, args):
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        msg["id"] = self.next_id
        self.next_id += 1
        text = json.dumps(msg, separators=(",", ":"))
        self.lines.append((">", text))
        self.sock.sendall(text.encode() + b"\n")
        return self.read_until_reply(msg["id"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="extracted Debian root with qemu-system-x86")
    ap.add_argument("output", help="fixture file to write")
    ap.add_argument("--machine", default="pc-q35-7.2")
    opts = ap.parse_args()

    root = os.path.abspath(opts.root)
    version = subprocess.run(["chroot", root, "qemu-system-x86_64", "--version"],
                             check=True, capture_output=True, text=True).stdout.splitlines()[0]
    package = subprocess.run(["chroot", root, "dpkg-query", "-W", "-f", "${Version}",
                              "qemu-system-x86"],
                             check=True, capture_output=True, text=True).stdout
    work = tempfile.mkdtemp(prefix="qmp-record-")
    os.makedirs(os.path.join(root, "w"), exist_ok=True)
    # The mounts happen in a private namespace: argv only, the paths are
    # passed as positional parameters to a fixed script, never spliced in.
    inner = ('mount --make-rprivate / && mount --rbind /dev "$1/dev" && '
             'mount -t proc proc "$1/proc" && mount --bind "$2" "$1/w" && '
             'exec chroot "$1" qemu-system-x86_64 -machine "$3",accel=tcg '
             '-nodefaults -display none -m 128 '
             '-qmp unix:/w/qmp.sock,server=on,wait=off -S')
    qemu = subprocess.Popen(["unshare", "-m", "sh", "-c", inner, "sh", root, work,
                             opts.machine], stderr=subprocess.PIPE)
    # The destination of the one real migration: same build, -incoming.
    dst = subprocess.Popen(["unshare", "-m", "sh", "-c",
                            inner.replace("/w/qmp.sock", "/w/dst-qmp.sock") +
                            ' -incoming unix:/w/in.sock', "sh", root, work, opts.machine],
                           stderr=subprocess.DEVNULL)
    sock_path = os.path.join(work, "qmp.sock")
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(500):
            try:
                sock.connect(sock_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if qemu.poll() is not None:
                    sys.exit("qmp-record: QEMU exited: " + qemu.stderr.read().decode())
                time.sleep(0.02)
        else:
            sys.exit("qmp-record: no QMP socket after 10 s")
        rec = Recorder(sock)
        sections = [("greeting", 0, None)]
        rec.read_until_reply(None)
        for name, cmd, args, settle in SCRIPT:
            start = len(rec.lines)
            rec.execute(cmd, args)
            if settle is None:
                rec.until_eof()
            elif settle == "MIGRATION":
                rec.until_migration_ends()
            elif settle:
                rec.settle(settle)
            sections.append((name, start, None))
        qemu.wait(timeout=10)
        stderr = qemu.stderr.read().decode()
    finally:
        for proc in (qemu, dst):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)

    with open(opts.output, "w") as out:
        out.write("# QMP conversation recorded by tests/tools/qmp-record.py\n")
        out.write("# from: %s\n" % version)
        out.write("# package: qemu-system-x86 %s\n" % package)
        out.write("# command line: qemu-system-x86_64 -machine %s,accel=tcg -nodefaults "
                  "-display none -m 128 -qmp unix:/w/qmp.sock,server=on,wait=off -S\n"
                  % opts.machine)
        for line in stderr.splitlines():
            out.write("# QEMU stderr: %s\n" % line)
        bounds = [s[1] for s in sections] + [len(rec.lines)]
        for i, (name, start, _) in enumerate(sections):
            out.write("\n## %s\n" % name)
            for d, text in rec.lines[start:bounds[i + 1]]:
                out.write("%s %s\n" % (d, text))
            if i + 1 == len(sections) and rec.lines[-1][0] != "#":
                out.write("# (QEMU closed the connection)\n")


if __name__ == "__main__":
    main()
