"""billiard's Connection does not read CPython 3.8+'s long-message header (a
length of -1 followed by an 8-byte length): the message written in that form
is received as b'' and its bytes are left in the stream, where CPython
receives it whole.
Run: python3 PIPE-WIRE-LONG-HEADER.py [multiprocessing]  (default billiard)."""
import importlib, os, sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')

if __name__ == '__main__':
    a, b = mp.Pipe(False)
    os.write(b.fileno(), b'\xff\xff\xff\xff' + (3).to_bytes(8, 'big') + b'xyz')
    got = a.recv_bytes() if a.poll(5) else None
    print(f'{mp.__name__}: received {got!r} for the 3-byte message in the long form')
    sys.exit(0 if got == b'xyz' else 1)
