"""Python twins of conformance/catalogue/pipe.tsv, run against CPython's
multiprocessing.Pipe / Connection (fork start method).  Pipe(True) is a
socketpair, Pipe(False) an os.pipe() whose first end only receives.  Raw
frames are written with os.write on the send end's descriptor, as the C test
writes them with write(2).  Statuses map to exceptions as in the README:
MP_EOF EOFError, MP_CLOSED / MP_EACCES / MP_EPROTO / MP_EMSGSIZE OSError (told
apart by the end's closed / readable state), MP_EINVAL ValueError."""
import mmap
import os
import pickle
import select
import signal
import threading
import time

import twin
from twin import mp
ForkingPickler = mp.reduction.ForkingPickler
from twins_queue import MIB, Procs, join, prompt, seeded, wait_asleep

MP_MSG_MAX = 1 << 30


# ----------------------------------------------------------------- helpers

def expect(c, want):
    got = c.recv_bytes()
    assert got == want, f'received {got!r}, want {want!r}'


def bounded(fn, timeout=1.0):
    """Run fn in a daemon thread: ('ok', value), ('exc', exception) or
    ('blocked', None) when it has not returned within timeout seconds."""
    out = []

    def run():
        try:
            out.append(('ok', fn()))
        except BaseException as e:  # noqa: B902 - reported to the caller
            out.append(('exc', e))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    return (out[0] if out else ('blocked', None)), t


class Sender(threading.Thread):
    """Sends messages from a thread (after an optional delay), so that one
    process can send more than a socket buffer holds and receive it."""

    def __init__(self, conn, msgs, delay=0.0):
        super().__init__(daemon=True)
        self.conn, self.msgs, self.delay = conn, msgs, delay
        self.sent_at, self.error = None, None

    def run(self):
        if self.delay:
            time.sleep(self.delay)  # the delay is what the test measures
        self.sent_at = time.monotonic()
        try:
            for m in self.msgs:
                self.conn.send_bytes(m)
        except BaseException as e:  # noqa: B902
            self.error = e

    def finish(self):
        self.join(30)
        assert not self.is_alive(), 'the sender is still sending'
        assert self.error is None, f'send failed: {self.error!r}'


# --------------------------------------------------------------- §11, §12

def PIPE_DUPLEX_BOTH_WAYS():
    a, b = mp.Pipe(True)
    a.send_bytes(b'from a')
    b.send_bytes(b'from b')
    a.send_bytes(b'again a')
    expect(b, b'from a')
    expect(a, b'from b')
    expect(b, b'again a')


def PIPE_ONEWAY_DIRECTION():
    a, b = mp.Pipe(False)
    b.send_bytes(b'one')
    b.send_bytes(b'two')
    expect(a, b'one')
    expect(a, b'two')


def PIPE_ONEWAY_SEND_ON_RECV_END():
    a, b = mp.Pipe(False)
    twin.assert_raises(OSError, a.send, 1)
    twin.assert_raises(OSError, a.send_bytes, b'x')
    twin.assert_raises(OSError, a.send_bytes, b'xyz', 1, 1)
    assert not a.closed and not a.writable
    assert a.poll(0) is False, 'a refused send reached the other end'
    b.send_bytes(b'ok')
    expect(a, b'ok')


def PIPE_ONEWAY_RECV_ON_SEND_END():
    a, b = mp.Pipe(False)
    twin.assert_raises(OSError, b.recv)
    twin.assert_raises(OSError, b.recv_bytes)
    twin.assert_raises(OSError, b.recv_bytes_into, bytearray(8))
    twin.assert_raises(OSError, b.poll, 0)
    assert not b.closed and not b.readable
    b.send_bytes(b'still sends')
    expect(a, b'still sends')


def PIPE_RECV_BLOCKS():
    a, b = mp.Pipe(True)
    s = Sender(b, [b'late'], delay=0.2)
    t0 = time.monotonic()
    s.start()
    got = a.recv_bytes()
    t1 = time.monotonic()
    s.finish()
    assert got == b'late'
    assert t1 >= s.sent_at, 'recv returned before the message was sent'
    assert t1 - t0 >= 0.2, f'recv returned after {t1 - t0:.3f} s, before the send'


