/* Linked into a copy of the reference library for the runner's self-test:
 * the library aborts as it is loaded, so the suite cannot even start. */
#include <stdlib.h>

__attribute__((constructor)) static void abort_on_load(void) { abort(); }
