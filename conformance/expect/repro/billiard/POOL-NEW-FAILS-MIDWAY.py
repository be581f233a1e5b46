"""When billiard's Pool(n) fails to start its k-th worker (fork: EAGAIN),
the workers already started are left running: the caller gets the error and
keeps k-1 children it cannot reach.  CPython (3.8+) terminates and joins them
before raising (POOL-NEW-FAILS-MIDWAY; CPython's
TestPoolNotLeakOnFailure.test_release_unused_processes).  Runs as root: a
forked child drops to an unused uid with RLIMIT_NPROC allowing 4 more tasks,
then asks for Pool(6).
Run: /usr/bin/python3 POOL-NEW-FAILS-MIDWAY.py [multiprocessing]  (default billiard)."""
import importlib
import os
import resource
import sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')


def tasks_of(uid):
    n = 0
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/status') as f:
                st = dict(l.split(':', 1) for l in f if ':' in l)
        except OSError:
            continue
        if int(st['Uid'].split()[0]) == uid:
            n += int(st['Threads'])
    return n


def child():
    warm = mp.Pool(1)  # import what a pool imports while root can read it
    warm.close()
    warm.join()
    uid = 60000 + os.getpid() % 5000
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    resource.setrlimit(resource.RLIMIT_NPROC, (tasks_of(uid) + 6, hard))
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    try:
        mp.Pool(6)
        print('Pool(6) started (the limit did not bite)')
        return 2
    except OSError as e:
        print('Pool(6) failed:', e)
    left = []
    try:
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            left.append(pid)
    except ChildProcessError:
        pass
    live = []
    for d in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{d}/stat') as f:
                if f.read().rsplit(')', 1)[1].split()[1] == str(os.getpid()):
                    live.append(d)
        except OSError:
            pass  # gone meanwhile
    print('children left after the failure:', live or 'none', '(reaped now:', left or 'none', ')')
    for pid in live:
        os.kill(int(pid), 9)
    return 1 if live else 0


if __name__ == '__main__':
    if os.geteuid() != 0:
        sys.exit('needs root (to run as another uid with RLIMIT_NPROC enforced)')
    pid = os.fork()
    if pid == 0:
        os._exit(child())
    _, st = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(st))
