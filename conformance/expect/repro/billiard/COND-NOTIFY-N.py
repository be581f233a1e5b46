"""/usr/bin/python3 COND-NOTIFY-N.py -- billiard's Condition.notify() takes no
n (multiprocessing's has notify(n=1) since 3.x).  Rows: COND-NOTIFY-N,
COND-WAITER-KILLED-NOTIFIED."""
import billiard
c = billiard.Condition()
with c:
    try:
        c.notify(2)
        print('notify(2) accepted')
    except TypeError as e:
        print('TypeError:', e)
