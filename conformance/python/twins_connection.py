"""Python twins of conformance/catalogue/connection.tsv
(tests/test_connection.c): multiprocessing.connection.wait, Listener and
Client.  MP_TIMEOUT of wait is CPython's empty list; MP_EAUTH is
AuthenticationError; MP_EOS an OSError; MP_CLOSED the OSError of a closed
listener."""
import os
import signal
import stat
import threading

import twin
from twin import mp

wait = mp.connection.wait
Listener = mp.connection.Listener
Client = mp.connection.Client


def _prompt(fn, *args, bound=1.0):
    t0 = twin.now()
    r = fn(*args)
    el = twin.now() - t0
    assert el <= bound, f'{fn.__name__} blocked for {el:.3f} s'
    return r


def _timed(fn, timeout, slack=2.0):
    t0 = twin.now()
    r = fn()
    el = twin.now() - t0
    assert el >= timeout, f'returned early: {el:.6f} s < {timeout} s'
    assert el <= timeout + slack, f'took {el:.3f} s for {timeout} s'
    return r


# --------------------------------------------------------------------- wait

def CONN_WAIT_READY_SUBSET():
    pairs = [mp.Pipe(True) for _ in range(4)]
    ends = [a for a, _ in pairs]
    pairs[1][1].send_bytes(b'one')
    pairs[3][1].send_bytes(b'three')
    r = wait(ends, 5.0)
    assert r == [ends[1], ends[3]], r
    assert ends[1].recv_bytes() == b'one'
    assert ends[3].recv_bytes() == b'three'
    assert _prompt(wait, ends, 0) == []


def CONN_WAIT_EOF_READY():
    a, b = mp.Pipe(True)
    c, d = mp.Pipe(True)
    b.close()
    r = _prompt(wait, [c, a], 5.0)
    assert r == [a], r
    try:
        a.recv_bytes()
    except EOFError:
        pass
    else:
        raise AssertionError('no EOFError')


def CONN_WAIT_BUFFERED():
    a, b = mp.Pipe(True)
    c, d = mp.Pipe(True)
    b.send_bytes(b'first')
    b.send_bytes(b'second')
    assert a.recv_bytes() == b'first'
    assert _prompt(wait, [c, a], 0) == [a]
    assert a.recv_bytes() == b'second'
    assert _prompt(wait, [c, a], 0) == []


def _wait_fd(fd):
    os.read(fd, 1)


def CONN_WAIT_SENTINEL():
    r, w = os.pipe()
    p = mp.Process(target=_wait_fd, args=(r,))
    p.start()
    a, b = mp.Pipe(True)
    assert _timed(lambda: wait([a, p.sentinel], 0.05), 0.05) == []
    os.write(w, b'x')
    got = wait([a, p.sentinel])
    assert got == [p.sentinel], got
    p.join()
    assert p.exitcode == 0
    os.close(r)
    os.close(w)


def CONN_WAIT_FD():
    r, w = os.pipe()
    assert _prompt(wait, [r], 0) == []
    os.write(w, b'x')
    assert _prompt(wait, [r], 5.0) == [r]
    os.read(r, 1)
    assert _prompt(wait, [r], 0) == []
    os.close(w)
    assert _prompt(wait, [r], 5.0) == [r], 'a hung-up pipe is not ready'
    os.close(r)


def CONN_WAIT_TIMEOUT():
    a, b = mp.Pipe(True)
    r, w = os.pipe()
    for t in (0.001, 0.05, 0.3):
        assert _timed(lambda: wait([a, r], t), t) == []
    assert _timed(lambda: wait([], 0.05), 0.05) == []
    os.close(r)
    os.close(w)


def CONN_WAIT_ZERO_POLL():
    a, b = mp.Pipe(True)
    assert _prompt(wait, [a], 0) == []
    assert _prompt(wait, [a], -1) == []
    assert _prompt(wait, [a], float('-inf')) == []
    b.send_bytes(b'x')
    assert _prompt(wait, [a], 0) == [a]
    assert _prompt(wait, [a], -1) == [a]


def _send_later(b, fd):
    os.read(fd, 1)
    b.send_bytes(b'late')


class _Waiter(threading.Thread):
    def __init__(self, objs, timeout=None):
        super().__init__(daemon=True)
        self.objs, self.timeout, self.result, self.tid = objs, timeout, None, None
        self.started_evt = threading.Event()

    def run(self):
        self.tid = threading.get_native_id()
        self.started_evt.set()
        self.result = wait(self.objs, self.timeout)


def CONN_WAIT_FOREVER_WAKES():
    r, w = os.pipe()
    a, b = mp.Pipe(True)
    c, d = mp.Pipe(True)
    p = mp.Process(target=_send_later, args=(b, r))
    p.start()
    t = _Waiter([c, a])
    t.start()
    t.started_evt.wait()
    twin.wait_asleep(t.tid, f'/proc/{os.getpid()}/task/{t.tid}/stat')
    os.write(w, b'x')
    t.join(30)
    assert not t.is_alive(), 'wait did not return'
    assert t.result == [a], t.result
    assert a.recv_bytes() == b'late'
    p.join()
    assert p.exitcode == 0
    os.close(r)
    os.close(w)


