/* Shared memory for objects that processes inherit.  Anonymous MAP_SHARED
 * mappings: no name, so no /dev/shm entry to leak when a process is killed. */
#include "mp_internal.h"

#include <errno.h>
#include <sys/mman.h>

mp_status mp__shm_alloc(size_t size, void **out)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return mp__errno(errno, "mmap shared memory");
    *out = p;
    return MP_OK;
}

void mp__shm_free(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}
