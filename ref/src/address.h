/* Addresses of sockets the library listens on or connects to: "unix:PATH"
 * or "tcp:HOST:PORT" (HOST may be [v6]), as the manager (manager_start.c,
 * manager_client.c) and Listener/Client (listener.c) spell them. */
#ifndef MP_ADDRESS_H
#define MP_ADDRESS_H

#include "mp_internal.h"

#include <stdbool.h>
#include <sys/un.h>

typedef struct mp__addr {
    bool tcp;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char host[256], port[16];
} mp__addr;

/* Parses s into *a.  MP_EINVAL, with what (the calling operation) in the
 * message, for anything else. */
MP__HIDDEN mp_status mp__parse_address(const char *s, mp__addr *a, const char *what);

#endif
