#!/usr/bin/env python3
"""Run one command as a child subreaper and sweep what it leaves behind.

  reap.py --report FILE -- CMD [ARG...]

CMD runs as this process's child with the same standard streams.  This
process is a child subreaper, so every process CMD orphans (Criterion's test
workers, which live in sessions of their own, and their children) is
reparented here rather than to init.  When CMD has ended, every process still
below this one is recorded, killed (SIGKILL) and reaped; FILE receives their
commands as a JSON list.  The socket file a killed Criterion runner leaves in
/tmp is removed (run.remove_ipc_socket).  Exit status: CMD's (128 + signal
when killed).

conformance/run.py does the same for a whole run; this is for callers that run
several suites at once in one process (conformance/mutants/mutate.py), where
one process-wide sweep could not tell whose leftovers are whose.  SIGTERM or
SIGINT kills CMD's process group (SIGKILL), then sweeps as usual.
"""
import argparse, json, os, signal, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as crun  # noqa: E402  (become_subreaper, sweep, remove_ipc_socket)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--report', required=True)
    ap.add_argument('cmd', nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ['--'] else a.cmd
    crun.become_subreaper()
    # CMD leads a process group of its own; SIGTERM or SIGINT to us (a
    # caller's deadline) kills that group, and the sweep below still runs.
    p = subprocess.Popen(cmd, start_new_session=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: os.killpg(p.pid, signal.SIGKILL))
    rc = p.wait()
    crun.remove_ipc_socket(p.pid, rc)
    left = crun.sweep()
    with open(a.report, 'w') as f:
        json.dump(sorted(left.values()), f)
    return rc if rc >= 0 else 128 - rc


if __name__ == '__main__':
    sys.exit(main())
