/* Addresses of sockets the library listens on or connects to: "unix:PATH"
 * or "tcp:HOST:PORT" (HOST may be [v6]), as the manager (manager_start.c,
 * manager_client.c) and Listener/Client (listener.c) spell them. */
#ifndef MP_ADDRESS_H
#define MP_ADDRESS_H

#include "mp_internal.h"

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

typedef struct mp__addr {
    bool tcp;
    bool abstract; /* "unix:@NAME": Linux's abstract namespace, path = NAME */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char host[256], port[16];
} mp__addr;

/* Parses s into *a.  MP_EINVAL, with what (the calling operation) in the
 * message, for anything else -- "unix:@NAME" included: the manager's
 * addresses are files. */
MP__HIDDEN mp_status mp__parse_address(const char *s, mp__addr *a, const char *what);
/* mp__parse_address that also accepts "unix:@NAME", a Linux abstract Unix
 * address (CPython's '\0NAME'), for Listener/Client. */
MP__HIDDEN mp_status mp__parse_address_abstract(const char *s, mp__addr *a, const char *what);
/* *sa for the Unix address a (a file path, or an abstract name: sun_path
 * starting with a NUL, the length counting the name only, as CPython's);
 * returns the length to give bind/connect. */
MP__HIDDEN socklen_t mp__unix_sockaddr(const mp__addr *a, struct sockaddr_un *sa);

#endif
