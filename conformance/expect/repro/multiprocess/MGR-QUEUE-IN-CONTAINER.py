"""multiprocess's manager server cannot take a Queue proxy into a list proxy:
unpickling the proxy there calls AutoProxy(..., manager_owned=True), which its
AutoProxy does not accept, so list.append(queue proxy) raises RemoteError
(TypeError: AutoProxy() got an unexpected keyword argument 'manager_owned');
CPython's stores it (MGR-QUEUE-IN-CONTAINER; CPython's test_nested_queue).
Run: /usr/bin/python3 MGR-QUEUE-IN-CONTAINER.py [multiprocessing]  (default multiprocess)."""
import importlib
import sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'multiprocess')

if __name__ == '__main__':
    with mp.get_context('fork').Manager() as m:
        a, q = m.list(), m.Queue()
        try:
            a.append(q)
            a[0].put(123)
            print(f'{mp.__name__}: Queue proxy stored in a list proxy; put through it, got {q.get(timeout=1)}')
        except Exception as e:  # noqa: BLE001 - what it raises is the point
            lines = [x for x in str(e).strip().splitlines() if x.strip() and not x.startswith('---')]
            print(f'{mp.__name__}: list.append(Queue proxy) raised {type(e).__name__}: {lines[-1]}')
            sys.exit(1)
