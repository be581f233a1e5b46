# tutorial §4: the §2 example with Process subclassed and run() overridden
# (the tutorial describes this form without code; this is §2's f in run()).
import os
from multiprocessing import Process
def info(title):
    print(title)
    print('module name:', __name__)
    print('parent process:', os.getppid())
    print('process id:', os.getpid())
    print("\n\n")
class MyProcess(Process):
    def __init__(self, name):
        super().__init__()
        self.who = name
    def run(self):
        info('\033[31;1mfunction f\033[0m')
        print('hello', self.who)
if __name__ == '__main__':
    info('\033[32;1mmain process line\033[0m')
    p = MyProcess('bob')
    p.start()
    p.join()