def PIPE_RECV_EOF_AFTER_CLOSE():
    for duplex in (False, True):
        a, b = mp.Pipe(duplex)
        b.close()
        prompt(EOFError, a.recv)
        prompt(EOFError, a.recv_bytes)
        prompt(EOFError, a.recv_bytes_into, bytearray(8))
        prompt(EOFError, a.recv_bytes)


def PIPE_RECV_BUFFERED_THEN_EOF():
    a, b = mp.Pipe(False)
    b.send_bytes(b'first')
    b.send_bytes(b'')
    b.send_bytes(b'third')
    b.close()
    expect(a, b'first')
    expect(a, b'')
    expect(a, b'third')
    prompt(EOFError, a.recv_bytes)


def PIPE_CLOSED_END_CALLS():
    a, b = mp.Pipe(True)
    a.close()
    a.close()
    assert a.closed
    for fn, args in ((a.send, ('x',)), (a.send_bytes, (b'x',)), (a.send_bytes, (b'xy', 0, 1)),
                     (a.recv, ()), (a.recv_bytes, ()), (a.recv_bytes_into, (bytearray(8),)),
                     (a.poll, (0,)), (a.poll, (None,)), (a.fileno, ())):
        twin.assert_raises((OSError, ValueError), fn, *args)
    prompt(EOFError, b.recv_bytes)  # the peer sees the close


# ---------------------------------------------------------- across processes

def child_hello(a, b):
    a.close()
    b.send('Hello World')
    b.close()


def PIPE_CHILD_SENDS():
    a, b = mp.Pipe(True)
    with Procs() as ps:
        p = ps.start(child_hello, a, b)
        b.close()  # the parent's copy of the child's end
        got = a.recv()
        assert type(got) is str and got == 'Hello World', f'got {got!r}'
        twin.assert_raises(EOFError, a.recv)
        assert join(p) == 0


def child_bye_on_go(b, ca):
    ca.recv_bytes()
    b.send_bytes(b'bye')
    b.close()


def PIPE_EOF_NEEDS_ALL_COPIES():
    a, b = mp.Pipe(False)
    ca, cb = mp.Pipe(False)
    with Procs() as ps:
        p = ps.start(child_bye_on_go, b, ca)
        b.close()
        # The child's copy of b is open: nothing to receive, and no EOF.
        twin.assert_timed(lambda: a.poll(0.2), None, 0.2)
        cb.send_bytes(b'go')
        expect(a, b'bye')
        twin.assert_raises(EOFError, a.recv_bytes)
        assert join(p) == 0


# 16 MiB, not 64: CPython moves (and this machine touches) 64 MiB in several
# seconds, and nothing in CPython's framing changes between the two sizes (its
# long header starts at 2 GiB).
LARGE = 16 * MIB


def child_send_large(a, b, n, seed):
    a.close()
    b.send_bytes(seeded(n, seed))


def PIPE_LARGE_CHILD_TO_PARENT():
    a, b = mp.Pipe(False)
    with Procs() as ps:
        p = ps.start(child_send_large, a, b, LARGE, 7)
        b.close()
        got = a.recv_bytes()
        assert join(p) == 0
        assert len(got) == LARGE, f'received {len(got)} bytes'
        assert got == seeded(LARGE, 7), 'large payload differs'
        twin.assert_raises(EOFError, a.recv_bytes)


def child_recv_large(a, b, n, seed):
    a.close()
    got = b.recv_bytes()
    assert len(got) == n, f'received {len(got)} bytes'
    assert got == seeded(n, seed), 'large payload differs'
    assert b.recv_bytes() == b'end', 'the small message after it lost its boundary'


def PIPE_LARGE_PARENT_TO_CHILD():
    a, b = mp.Pipe(True)
    with Procs() as ps:
        p = ps.start(child_recv_large, a, b, LARGE, 11)
        b.close()
        a.send_bytes(seeded(LARGE, 11))
        a.send_bytes(b'end')
        assert join(p) == 0, 'the child saw a wrong message'


def child_die_mid_message(a, b):
    a.close()
    # A header for 1000 bytes, then 10 of them, then death.
    os.write(b.fileno(), b'\x00\x00\x03\xe8partial...')
    os.kill(os.getpid(), signal.SIGKILL)


def PIPE_RECV_PEER_KILLED_MID_MESSAGE():
    a, b = mp.Pipe(False)
    with Procs() as ps:
        p = ps.start(child_die_mid_message, a, b)
        b.close()
        r, t = bounded(a.recv_bytes, 10)
        assert r[0] == 'exc' and type(r[1]) is OSError, f'recv_bytes gave {r}'
        prompt(EOFError, a.recv_bytes)
        assert join(p) == -signal.SIGKILL


