"""billiard lacks two documented APIs of multiprocessing that six rows use,
so the twins report those rows `unsupported` without running them:
Process.kill() (added in Python 3.7; PROC-EXITCODE-SIGKILL,
PROC-TERMINATE-ENDED-NOOP) and parent_process() (added in 3.8;
PROC-PARENT-PID, PROC-PARENT-PROCESS-MAIN, -CHILD, -DIES).
Run: /usr/bin/python3 MISSING-API.py [multiprocessing]  (default billiard)."""
import importlib
import sys

mp = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else 'billiard')

if __name__ == '__main__':
    for api, obj, name in (('Process.kill', mp.Process, 'kill'),
                           ('parent_process', mp, 'parent_process')):
        print(f'{mp.__name__} {getattr(mp, "__version__", "")}: {api}: '
              + ('present' if hasattr(obj, name) else 'MISSING'))
