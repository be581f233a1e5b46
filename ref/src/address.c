/* address: one parser for the socket addresses of the manager and of
 * Listener/Client (address.h). */
#include "address.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses unix:PATH or tcp:HOST:PORT (HOST may be [v6]) into *a.  MP_EINVAL,
 * with what (the calling operation) in the message, for anything else. */
mp_status mp__parse_address(const char *s, mp__addr *a, const char *what)
{
    memset(a, 0, sizeof *a);
    if (strncmp(s, "unix:", 5) == 0) {
        size_t n = strlen(s + 5);
        if (n == 0 || n >= sizeof a->path)
            return mp__err(MP_EINVAL, "%s: unix socket path '%s' is empty or too long", what,
                           s + 5);
        memcpy(a->path, s + 5, n + 1);
        return MP_OK;
    }
    if (strncmp(s, "tcp:", 4) == 0) {
        const char *h = s + 4, *colon = strrchr(h, ':');
        if (!colon || colon == h)
            return mp__err(MP_EINVAL, "%s: '%s' is not tcp:HOST:PORT", what, s);
        size_t hl = (size_t)(colon - h);
        if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [::1] */
            h++;
            hl -= 2;
        }
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (hl == 0 || hl >= sizeof a->host || *end || end == colon + 1 || port < 0 ||
            port > 65535)
            return mp__err(MP_EINVAL, "%s: '%s' is not tcp:HOST:PORT", what, s);
        memcpy(a->host, h, hl);
        snprintf(a->port, sizeof a->port, "%ld", port);
        a->tcp = true;
        return MP_OK;
    }
    return mp__err(MP_EINVAL, "%s: address '%s' is neither unix:PATH nor tcp:HOST:PORT", what, s);
}
