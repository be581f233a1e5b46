/* Process: the private header of its two rooms.
 *
 *   process.c           the handle and the public calls: new, start (the
 *                       fork and the child's side of it), join, sentinels,
 *                       signals, close and free, the caller's identity
 *   process_registry.c  what outlives one call: the registry of started,
 *                       unreaped children, reaping and waiting for them,
 *                       the exit function, the fork handlers that give any
 *                       child a clean registry, and the cached thread id
 *
 * Both take mp__proc.lock before touching the registry or a handle's
 * fields (the "Lock held" of the contracts below). */
#ifndef MP_PROCESS_INTERNAL_H
#define MP_PROCESS_INTERNAL_H

#include "mp_internal.h"

#include <pthread.h>
#include <sys/types.h>

enum { P_NEW, P_STARTED, P_ENDED };

struct mp_process {
    mp_target_fn target; /* exactly one of target / run */
    mp_run_fn run;
    void *arg;
    char *name;
    char *ident;   /* CPython's _identity joined by ':', e.g. "1:2" */
    pid_t creator; /* getpid() at creation: only it may start/join */
    pid_t pid;
    int pidfd; /* -1 when not started, reaped, or pidfd unavailable */
    int state;
    int exitcode;
    int waiters;    /* threads polling pidfd: it is closed by the last one */
    int sentinel;   /* -1 until mp_process_sentinel() makes it; the handle's own */
    bool is_parent; /* made by mp_parent_process(): the caller's parent */
    bool daemon;
    bool closed;
    bool freed; /* freed by the user while running: the registry owns it */
    bool listed;
    mp_process *prev, *next;
};

/* The storage of one handle and its strings inside mp__proc (see there). */
struct mp__proc_slot {
    mp_process p;
    char ident[40];
    char name[48]; /* "Process-" and the ident */
};

/* Every process-wide variable of the component, in one page (mp__proc_page,
 * below).  Each page one side of a fork writes after it costs that side a
 * fault (tens of microseconds on a VM): a copy-on-write fault for a page
 * the fork shared.  This page is not shared: a fork gives the child a
 * zeroed page (MADV_WIPEONFORK) and the child restores the parent's view of
 * it (mp__proc_restore), so the parent's writes after a fork (the pid, the
 * registry links, the join's state) cost it nothing, and the child's
 * restore and identity cost it one fault, as a write to a shared page did.
 * The lock guards the registry; the identity is written only by the one
 * thread of a new child.  The page also holds one handle (slot, taken by
 * slot_busy): a program that starts processes one at a time has its handle
 * there, so those writes stay on this page, and neither malloc nor free
 * touch the heap and errno's pages between forks (2 faults per start +
 * join). */
struct mp__proc_state {
    pthread_mutex_t lock;
    mp_process *_Atomic head; /* started, unreaped children; written under lock */
    /* The thread forking in mp_process_start, which holds the lock across
     * its fork (the atfork handlers leave the lock alone for it). */
    _Atomic int32_t starter;
    bool atexit_registered;
    /* The calling process as CPython's current_process() sees it.  NULL
     * name and empty identity in the top process ("MainProcess"). */
    char *cur_name;
    char *cur_ident;
    bool cur_daemon;
    /* In a started child, its own handle.  Its pid field is not set in the
     * child's copy (the parent writes it after the fork): process.c's
     * pid_of(). */
    const mp_process *self;
    _Atomic unsigned counter; /* CPython's _process_counter */
    /* The process that forked us (0 in the top process) and its name, as the
     * parent knew them before the fork: getppid() after the fork may already
     * be a reaper that adopted us. */
    pid_t cur_parent_pid;
    const char *cur_parent_name;
    _Atomic pid_t prepared_parent; /* mp__child_prepare -> mp__child_adopt */
    _Atomic bool slot_busy;
    struct mp__proc_slot slot;
};
/* mp__proc alone on its page (the page is wiped at a fork: mp__proc_wiped). */
union mp__proc_page {
    struct mp__proc_state p;
    char page[4096];
};
MP__HIDDEN extern union mp__proc_page mp__proc_page;
#define mp__proc (mp__proc_page.p)
/* True when a fork gives the child mp__proc's page zeroed (MADV_WIPEONFORK):
 * then the child restores it (mp__proc_restore).  Set once, by
 * mp__proc_init. */
MP__HIDDEN extern bool mp__proc_wiped;
/* In a new child: makes mp__proc the parent's copy of it, snap (NULL: the
 * page was not wiped, it is that copy already), then forgets the parent's
 * children (their pidfds closed), re-makes the lock and the cached tid.
 * Called by the fork handler, and by mp_process_start's child, which keeps
 * its copy on its own stack. */
MP__HIDDEN void mp__proc_restore(const struct mp__proc_state *snap);

/* The slot of mp__proc for a handle whose ident needs len bytes (NUL
 * included), or NULL when it is taken or too small: then the caller
 * allocates.  Any thread. */
MP__HIDDEN struct mp__proc_slot *mp__proc_slot_take(size_t len);
/* True when ptr lies in mp__proc's slot (a handle or string that is not
 * free()d: mp__proc_destroy gives the slot back). */
MP__HIDDEN bool mp__proc_in_slot(const void *ptr);

/* Registers the fork handlers once (pthread_once); every constructor of a
 * handle calls it, so a child forked after any handle exists gets them. */
MP__HIDDEN void mp__proc_init(void);

/* Lock held.  Puts p, not listed, at the head of the registry. */
MP__HIDDEN void mp__proc_add(mp_process *p);
/* Lock held.  Takes p off the registry if it is on it; idempotent. */
MP__HIDDEN void mp__proc_remove(mp_process *p);
/* Lock held.  Closes p's pidfd unless a thread still polls it. */
MP__HIDDEN void mp__proc_release_pidfd(mp_process *p);
/* free(s), unless s is the calling child's current name or ident (its own
 * handle's strings, which outlive the handle). */
MP__HIDDEN void mp__proc_free_unless_current(char *s);
/* Frees p and its descriptors; the caller has taken it off the registry and
 * no thread waits on it. */
MP__HIDDEN void mp__proc_destroy(mp_process *p);
/* Lock held; p started by this process and not reaped.  True once reaped
 * (then P_ENDED, off the registry, exit code set). */
MP__HIDDEN bool mp__proc_try_reap(mp_process *p);
/* Lock held on entry and on return (released while blocked).  MP_OK once p
 * has been reaped, MP_TIMEOUT when still running at the deadline. */
MP__HIDDEN mp_status mp__proc_wait(mp_process *p, const mp__deadline *d);
/* Lock held.  Reaps what has ended; releases handles freed while running. */
MP__HIDDEN void mp__proc_cleanup(void);
/* CPython's util._exit_function: SIGTERM to daemonic children, then join
 * every child.  Takes the lock itself; the atexit handler. */
MP__HIDDEN void mp__proc_exit_children(void);

#endif
