"""CPython's Process.join() can return with exitcode None while other threads
start processes: Process.start() runs multiprocessing.process._cleanup(),
which polls every child with waitpid(WNOHANG); when it reaps a child another
thread is joining, that thread's waitpid fails with ECHILD, popen_fork.poll()
returns None, and join() returns with the exit code unknown although the
child exited 0.  Seen as PROC-START-THREADS failing about once in 300 rounds
(8 processes each, 4 threads); the row's twin records it instead of failing
(the row is about starting from threads; exit codes are PROC-EXITCODE-*).
Run: /usr/bin/python3 JOIN-EXITCODE-NONE-THREADS.py  (prints the rounds hit)."""
import multiprocessing as mp
import os
import threading


def w(fd):
    os.write(fd, b'x')


def one():
    ar, aw = os.pipe()
    bad = []

    def starter():
        for _ in range(2):
            p = mp.Process(target=w, args=(aw,))
            p.start()
            p.join()
            if p.exitcode != 0:
                bad.append(f'{p.name}: exitcode {p.exitcode} after join()')

    th = [threading.Thread(target=starter) for _ in range(4)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    os.close(aw)
    n = len(os.read(ar, 100))
    os.close(ar)
    return bad, n


if __name__ == '__main__':
    mp.set_start_method('fork')
    hits = 0
    for i in range(600):
        bad, n = one()
        if bad:
            hits += 1
            print(f'round {i}: {bad} ({n} of 8 children ran)', flush=True)
    print(f'{hits} of 600 rounds had a join() with exitcode None')
