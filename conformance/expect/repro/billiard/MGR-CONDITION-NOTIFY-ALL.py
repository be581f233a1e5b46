"""billiard's manager Condition proxy has notify() without n, as its
Condition (COND-NOTIFY-N.py): Manager().Condition().notify(1) raises
TypeError; CPython's ConditionProxy.notify(n=1) wakes n waiters
(MGR-CONDITION-NOTIFY-ALL; CPython's TestSyncManagerTypes.test_condition).
Run: /usr/bin/python3 MGR-CONDITION-NOTIFY-ALL.py [multiprocessing]  (default billiard)."""
import importlib
import sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')
if __name__ == '__main__':
    with mp.Manager() as m:
        c = m.Condition()
        c.acquire()
        try:
            c.notify(1)
            print('notify(1) accepted')
        except TypeError as e:
            print('TypeError:', e)
        c.release()
