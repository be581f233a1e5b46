# tutorial §4 (subclass Process, override run): the tutorial describes this
# form without code; this is the program ref/examples/tutorial_subclass.c
# implements (its comment), so both sides run the same program.
import os
from multiprocessing import Process
class Greeter(Process):
    def __init__(self, who, times):
        super().__init__()
        self.who, self.times = who, times
    def run(self):
        for i in range(self.times):
            print(f'{self.name}: hello {self.who} ({i + 1})')
        print(f'{self.name}: pid {os.getpid()}, parent {os.getppid()}')
if __name__ == '__main__':
    g = Greeter('alice', 2)
    g.start()
    g.join()
    print(f'main: {g.name} (pid {g.pid}) exited with {g.exitcode}; main pid {os.getpid()}')