def CONN_WAIT_EINTR():
    got = []
    old = signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
    signal.siginterrupt(signal.SIGUSR1, True)
    try:
        a, b = mp.Pipe(True)
        stop = threading.Event()
        pid = os.getpid()

        def storm():
            while not stop.is_set():
                signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)
                stop.wait(0.005)

        s = threading.Thread(target=storm, daemon=True)
        s.start()
        assert _timed(lambda: wait([a], 0.2), 0.2) == []
        stop.set()
        s.join()
        assert got, 'no signal arrived during the wait'
        t = _Waiter([a])
        t.start()
        t.started_evt.wait()
        path = f'/proc/{pid}/task/{t.tid}/stat'
        for _ in range(3):
            twin.wait_asleep(t.tid, path)
            signal.pthread_kill(t.ident, signal.SIGUSR1)
        twin.wait_asleep(t.tid, path)
        b.send_bytes(b'x')
        t.join(30)
        assert t.result == [a], t.result
    finally:
        signal.signal(signal.SIGUSR1, old)


# ------------------------------------------------------- Listener / Client

def _client_roundtrip(address, key, msg, w):
    try:
        with Client(address, authkey=key) as c:
            c.send_bytes(msg)
            back = c.recv_bytes()
            v = c.recv()
        w.send('OK' if back == msg[::-1] and v == 42 else 'EPROTO')
    except mp.AuthenticationError:
        w.send('EAUTH')
    except Exception as e:  # noqa: BLE001 - reported to the parent
        w.send(repr(e))


def _serve_one(l, msg):
    with l.accept() as c:
        got = c.recv_bytes()
        assert got == msg, got
        c.send_bytes(msg[::-1])
        c.send(42)


def _roundtrip(address, lkey, ckey, family=None):
    r, w = mp.Pipe(False)
    with Listener(address, family=family, authkey=lkey) as l:
        msg = b'ping from the client'
        p = mp.Process(target=_client_roundtrip, args=(l.address, ckey, msg, w))
        p.start()
        _serve_one(l, msg)
        assert r.recv() == 'OK'
        p.join()
        assert p.exitcode == 0


def LSN_UNIX_ROUNDTRIP():
    with Listener(family='AF_UNIX') as l:
        assert isinstance(l.address, str)
        assert stat.S_ISSOCK(os.stat(l.address).st_mode)
    _roundtrip(None, None, None, family='AF_UNIX')


def LSN_TCP_ROUNDTRIP():
    with Listener(('127.0.0.1', 0)) as l:
        assert l.address[0] == '127.0.0.1' and l.address[1] > 0, l.address
    _roundtrip(('127.0.0.1', 0), None, None)


def LSN_AUTHKEY_OK():
    _roundtrip(None, b'secret key', b'secret key', family='AF_UNIX')
    _roundtrip(('127.0.0.1', 0), b'secret key', b'secret key')


def LSN_AUTHKEY_WRONG():
    r, w = mp.Pipe(False)
    with Listener(('127.0.0.1', 0), authkey=b'right') as l:
        p = mp.Process(target=_client_roundtrip, args=(l.address, b'wrong', b'never', w))
        p.start()
        try:
            l.accept()
        except mp.AuthenticationError:
            pass
        else:
            raise AssertionError('accept passed a wrong key')
        assert r.recv() == 'EAUTH'
        p.join()
        msg = b'hello again'
        p = mp.Process(target=_client_roundtrip, args=(l.address, b'right', msg, w))
        p.start()
        _serve_one(l, msg)
        assert r.recv() == 'OK'
        p.join()
        assert p.exitcode == 0


def LSN_CLOSE_UNLINKS():
    l = Listener(family='AF_UNIX')
    path = l.address
    l.close()
    assert not os.path.exists(path), f'the socket file {path} is still there'
    try:
        _prompt(l.accept)
    except OSError:
        pass
    else:
        raise AssertionError('accept after close')
    l.close()
    try:
        _prompt(Client, path)
    except OSError:
        pass
    else:
        raise AssertionError('a Client reached a closed listener')


def LSN_CLIENT_NO_LISTENER():
    try:
        _prompt(Client, '/nonexistent-mp-dir/listener')
    except OSError:
        pass
    else:
        raise AssertionError('connected to nothing')
    l = Listener(('127.0.0.1', 0))
    addr = l.address
    l.close()
    try:
        _prompt(Client, addr, None, b'key')
    except OSError:
        pass
    else:
        raise AssertionError('connected to a closed port')


# -------------------------------------------------------------- descriptors

def _read_to_eof(fd):
    out = b''
    while True:
        k = os.read(fd, 64)
        if not k:
            return out
        out += k


def _fd_child(c):
    w = mp.reduction.recv_handle(c)
    os.write(w, b'child wrote')
    os.close(w)
    r, w = os.pipe()
    os.write(w, b'from child')
    os.close(w)
    mp.reduction.send_handle(c, r, os.getppid())
    os.close(r)


