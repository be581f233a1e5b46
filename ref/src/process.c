/* process: not implemented yet -- every call returns MP_ENOTSUP. */
#include "mp_internal.h"

#include <stdarg.h>

mp_status mp_process_new(mp_process **out, mp_target_fn target, void *arg)
{
    (void)out; (void)target; (void)arg; return MP_ENOTSUP;
}

mp_status mp_process_new_run(mp_process **out, mp_run_fn run, void *data)
{
    (void)out; (void)run; (void)data; return MP_ENOTSUP;
}

mp_status mp_process_data(const mp_process *p, void **data)
{
    (void)p; (void)data; return MP_ENOTSUP;
}

mp_status mp_process_set_name(mp_process *p, const char *name)
{
    (void)p; (void)name; return MP_ENOTSUP;
}

mp_status mp_process_name(const mp_process *p, const char **name)
{
    (void)p; (void)name; return MP_ENOTSUP;
}

mp_status mp_process_set_daemon(mp_process *p, bool daemon)
{
    (void)p; (void)daemon; return MP_ENOTSUP;
}

mp_status mp_process_daemon(const mp_process *p, bool *daemon)
{
    (void)p; (void)daemon; return MP_ENOTSUP;
}

mp_status mp_process_start(mp_process *p)
{
    (void)p; return MP_ENOTSUP;
}

mp_status mp_process_join(mp_process *p, double timeout)
{
    (void)p; (void)timeout; return MP_ENOTSUP;
}

mp_status mp_process_is_alive(mp_process *p, bool *alive)
{
    (void)p; (void)alive; return MP_ENOTSUP;
}

mp_status mp_process_pid(const mp_process *p, pid_t *pid)
{
    (void)p; (void)pid; return MP_ENOTSUP;
}

mp_status mp_process_exitcode(mp_process *p, int *code)
{
    (void)p; (void)code; return MP_ENOTSUP;
}

mp_status mp_process_terminate(mp_process *p)
{
    (void)p; return MP_ENOTSUP;
}

mp_status mp_process_kill(mp_process *p)
{
    (void)p; return MP_ENOTSUP;
}

mp_status mp_process_close(mp_process *p)
{
    (void)p; return MP_ENOTSUP;
}

void mp_process_free(mp_process *p)
{
    (void)p; 
}

const char * mp_current_name(void)
{
    return "";
}

pid_t mp_current_pid(void)
{
    return 0;
}

pid_t mp_parent_pid(void)
{
    return 0;
}

int mp_cpu_count(void)
{
    return 1;
}
