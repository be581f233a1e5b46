"""billiard's managers predate proxies stored in dict and list proxies
(CPython 3.6): a proxy stored in a dict proxy comes back as a plain copy of
its referent (changes to it are lost), and a Queue proxy stored in a list
proxy cannot come back at all (the server cannot pickle the queue.Queue)
(MGR-PROXY-IN-DICT, MGR-PROXY-IN-LIST, MGR-QUEUE-IN-CONTAINER).
Run: /usr/bin/python3 MGR-PROXY-IN-CONTAINER.py [multiprocessing]  (default billiard)."""
import importlib
import sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')

if __name__ == '__main__':
    bad = 0
    with mp.get_context('fork').Manager() as m:
        supplies = m.dict(water=10)
        d = m.dict(supplies=supplies)
        inner = d['supplies']
        inner['blankets'] = 5
        print(f'{mp.__name__}: dict stored in a dict proxy comes back as {type(inner).__name__}; '
              f'after a change through it the stored dict is {supplies.copy()}')
        bad += 'blankets' not in supplies.copy()
        a = m.list()
        a.append(m.list([0, 1, 2]))
        inner = a[0]
        inner[-1] = 55
        print(f'{mp.__name__}: list stored in a list proxy comes back as {type(inner).__name__}; '
              f'after a change through it the stored list is {a[0][:]}')
        bad += a[0][:] != [0, 1, 55]
        q = m.Queue()
        a.append(q)
        try:
            r = a[1]
            r.put(123)
            print(f'{mp.__name__}: Queue stored in a list proxy: put through it, got {q.get(timeout=1)}')
        except Exception as e:  # noqa: BLE001 - what it raises is the point
            print(f'{mp.__name__}: Queue stored in a list proxy: {type(e).__name__}: '
                  + str(e).strip().splitlines()[-2 if len(str(e).strip().splitlines()) > 1 else -1])
            bad += 1
    sys.exit(1 if bad else 0)