def _fd_both_ways(at):
    a, b = mp.Pipe(True)
    r, w = os.pipe()
    if at:
        high = os.dup2(w, at)
        os.close(w)
        w = high
    p = twin.start(_fd_child, b)
    b.close()
    mp.reduction.send_handle(a, w, p.pid)
    os.close(w)
    got = mp.reduction.recv_handle(a)
    assert twin.join_code(p) == 0
    assert _read_to_eof(r) == b'child wrote'
    assert _read_to_eof(got) == b'from child'
    os.close(r)
    os.close(got)
    a.close()


def CONN_FD_TRANSFER():
    _fd_both_ways(0)


def CONN_FD_LARGE():
    _fd_both_ways(300)


def CONN_FD_MISSING():
    a, b = mp.Pipe(True)
    os.write(b.fileno(), b'\0')
    try:
        mp.reduction.recv_handle(a)
    except RuntimeError:
        pass
    else:
        raise AssertionError('recv_handle of a byte without a descriptor returned')
    b.send_bytes(b'next')
    assert a.recv_bytes() == b'next'
    a.close()
    b.close()


def CONN_FD_AFTER_READAHEAD():
    a, b = mp.Pipe(True)
    pr, pw = os.pipe()
    qr, qw = os.pipe()
    os.set_blocking(qr, False)
    b.send_bytes(b'm1')
    b.send_bytes(b'm2')
    mp.reduction.send_handle(b, pw, 0)
    b.send_bytes(b'm3')
    mp.reduction.send_handle(b, qw, 0)
    b.send_bytes(b'm4')
    os.close(pw)
    os.close(qw)
    assert a.recv_bytes() == b'm1'
    assert a.recv_bytes() == b'm2'
    w = mp.reduction.recv_handle(a)
    os.write(w, b'through')
    os.close(w)
    assert _read_to_eof(pr) == b'through'
    assert a.recv_bytes() == b'm3'
    a.close()
    b.close()
    assert os.read(qr, 1) == b'', 'the untaken descriptor is still open'
    os.close(pr)
    os.close(qr)


# ---------------------------------------- Listener: addresses and accept

def _families():
    return [None, ('127.0.0.1', 0)]  # None: an AF_UNIX listener at a fresh path


def LSN_MULTIPLE_BIND():
    for address in _families():
        with Listener(address) as l:
            try:
                Listener(l.address)
            except OSError:
                pass
            else:
                raise AssertionError(f'a second Listener bound {l.address!r}')
            with Client(l.address) as c, l.accept() as s:
                c.send_bytes(b'still there')
                assert s.recv_bytes() == b'still there'


def LSN_ABSTRACT_SOCKET():
    name = f'\0mpt-abstract-{os.getpid()}'
    l = Listener(name)
    assert l.address in (name, name.encode()), l.address  # 3.11 gives bytes
    assert not os.path.exists(name[1:])
    with Client(l.address) as c, l.accept() as s:
        c.send(1729)
        assert s.recv() == 1729
    l.close()
    twin.assert_raises(OSError, l.accept)
    twin.assert_raises(OSError, Client, name)
    Listener(name).close()


def LSN_INVALID_FAMILY():
    twin.assert_raises(ValueError, Listener, r'\\.\test')
    twin.assert_raises(ValueError, Client, r'\\.\test')


def _hello_close(address):
    with Client(address) as c:
        c.send_bytes(b'hello')


def LSN_CLIENT_GONE_BEFORE_ACCEPT():
    for address in _families():
        with Listener(address) as l:
            assert twin.join_code(twin.start(_hello_close, l.address)) == 0
            with l.accept() as s:
                assert s.recv_bytes() == b'hello'
                twin.assert_raises(EOFError, s.recv_bytes)


def LSN_CLIENT_POLL():
    for address in _families():
        with Listener(address) as l, Client(l.address) as c, l.accept() as s:
            assert not _prompt(c.poll, 0)
            s.send_bytes(b'hello')
            assert _prompt(c.poll, 1.0)
            assert c.recv_bytes() == b'hello'


def LSN_ACCEPT_EINTR():
    got = []
    old = signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
    signal.siginterrupt(signal.SIGUSR1, True)
    try:
        with Listener() as l:
            main, tid = threading.main_thread().ident, threading.get_native_id()
            path = f'/proc/{os.getpid()}/task/{tid}/stat'

            def signal_then_connect():
                for _ in range(3):
                    twin.wait_asleep(tid, path)
                    signal.pthread_kill(main, signal.SIGUSR1)
                twin.wait_asleep(tid, path)
                with Client(l.address) as c:
                    c.send_bytes(b'after the signals')

            t = threading.Thread(target=signal_then_connect, daemon=True)
            t.start()
            with l.accept() as s:
                assert s.recv_bytes() == b'after the signals'
            t.join(30)
            assert len(got) == 3, got
    finally:
        signal.signal(signal.SIGUSR1, old)