STUCK_SIZE = 8 * MIB  # more than any socket or pipe buffer holds


def child_send_stuck(a, b, sending, dfl_sigpipe=False):
    """Exit code 0: the large send raised EOFError, BrokenPipeError or
    ConnectionResetError; 3: it succeeded; 4: another exception."""
    if dfl_sigpipe:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a C program's disposition
    a.close()
    b.send_bytes(b'first')
    msg = seeded(STUCK_SIZE, 5)
    sending.set()
    try:
        b.send_bytes(msg)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        os._exit(0)
    except BaseException:  # noqa: B902 - reported through the exit code
        os._exit(4)
    os._exit(3)


def child_recv_idle(a, b, ready):
    b.close()
    ready.set()
    while True:
        time.sleep(100)  # killed by the parent, having read nothing


def PIPE_SEND_PEER_KILLED():
    a, b = mp.Pipe(False)
    ready, sending = mp.Event(), mp.Event()
    with Procs() as ps:
        rx = ps.start(child_recv_idle, a, b, ready)
        assert ready.wait(10)
        tx = ps.start(child_send_stuck, a, b, sending, True)
        a.close()
        b.close()
        assert sending.wait(10)
        wait_asleep(tx.pid)
        assert tx.exitcode is None, 'the sender did not block in its send'
        twin.kill(rx)
        t0 = time.monotonic()
        code = join(tx, 10)
        assert code != -signal.SIGPIPE, ("the receiver's death killed the blocked sender with "
                                         'SIGPIPE (its default action): CPython does not '
                                         'suppress it, the interpreter merely ignores SIGPIPE')
        assert code == 0, f'the blocked send ended with exit code {code}'
        assert time.monotonic() - t0 < 2.0, f'the sender took {time.monotonic() - t0:.3f} s'
        assert join(rx) == -signal.SIGKILL


def PIPE_SEND_KILLED_MID_MESSAGE():
    a, b = mp.Pipe(False)
    sending = mp.Event()
    with Procs() as ps:
        tx = ps.start(child_send_stuck, a, b, sending)
        b.close()
        assert sending.wait(10)
        wait_asleep(tx.pid)
        twin.kill(tx)
        assert join(tx) == -signal.SIGKILL
        expect(a, b'first')
        r, t = bounded(a.recv_bytes, 10)
        assert r[0] == 'exc' and type(r[1]) is OSError, f'recv_bytes gave {r}'
        prompt(EOFError, a.recv_bytes)


# ----------------------------------------------------------------- framing

def PIPE_WIRE_FORMAT():
    a, b = mp.Pipe(False)
    b.send_bytes(b'abc')
    b.close()
    got = b''
    while len(got) < 16:
        k = os.read(a.fileno(), 16 - len(got))
        if not k:
            break
        got += k
    assert got == b'\x00\x00\x00\x03abc', f'{got!r} on the wire'


def PIPE_WIRE_LONG_HEADER():
    # Written although the row is C-only: CPython reads this form too.
    a, b = mp.Pipe(False)
    os.write(b.fileno(), b'\xff\xff\xff\xff' + (3).to_bytes(8, 'big') + b'xyz')
    b.send_bytes(b'next')
    expect(a, b'xyz')
    expect(a, b'next')


def PIPE_MESSAGE_BOUNDARIES():
    a, b = mp.Pipe(True)
    sizes = [0, 1, 100, 65531, 65532, 65536, 300000, 3, 0, 70000, 5]
    msgs = [seeded(n, i + 100) for i, n in enumerate(sizes)]
    s = Sender(b, msgs)
    s.start()
    into = bytearray(400000)
    for i, n in enumerate(sizes):
        if i % 2 == 0:
            got = a.recv_bytes()
        else:
            k = a.recv_bytes_into(into)
            got = bytes(into[:k])
        assert len(got) == n, f'message {i}: {len(got)} bytes, want {n}'
        assert got == msgs[i], f'message {i} differs'
    s.finish()
    assert a.poll(0) is False


