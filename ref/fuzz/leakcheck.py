#!/usr/bin/env python3
"""leakcheck.py [--label NAME] [--grace S] [--tmp DIR]... -- COMMAND [ARG]...

Runs COMMAND and reports what it left behind:
  - processes: any descendant still there when COMMAND has ended, alive
    (an orphan) or dead but unreaped (a zombie).  The checker makes itself a
    child subreaper (PR_SET_CHILD_SUBREAPER), so orphans of every depth are
    reparented to it and cannot escape to init; they are listed, then killed
    and reaped, so that one leaky run does not spoil the next.
  - shared memory: a new entry in /dev/shm that no live process maps.
  - socket files: a new socket under /tmp (or each --tmp DIR, three levels
    deep, e.g. /tmp/mp-XXXXXX/listener) that no live socket is bound to.
The last two are filtered that way because the machine may be shared: an
object another program is using at the time is not ours to report (but a
file another program created and abandoned during the run would be; on a
shared machine, confirm a finding by running again).  --ignore GLOB leaves
paths out.  A short
grace period (--grace, default 2 s) lets servers that exit when their parent
dies (the manager) do so.

Exit status: 1 when something was left behind, else COMMAND's status.
"""
import argparse
import ctypes
import fnmatch
import os
import signal
import stat
import re
import subprocess
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36


def set_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def shm_entries():
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


def socket_files(roots, depth=3):
    found = {}
    for root in roots:
        base = root.rstrip("/").count("/")
        for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None):
            if dirpath.count("/") - base >= depth:
                dirnames[:] = []
            for f in filenames:
                p = os.path.join(dirpath, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if stat.S_ISSOCK(st.st_mode):
                    found[p] = st.st_ino
    return found


def bound_unix_paths():
    paths = set()
    try:
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                parts = line.split()
                if len(parts) >= 8:
                    paths.add(parts[7])
    except OSError:
        pass
    return paths


def mapped_shm_names():
    names = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    i = line.find("/dev/shm/")
                    if i >= 0:
                        names.add(line[i + 9:].split()[0])
        except OSError:
            pass
    return names


def proc_info(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        rp = s.rindex(")")
        comm = s[s.index("(") + 1:rp]
        fields = s[rp + 2:].split()
        state, ppid = fields[0], int(fields[1])
    except (OSError, ValueError):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = ""
    return state, ppid, cmd or f"[{comm}]"


def my_children():
    me = os.getpid()
    out = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            info = proc_info(int(pid))
            if info and info[1] == me:
                out[int(pid)] = info
    return out


class TreeWatch(threading.Thread):
    """Records the pids of the command's descendants while it runs (polling
    /proc), to tell which leftover files are named after one of them."""

    def __init__(self, root):
        super().__init__(daemon=True)
        # Orphans are reparented to us (the subreaper): our own pid is a root too.
        self.root, self.seen, self.stop = root, {root, os.getpid()}, threading.Event()

    def run(self):
        while not self.stop.wait(0.05):
            parent = {}
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    info = proc_info(int(pid))
                    if info:
                        parent[int(pid)] = info[1]
            for pid in parent:
                chain, p = [], pid
                while p in parent and p not in self.seen and len(chain) < 64:
                    chain.append(p)
                    p = parent[p]
                if p in self.seen:
                    self.seen.update(chain)


def reap_all():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[2])
    ap.add_argument("--label", default=None)
    ap.add_argument("--grace", type=float, default=2.0)
    ap.add_argument("--tmp", action="append", default=None)
    ap.add_argument("--ignore", action="append", default=[], metavar="GLOB",
                    help="socket or /dev/shm paths to leave out (fnmatch)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command")
    label = a.label or os.path.basename(cmd[0])
    tmps = a.tmp or [os.environ.get("TMPDIR") or "/tmp"]

    set_subreaper()
    shm0 = shm_entries()
    socks0 = socket_files(tmps)
    t0 = time.monotonic()
    child = subprocess.Popen(cmd)
    watch = TreeWatch(child.pid)
    watch.start()
    rc = child.wait()
    watch.stop.set()
    took = time.monotonic() - t0

    deadline = time.monotonic() + a.grace
    while True:
        pending = my_children()
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    left = my_children()
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.05)
    reap_all()

    new_shm = shm_entries() - shm0
    if new_shm:
        new_shm -= mapped_shm_names()
    socks1 = socket_files(tmps)
    bound = bound_unix_paths()
    new_socks = sorted(p for p, ino in socks1.items()
                       if socks0.get(p) != ino and p not in bound)

    def kept(path):
        return not any(fnmatch.fnmatch(path, g) for g in a.ignore)
    new_shm = {n for n in new_shm if kept("/dev/shm/" + n)}
    new_socks = [p for p in new_socks if kept(p)]

    problems = []
    for pid, (state, _, c) in sorted(left.items()):
        kind = "zombie" if state == "Z" else "orphan"
        problems.append(f"{kind} process {pid} (state {state}): {c}")
    # A file named after a pid (criterion_<pid>.sock, BoxFort's bxfi_<pid>)
    # that was never a process of this run belongs to another program on a
    # shared machine: a warning, not a finding.  (Polling can miss a process
    # that lives under 50 ms; run again to confirm.)
    def whose(path):
        nums = {int(n) for n in re.findall(r"\d+", os.path.basename(path))}
        if not nums:
            return True, ""
        hit = sorted(nums & watch.seen)
        if hit:
            return True, f" (named after pid {hit[0]}, a process of this run)"
        return False, " (named after a pid that was not a process of this run)"
    foreign = []
    for kind, p in ([("shared memory object", "/dev/shm/" + n) for n in sorted(new_shm)] +
                    [("socket file", p) for p in new_socks]):
        ours, note = whose(p)
        (problems if ours else foreign).append(f"{kind} {p}{note}")
    nshm = sum(p.startswith("shared memory") for p in problems)
    print(f"leakcheck {label}: command exit {rc} after {took:.1f} s; "
          f"{len(left)} processes, {nshm} /dev/shm objects, "
          f"{len(problems) - len(left) - nshm} socket files left behind", flush=True)
    for p in problems:
        print(f"leakcheck {label}:   {p}", flush=True)
    for p in foreign:
        print(f"leakcheck {label}:   warning, not counted: {p}", flush=True)
    if problems:
        return 1
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main())
