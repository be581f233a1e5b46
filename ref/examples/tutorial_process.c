/* tutorial §2: the Process example.
 *
 *   def info(title):
 *       print(title)
 *       print('module name:', __name__)
 *       print('parent process:', os.getppid())
 *       print('process id:', os.getpid())
 *
 *   def f(name):
 *       info('function f')
 *       print('hello', name)
 *
 *   if __name__ == '__main__':
 *       info('main line')
 *       p = Process(target=f, args=('bob',))
 *       p.start()
 *       p.join()
 *
 * C has no module name; the program prints "__main__", as the script does. */
#include <stdio.h>
#include <stdlib.h>

#include "mp.h"

static void info(const char *title)
{
    printf("%s\n", title);
    printf("module name: %s\n", "__main__");
    printf("parent process: %d\n", (int)mp_parent_pid());
    printf("process id: %d\n", (int)mp_current_pid());
}

static int f(void *arg)
{
    info("function f");
    printf("hello %s\n", (const char *)arg);
    return 0;
}

static int fail(const char *what, mp_status s)
{
    fprintf(stderr, "%s: %s (%s)\n", what, mp_strerror(s), mp_errmsg());
    return EXIT_FAILURE;
}

int main(void)
{
    mp_process *p = NULL;
    mp_status s;

    info("main line");
    if ((s = mp_process_new(&p, f, "bob")) != MP_OK)
        return fail("Process", s);
    if ((s = mp_process_start(p)) != MP_OK)
        return mp_process_free(p), fail("start", s);
    if ((s = mp_process_join(p, MP_FOREVER)) != MP_OK)
        return mp_process_free(p), fail("join", s);
    mp_process_free(p);
    return 0;
}
