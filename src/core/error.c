#include "sernet/common.h"
#include "sernet/err_mute.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char err_msg[1024];
static _Thread_local sn_status err_status = SN_OK;
static _Thread_local int err_muted; /* sn_err_mute depth (sernet/err_mute.h) */

void sn_err_mute(void) { err_muted++; }

void sn_err_unmute(void)
{
    SN_ASSERT(err_muted > 0);
    err_muted--;
}

sn_status sn_err_set(sn_status st, const char *file, int line, const char *fmt, ...)
{
    if (err_status != SN_OK || err_muted)
        return st; /* keep the first, most specific message; record nothing while muted */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    (void)file;
    (void)line;
    err_status = st;
    return st;
}

const char *sn_err_msg(void) { return err_msg; }
sn_status sn_err_status(void) { return err_status; }

void sn_err_clear(void)
{
    err_msg[0] = '\0';
    err_status = SN_OK;
}

const char *sn_status_name(sn_status st)
{
    switch (st) {
    case SN_OK: return "ok";
    case SN_EINVAL: return "invalid argument";
    case SN_ENOMEM: return "out of memory";
    case SN_EIO: return "I/O error";
    case SN_EFORMAT: return "bad file format";
    case SN_EMPI: return "MPI error";
    case SN_ENONFINITE: return "non-finite value";
    case SN_EINTERRUPT: return "interrupted";
    }
    return "unknown error";
}

_Noreturn void sn_abort(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sernet: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *sn_alloc(size_t bytes, const char *what)
{
    void *p = NULL;
    /* One spare cache line: vectorised BLAS kernels may read a few bytes past the end of a
     * matrix (valgrind shows BLIS's haswell kernels doing so on edge tiles). */
    size_t rounded = ((bytes + 63) & ~(size_t)63) + 64;
    if (bytes > SIZE_MAX - 128 || posix_memalign(&p, 64, rounded) != 0 || !p) {
        SN_ERR(SN_ENOMEM, "cannot allocate %.1f MiB for %s", (double)bytes / 1048576.0, what);
        return NULL;
    }
    return p;
}

void *sn_calloc(size_t bytes, const char *what)
{
    void *p = sn_alloc(bytes, what);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void sn_free(void *p) { free(p); }