def bounded_in_child(fn, timeout=1.0):
    """Run fn in a forked child: ('ok', the str fn returned), ('exc', names of
    the exception's classes) or ('blocked', None) when it has not returned
    within timeout seconds (the child is then killed).  A child, not a
    thread: an interpreter that holds its GIL through a long call (PyPy
    copying a 1 GiB buffer in send_bytes) keeps a waiting thread from timing
    out, and the row would be a fail or a timeout depending on the load."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            msg = 'ok ' + fn()
        except BaseException as e:  # noqa: B902 - reported to the parent
            msg = 'exc ' + ' '.join(c.__name__ for c in type(e).__mro__)
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    try:
        if not select.select([r], [], [], timeout)[0]:
            os.kill(pid, signal.SIGKILL)
            return 'blocked', None
        kind, _, rest = os.read(r, 4096).decode().partition(' ')
        return (kind, rest) if kind == 'ok' else (kind, rest.split())
    finally:
        os.close(r)
        os.waitpid(pid, 0)


def PIPE_SEND_TOO_LARGE():
    """The sends run in a child (bounded_in_child), which then shows that the
    same Connection still sends a small message."""
    a, b = mp.Pipe(False)
    n = MP_MSG_MAX + 1
    # Address space only: a private read-only anonymous mapping is never
    # committed, and reading it yields the zero page.
    big = mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)

    def refused(call):
        try:
            call()
        except (OSError, ValueError):
            return True
        return False

    def sends():
        if not refused(lambda: b.send_bytes(big)):
            return 'send_bytes of MP_MSG_MAX + 1 bytes returned'
        if not refused(lambda: b.send_bytes(big, 0, n)):
            return 'send_bytes(buf, 0, MP_MSG_MAX + 1) returned'
        b.send_bytes(b'small is fine')
        return 'refused'
    try:
        r = bounded_in_child(sends, 1.0)
        if r[0] == 'blocked':
            on_wire = a.poll(0)
            raise AssertionError(f'send_bytes of MP_MSG_MAX + 1 bytes neither failed nor '
                                 f'returned within 1 s (data on the wire: {on_wire}): '
                                 'CPython sends messages of any size')
        assert r == ('ok', 'refused'), f'the sends gave {r}'
        expect(a, b'small is fine')  # nothing of the refused messages before it
        assert a.poll(0) is False, 'more than the small message was sent'
    finally:
        a.close()
        b.close()


def PIPE_RECV_HEADER_HUGE():
    for header, what in ((b'\xff\xff\xff\xff' + (1 << 40).to_bytes(8, 'big'), '2^40 bytes'),
                         ((MP_MSG_MAX + 1).to_bytes(4, 'big'), 'MP_MSG_MAX + 1 bytes')):
        a, b = mp.Pipe(False)
        os.write(b.fileno(), header)
        t0 = time.monotonic()
        r, t = bounded(a.recv_bytes, 1.0)
        try:
            assert r[0] == 'exc' and type(r[1]) is OSError, \
                f'recv_bytes of a header claiming {what} gave {r}, not OSError at once'
            assert time.monotonic() - t0 < 1.0
            r, _ = bounded(a.recv_bytes, 1.0)
            assert r[0] == 'exc' and type(r[1]) is OSError, \
                f'a second recv_bytes after the bad header gave {r}'
        finally:
            b.close()  # a reader still waiting for the claimed bytes gets EOF
            t.join(10)


def PIPE_RECV_HEADER_NEGATIVE():
    a, b = mp.Pipe(False)
    os.write(b.fileno(), b'\xff\xff\xff\xfeabcd')
    r, t = bounded(a.recv_bytes, 1.0)
    try:
        assert r[0] == 'exc' and type(r[1]) is OSError, \
            f'recv_bytes of a header with length -2 gave {r}, not OSError'
    finally:
        b.close()
        t.join(10)


def PIPE_RECV_TRUNCATED():
    # Payload cut short.
    a, b = mp.Pipe(False)
    os.write(b.fileno(), b'\x00\x00\x00\x64half.')
    b.close()
    prompt(OSError, a.recv_bytes)
    prompt(EOFError, a.recv_bytes)
    # Header cut short.
    a, b = mp.Pipe(False)
    os.write(b.fileno(), b'\x00\x00')
    b.close()
    r, _ = bounded(a.recv, 1.0)
    assert r[0] == 'exc' and type(r[1]) is OSError, f'recv of a cut header gave {r}'
    prompt(EOFError, a.recv)
    # A large payload cut short, for every kind of receive.
    claim, sent = 150000, 60000
    for kind in (lambda c: c.recv_bytes(), lambda c: c.recv_bytes_into(bytearray(claim)),
                 lambda c: c.recv()):
        a, b = mp.Pipe(False)
        os.write(b.fileno(), claim.to_bytes(4, 'big') + bytes(sent))
        b.close()
        r, _ = bounded(lambda: kind(a), 1.0)
        assert r[0] == 'exc' and type(r[1]) is OSError, f'a cut {claim}-byte payload gave {r}'
        prompt(EOFError, a.recv_bytes)


# --------------------------------------------------------------- send side

def send_to_closed_peer(result):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # the default action kills
    out = []
    for duplex in (False, True):
        a, b = mp.Pipe(duplex)
        a.close()
        for send in (lambda: b.send_bytes(b'anyone?'), lambda: b.send(5)):
            try:
                send()
                out.append('no error')
            except BaseException as e:  # noqa: B902
                out.append(type(e).__name__)
    result.send(out)


def PIPE_SEND_TO_CLOSED_PEER():
    r, w = mp.Pipe(False)
    with Procs() as ps:
        p = ps.start(send_to_closed_peer, w)
        w.close()
        code = join(p)
        assert code != -signal.SIGPIPE, ('sending to a closed peer killed the process with '
                                         'SIGPIPE (its default action): CPython does not '
                                         'suppress it, the interpreter merely ignores SIGPIPE')
        assert code == 0
        out = r.recv()
        assert out == ['EOFError'] * 4, f'sends to a closed peer raised {out}'


def PIPE_SEND_BYTES_RANGE():
    a, b = mp.Pipe(True)
    digits = b'0123456789'
    b.send_bytes(digits, 2, 3)
    b.send_bytes(digits, 0, 10)
    b.send_bytes(digits, 10, 0)
    b.send_bytes(digits, 7, 3)
    expect(a, b'234')
    expect(a, b'0123456789')
    expect(a, b'')
    expect(a, b'789')


def PIPE_SEND_BYTES_RANGE_INVALID():
    a, b = mp.Pipe(True)
    digits = b'0123456789'
    size_max = (1 << 64) - 1
    for offset, size in ((11, 0), (5, 6), (5, size_max), (size_max, 2)):
        twin.assert_raises(ValueError, b.send_bytes, digits, offset, size)
    assert a.poll(0) is False, 'a refused range was sent'


# ------------------------------------------------------------------ values

def PIPE_SEND_RECV_VALUES():
    a, b = mp.Pipe(True)
    vals = [[42, None, 'hello'], {1: '1', '2': 2, 0.25: None}, (True, -1.5, b'\0\1\2'),
            seeded(200000, 3),  # larger than any read-ahead buffer
            '']
    for i, v in enumerate(vals):
        t = threading.Thread(target=b.send, args=(v,))  # may exceed the socket buffer
        t.start()
        got = a.recv()
        t.join()
        assert got == v and type(got) is type(v), f'value {i} changed on the way'
    a.send(vals[0])
    assert b.recv_bytes() == ForkingPickler.dumps(vals[0]), 'the message is not its encoding'


def PIPE_RECV_BAD_VALUE():
    a, b = mp.Pipe(False)
    b.send_bytes(b'\xc1 not an encoding')
    b.send(7)
    twin.assert_raises(pickle.UnpicklingError, a.recv)
    assert a.recv() == 7, 'the bad message was not consumed'


# -------------------------------------------------------------- recv_bytes

def PIPE_RECV_BYTES_MAXLENGTH():
    a, b = mp.Pipe(True)
    b.send_bytes(b'12345')
    b.send_bytes(b'1234567890')
    assert a.recv_bytes(5) == b'12345'  # exactly maxlength: fine
    twin.assert_raises(OSError, a.recv_bytes, 5)
    assert not a.closed and not a.readable, 'the end is still readable'
    twin.assert_raises(OSError, a.recv_bytes)
    twin.assert_raises(OSError, a.poll, 0)
    a.send_bytes(b'still sends')
    expect(b, b'still sends')


def PIPE_RECV_BYTES_MAXLENGTH_ONEWAY_CLOSES():
    a, b = mp.Pipe(False)
    b.send_bytes(b'1234567890')
    twin.assert_raises(OSError, a.recv_bytes, 4)
    assert a.closed, 'the receive-only end is not closed'
    twin.assert_raises(OSError, a.recv_bytes)
    twin.assert_raises(OSError, a.fileno)
    a.close()


def PIPE_RECV_BYTES_INTO():
    a, b = mp.Pipe(True)
    b.send_bytes(b'hello')
    b.send_bytes(b'abc')
    buf = bytearray(b'#' * 16)
    assert a.recv_bytes_into(buf, 3) == 5
    assert buf == b'###hello########', f'buffer is {bytes(buf)!r}'
    assert a.recv_bytes_into(memoryview(buf)[:8], 5) == 3  # fills it exactly
    assert buf == b'###heabc########', f'buffer is {bytes(buf)!r}'


def PIPE_RECV_BYTES_INTO_OFFSET_INVALID():
    a, b = mp.Pipe(True)
    b.send_bytes(b'x')
    buf = bytearray(8)
    twin.assert_raises(ValueError, a.recv_bytes_into, buf, 9)
    twin.assert_raises(ValueError, a.recv_bytes_into, buf, (1 << 64) - 1)
    assert a.recv_bytes_into(buf, 7) == 1 and buf[7] == ord('x')


def PIPE_RECV_BYTES_INTO_TOO_SMALL():
    a, b = mp.Pipe(True)
    bigsize = 150000  # larger than any read-ahead buffer
    bigmsg = seeded(bigsize, 5)
    s = Sender(b, [b'hello world', bigmsg])
    s.start()
    try:
        buf = bytearray(16)
        for view, offset in ((memoryview(buf)[:8], 0), (memoryview(buf)[:12], 2)):
            try:
                a.recv_bytes_into(view, offset)
                raise AssertionError('recv_bytes_into a too small buffer succeeded')
            except mp.BufferTooShort as e:
                n = len(e.args[0])
            assert n == 11, (f'the failed receive consumed the 11-byte message: the next one '
                             f'had {n} bytes (CPython hands the message over in '
                             'BufferTooShort.args[0] instead of keeping it)')
        assert a.recv_bytes_into(buf, 2) == 11 and buf[2:13] == b'hello world'
        bigbuf = bytearray(bigsize - 1)
        try:
            a.recv_bytes_into(bigbuf)
            raise AssertionError('recv_bytes_into a too small buffer succeeded')
        except mp.BufferTooShort as e:
            assert len(e.args[0]) == bigsize
        got = a.recv_bytes()
        assert got == bigmsg, 'the large message was not kept'
        s.finish()
    finally:
        a.close()  # a sender still sending gets EPIPE and ends
        s.join(10)


# ------------------------------------------------------------ poll, fileno

def PIPE_POLL_TIMEOUT():
    a, b = mp.Pipe(True)
    t0 = time.monotonic()
    assert a.poll(0) is False and a.poll(-1.0) is False
    assert time.monotonic() - t0 < 1.0, 'poll(0) / poll(-1) waited'
    twin.assert_timed(lambda: a.poll(0.2), None, 0.2)
    twin.assert_timed(lambda: b.poll(0.05), None, 0.05)


def PIPE_POLL_READY():
    a, b = mp.Pipe(False)
    b.send_bytes(b'm')
    t0 = time.monotonic()
    assert a.poll(0) is True and a.poll(None) is True
    assert time.monotonic() - t0 < 1.0
    expect(a, b'm')
    assert a.poll(0) is False
    # A message arriving while poll waits ends the wait.
    s = Sender(b, [b'later'], delay=0.1)
    s.start()
    t0 = time.monotonic()
    assert a.poll(30.0) is True
    el = time.monotonic() - t0
    s.finish()
    assert el < 5.0, f'poll waited {el:.3f} s for a message sent after 0.1 s'
    expect(a, b'later')


def PIPE_POLL_EOF():
    a, b = mp.Pipe(True)
    b.close()
    t0 = time.monotonic()
    assert a.poll(0) is True and a.poll(None) is True
    assert time.monotonic() - t0 < 1.0
    twin.assert_raises(EOFError, a.recv)


def PIPE_FILENO():
    a, b = mp.Pipe(True)
    fa, fb = a.fileno(), b.fileno()
    assert fa >= 0 and fb >= 0 and fa != fb
    p = select.poll()
    p.register(fa, select.POLLIN)
    assert p.poll(0) == []
    b.send_bytes(b'ping')
    ev = p.poll(10000)
    assert len(ev) == 1 and ev[0][0] == fa and ev[0][1] & select.POLLIN
    expect(a, b'ping')
