"""billiard's Listener at a Linux abstract-namespace address ('\\0name')
reports its address as bytes (b'\\x00name', as Python 3.11's socket does),
which billiard's own Client refuses ("address type of b'\\x00...'
unrecognized"), and at exit its finalizer calls os.unlink('\\0name') and
raises ValueError (embedded null byte).  CPython's Client takes that address
and it skips the unlink for abstract names (util.is_abstract_socket_namespace)
(LSN-ABSTRACT-SOCKET; CPython's _TestListener.test_abstract_socket).
Run: /usr/bin/python3 LSN-ABSTRACT-SOCKET.py [multiprocessing.connection]
(default billiard.connection)."""
import importlib
import os
import sys

conn = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard.connection')
name = f'\0repro-abstract-{os.getpid()}'
l = conn.Listener(name)
with conn.Client(l.address) as c, l.accept() as s:
    c.send(1729)
    print('received', s.recv())
try:
    l.close()
    print('close: ok')
except ValueError as e:
    print('close: ValueError:', e)
