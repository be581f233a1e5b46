"""/usr/bin/python3 POOL-ERROR-CALLBACK.py -- billiard passes an ExceptionInfo
to error_callback, not the exception (multiprocessing passes the exception)."""
import billiard


def bad(x):
    raise ValueError(f'bad item {x}')


if __name__ == '__main__':
    got = []
    with billiard.Pool(1) as p:
        r = p.apply_async(bad, (17,), error_callback=got.append)
        r.wait(30)
    print('error_callback got', type(got[0]).__name__, repr(got[0]))
