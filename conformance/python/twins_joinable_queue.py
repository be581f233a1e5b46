"""Python twins of conformance/catalogue/joinable_queue.tsv, run against
CPython's multiprocessing.JoinableQueue (fork start method).  CPython's join()
has no timeout: a join that should return at once is timed, and one that never
returns is reported by the runner's timeout."""
import queue
import time

import twin
from twin import mp
from twins_queue import Procs, join, prompt, wake_prompt


def prompt_ok(fn, *args, limit=1.0):
    t0 = time.monotonic()
    r = fn(*args)
    el = time.monotonic() - t0
    assert el < limit, f'{getattr(fn, "__name__", fn)} took {el:.3f} s, not at once'
    return r


def JQ_TASK_DONE_TOO_MANY():
    q = mp.JoinableQueue()
    twin.assert_raises(ValueError, q.task_done)
    q.put_nowait(1)
    q.put_nowait(2)
    q.get(timeout=5)
    q.get(timeout=5)
    q.task_done()
    q.task_done()
    twin.assert_raises(ValueError, q.task_done)
    prompt_ok(q.join)


def JQ_JOIN_NOTHING_PUT():
    q = mp.JoinableQueue()
    prompt_ok(q.join)
    prompt_ok(q.join)


def JQ_TASK_DONE_COUNTS_PUTS():
    q = mp.JoinableQueue()
    q.put_nowait(1)
    q.task_done()
    prompt_ok(q.join)
    assert q.qsize() == 1, 'the item must still be queued'
    assert q.get(timeout=5) == 1
    twin.assert_raises(ValueError, q.task_done)


def JQ_MAXSIZE():
    q = mp.JoinableQueue(2)
    q.put_nowait(1)
    q.put_nowait(2)
    prompt(queue.Full, q.put_nowait, 3)
    twin.assert_timed(lambda: q.put(3, timeout=0.2), queue.Full, 0.2)
    assert q.qsize() == 2


STOP = -1


def worker(q, processed, go):
    if go is not None:
        assert go.wait(10)
    while True:
        v = q.get(timeout=10)
        if v == STOP:
            q.task_done()  # the sentinel is a task too
            return
        with processed.get_lock():
            processed.value += 1
        q.task_done()


def JQ_JOIN_WAITS():
    q = mp.JoinableQueue()
    processed = mp.Value('i', 0)
    go = mp.Event()
    with Procs() as ps:
        p = ps.start(worker, q, processed, go)
        for i in range(50):
            q.put_nowait(i)
        go.set()
        q.join()
        assert processed.value == 50, f'join returned after {processed.value} of 50 tasks'
        q.put_nowait(STOP)
        assert join(p) == 0
    prompt_ok(q.join)


def JQ_WORKERS():
    q = mp.JoinableQueue(4)
    processed = mp.Value('i', 0)
    with Procs() as ps:
        ws = [ps.start(worker, q, processed, None) for _ in range(3)]
        for i in range(300):
            q.put(i, timeout=10)
        q.join()
        assert processed.value == 300, f'join returned after {processed.value} of 300 tasks'
        for _ in range(3):
            q.put(STOP, timeout=10)
        for k, w in enumerate(ws):
            assert join(w) == 0, f'worker {k} failed'
    prompt_ok(q.join)


def JQ_TASK_DONE_WAKES_PROMPT():
    q = mp.JoinableQueue()

    def one_unfinished():
        q.put(9)
        q.get(timeout=5)

    wake_prompt(q.join, q.task_done, prepare=one_unfinished)
