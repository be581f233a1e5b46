/* tutorial §4: subclass Process and override run.
 *
 *   class Greeter(Process):
 *       def __init__(self, who, times):
 *           super().__init__()
 *           self.who, self.times = who, times
 *       def run(self):
 *           for i in range(self.times):
 *               print(f'{self.name}: hello {self.who} ({i + 1})')
 *           print(f'{self.name}: pid {os.getpid()}, parent {os.getppid()}')
 *
 *   if __name__ == '__main__':
 *       g = Greeter('alice', 2)
 *       g.start()
 *       g.join()
 *       print(f'main: {g.name} (pid {g.pid}) exited with {g.exitcode}; main pid {os.getpid()}')
 *
 * In C the "subclass" is mp_process_new_run(): run(self) receives its own
 * handle and reaches the object's fields through mp_process_data().  CPython
 * names the object Greeter-1 after its class; C has no class name, so the
 * example sets it. */
#include <stdio.h>
#include <stdlib.h>

#include "mp.h"

typedef struct greeter {
    const char *who;
    int times;
} greeter;

static int greeter_run(mp_process *self)
{
    void *data = NULL;
    const char *name = NULL;
    if (mp_process_data(self, &data) != MP_OK || mp_process_name(self, &name) != MP_OK)
        return 1;
    const greeter *g = data;
    for (int i = 0; i < g->times; i++)
        printf("%s: hello %s (%d)\n", name, g->who, i + 1);
    printf("%s: pid %d, parent %d\n", mp_current_name(), (int)mp_current_pid(),
           (int)mp_parent_pid());
    return 0;
}

static int fail(const char *what, mp_status s)
{
    fprintf(stderr, "%s: %s (%s)\n", what, mp_strerror(s), mp_errmsg());
    return EXIT_FAILURE;
}

int main(void)
{
    greeter g = {.who = "alice", .times = 2};
    mp_process *p = NULL;
    const char *name = NULL;
    pid_t pid = 0;
    int code = 0;
    mp_status s;

    if ((s = mp_process_new_run(&p, greeter_run, &g)) != MP_OK)
        return fail("Greeter", s);
    if ((s = mp_process_set_name(p, "Greeter-1")) != MP_OK || (s = mp_process_start(p)) != MP_OK ||
        (s = mp_process_join(p, MP_FOREVER)) != MP_OK || (s = mp_process_name(p, &name)) != MP_OK ||
        (s = mp_process_pid(p, &pid)) != MP_OK || (s = mp_process_exitcode(p, &code)) != MP_OK)
        return mp_process_free(p), fail("Greeter", s);
    printf("main: %s (pid %d) exited with %d; main pid %d\n", name, (int)pid, code,
           (int)mp_current_pid());
    mp_process_free(p);
    return 0;
}
