/* address: one parser for the socket addresses of the manager and of
 * Listener/Client (address.h). */
#include "address.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses unix:PATH, unix:@NAME when `abstract` allows it, or tcp:HOST:PORT
 * (HOST may be [v6]) into *a.  MP_EINVAL, with what (the calling operation)
 * in the message, for anything else. */
static mp_status parse(const char *s, mp__addr *a, const char *what, bool abstract)
{
    memset(a, 0, sizeof *a);
    if (strncmp(s, "unix:", 5) == 0) {
        const char *p = s + 5;
        if (*p == '@') {
            if (!abstract)
                return mp__err(MP_EINVAL, "%s: abstract unix address '%s' not supported here", what,
                               s);
            a->abstract = true;
            p++;
        }
        size_t n = strlen(p);
        /* An abstract name takes sun_path[1..]: one byte less. */
        if (n == 0 || n + a->abstract >= sizeof a->path)
            return mp__err(MP_EINVAL, "%s: unix socket path '%s' is empty or too long", what,
                           s + 5);
        memcpy(a->path, p, n + 1);
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
        if (hl == 0 || hl >= sizeof a->host || *end || end == colon + 1 || port < 0 || port > 65535)
            return mp__err(MP_EINVAL, "%s: '%s' is not tcp:HOST:PORT", what, s);
        memcpy(a->host, h, hl);
        snprintf(a->port, sizeof a->port, "%ld", port);
        a->tcp = true;
        return MP_OK;
    }
    return mp__err(MP_EINVAL, "%s: address '%s' is neither unix:PATH nor tcp:HOST:PORT", what, s);
}

/* Contract in address.h. */
mp_status mp__parse_address(const char *s, mp__addr *a, const char *what)
{
    return parse(s, a, what, false);
}

/* Contract in address.h. */
mp_status mp__parse_address_abstract(const char *s, mp__addr *a, const char *what)
{
    return parse(s, a, what, true);
}

/* Contract in address.h.  The parser bounded the name to fit. */
socklen_t mp__unix_sockaddr(const mp__addr *a, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    size_t n = strlen(a->path);
    if (!a->abstract) {
        memcpy(sa->sun_path, a->path, n + 1);
        return (socklen_t)sizeof *sa;
    }
    memcpy(sa->sun_path + 1, a->path, n); /* sun_path[0] stays NUL */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}
