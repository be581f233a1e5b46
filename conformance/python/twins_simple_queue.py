"""Python twins of conformance/catalogue/simple_queue.tsv, run against CPython's
multiprocessing.SimpleQueue (fork start method).  CPython's SimpleQueue has no
timeouts and no qsize: where the C test uses them the twin uses the nearest
thing (a blocking get whose hang the runner's timeout reports)."""
import threading

import twin
from twin import mp
from twins_queue import Procs, join


def SQ_PUT_GET():
    q = mp.SimpleQueue()
    v = [42, None, 'hello']
    q.put(v)
    q.put(b'raw')
    got = q.get()
    assert got == v and repr(got) == repr(v), f'got {got!r}'
    got = q.get()
    assert type(got) is bytes and got == b'raw', f'got {got!r}'


def SQ_EMPTY():
    q = mp.SimpleQueue()
    assert q.empty(), 'a new SimpleQueue is not empty'
    q.put(b'x')
    assert not q.empty(), 'empty after a put'
    assert q.get() == b'x'
    assert q.empty(), 'not empty after the get'


def put_range(q, n, done):
    for i in range(n):
        q.put(i)
    done.set()


def SQ_UNBOUNDED():
    # The puts run in a thread so that, if they block, the test can report it
    # and then drain the queue to let them finish.
    q = mp.SimpleQueue()
    n = 10000
    done = threading.Event()
    t = threading.Thread(target=put_range, args=(q, n, done), daemon=True)
    t.start()
    finished = done.wait(2)
    if not finished:  # unblock the putter before failing
        got = [q.get() for _ in range(n)]
        t.join()
        assert got == list(range(n)), 'items out of order'
        raise AssertionError(f'{n} puts did not finish within 2 s with nobody getting (they '
                             "did once the test got): CPython's SimpleQueue.put writes "
                             'straight into the pipe and waits when its buffer (64 KiB on '
                             'Linux) is full')
    t.join()
    got = [q.get() for _ in range(n)]
    assert got == list(range(n)), 'items out of order'
    assert q.empty()


def child_puts(q, go):
    if go is not None:
        assert go.wait(10)
    for i in range(100):
        q.put(i)


def SQ_CROSS_PROCESS():
    q = mp.SimpleQueue()
    with Procs() as ps:
        p = ps.start(child_puts, q, None)
        for i in range(100):
            got = q.get()
            assert got == i, f'got {got}, want {i}'
        assert join(p) == 0


def SQ_GET_BLOCKS():
    q = mp.SimpleQueue()
    go = mp.Event()
    with Procs() as ps:
        p = ps.start(child_puts, q, go)
        go.set()
        assert q.get() == 0
        assert join(p) == 0


def SQ_CLOSE():
    q = mp.SimpleQueue()
    q.put(b'a')
    q.close()
    q.close()
    twin.assert_raises((ValueError, OSError), q.put, b'b')
    try:
        got = q.get()
    except OSError as e:
        raise AssertionError(f'get after close raised {e!r}: CPython closed the reading end '
                             'too, so the message queued before close is lost') from None
    assert got == b'a', f'got {got!r}'
    assert q.empty()


def SQ_TASK_DONE_EINVAL():
    q = mp.SimpleQueue()
    q.put(b'a')
    twin.assert_raises(AttributeError, lambda: q.task_done())
    twin.assert_raises(AttributeError, lambda: q.join())
