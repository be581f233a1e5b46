# tutorial §10 (indentation restored).
from multiprocessing import Process, Queue
def f(q):
    q.put([42, None, 'hello'])
if __name__ == '__main__':
    q = Queue()
    p = Process(target=f, args=(q,))
    p2 = Process(target=f, args=(q,))
    p.start()
    p2.start()
    print('data1:',q.get()) # prints "[42, None, 'hello']"
    print('data2:',q.get())
    p.join()
