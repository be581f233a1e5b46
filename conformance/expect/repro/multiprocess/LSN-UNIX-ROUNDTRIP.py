"""multiprocess's Listener(family='AF_UNIX') at the default address binds an
abstract-namespace socket: its address is bytes (b'\\x00listener-...'), no
file; CPython's (as documented: an 'AF_UNIX' address is a string, a file on
the filesystem) is a str path to a socket file (LSN-UNIX-ROUNDTRIP).
Run: /usr/bin/python3 LSN-UNIX-ROUNDTRIP.py [multiprocessing]  (default multiprocess)."""
import importlib
import os
import stat
import sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'multiprocess')
importlib.import_module(mp.__name__ + '.connection')

if __name__ == '__main__':
    with mp.connection.Listener(family='AF_UNIX') as l:
        a = l.address
        is_file = isinstance(a, str) and stat.S_ISSOCK(os.stat(a).st_mode)
        print(f'{mp.__name__}: default AF_UNIX address {a!r} ({type(a).__name__}), '
              f'a socket file: {is_file}')
    sys.exit(0 if is_file else 1)
