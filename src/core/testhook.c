#define _POSIX_C_SOURCE 200809L
#include "sernet/testhook.h"

#include <stdlib.h>
#include <time.h>

void sn_testhook_delay(const char *var)
{
    const char *e = getenv(var);
    long ms = e ? atol(e) : 0;
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int sn_testhook_fail_nth(const char *var)
{
    static long calls; /* main thread only */
    const char *e = getenv(var);
    if (!e)
        return 0;
    return ++calls == atol(e);
}
