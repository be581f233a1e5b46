"""billiard's Pool keeps the pre-3.7/3.8 misuse errors: AsyncResult.successful()
before the result is ready and Pool.join() before close() raise a bare
AssertionError (from an assert statement); CPython raises ValueError.
Run: python3 POOL-SUCCESSFUL-NOT-READY.py [multiprocessing]  (default billiard)."""
import importlib, sys, time

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')

if __name__ == '__main__':
    p = mp.Pool(1)
    r = p.apply_async(time.sleep, (1,))
    got = []
    for what, call in (('successful() before ready', r.successful), ('join() before close()', p.join)):
        try:
            call()
            got.append(f'{what}: no error')
        except Exception as e:  # noqa: BLE001 - the difference shown
            got.append(f'{what}: {type(e).__name__}')
    p.terminate()
    p.join()
    print(f'{mp.__name__}: ' + '; '.join(got))
    sys.exit(0 if all(g.endswith('ValueError') for g in got) else 1)
