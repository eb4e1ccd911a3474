/* Status codes, error reporting and allocation helpers shared by every module. Part of the
 * installed API (with image.h, preprocess.h, thresholds.h and inspect.h); usable from C++. */
#ifndef SERNET_COMMON_H
#define SERNET_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#ifndef _Noreturn
#define _Noreturn [[noreturn]] /* this header is C11 */
#endif
extern "C" {
#endif

typedef enum {
    SN_OK = 0,
    SN_EINVAL,   /* bad argument, configuration value or size */
    SN_ENOMEM,   /* allocation failed */
    SN_EIO,      /* file could not be read or written */
    SN_EFORMAT,  /* file exists but its content is not what was expected */
    SN_EMPI,     /* an MPI call failed or another rank reported an error */
    SN_ENONFINITE, /* NaN or infinity in a loss or score */
    SN_EINTERRUPT  /* stopped on request (signal) */
} sn_status;

/* Record an error message (thread-local, first error wins until cleared) and return st. */
sn_status sn_err_set(sn_status st, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The message of the last recorded error, "" when none. */
const char *sn_err_msg(void);
sn_status sn_err_status(void);
void sn_err_clear(void);
const char *sn_status_name(sn_status st);

/* Abort with file and line: for programmer errors only, never for bad input. */
_Noreturn void sn_abort(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SN_ERR(st, ...) sn_err_set((st), __FILE__, __LINE__, __VA_ARGS__)
/* Set status, record the message and jump to the single exit label `done`. */
#define SN_FAIL(st, ...) do { status = SN_ERR((st), __VA_ARGS__); goto done; } while (0)
#define SN_TRY(expr) do { status = (expr); if (status != SN_OK) goto done; } while (0)
#define SN_ASSERT(cond) \
    do { if (!(cond)) sn_abort(__FILE__, __LINE__, "assertion failed: %s", #cond); } while (0)

/* 64-byte aligned allocation; on failure records SN_ENOMEM naming `what` and returns NULL. */
void *sn_alloc(size_t bytes, const char *what);
void *sn_calloc(size_t bytes, const char *what);
void sn_free(void *p);

#define SN_ALLOC(ptr, count, what) \
    do { (ptr) = sn_alloc((size_t)(count) * sizeof(*(ptr)), (what)); \
         if (!(ptr)) { status = SN_ENOMEM; goto done; } } while (0)
#define SN_CALLOC(ptr, count, what) \
    do { (ptr) = sn_calloc((size_t)(count) * sizeof(*(ptr)), (what)); \
         if (!(ptr)) { status = SN_ENOMEM; goto done; } } while (0)

#define SN_PI 3.14159265358979323846
#define SN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SN_MAX(a, b) ((a) > (b) ? (a) : (b))

#ifdef __cplusplus
}
#endif

#endif
