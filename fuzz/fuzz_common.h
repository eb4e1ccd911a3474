/* Shared by the libFuzzer harnesses: MPI started once (singleton, no mpiexec needed), a private
 * temporary file per process for inputs that the code under test reads from a path, and the
 * check that every refused input came with a message. */
#ifndef SN_FUZZ_COMMON_H
#define SN_FUZZ_COMMON_H

#include "sernet/common.h"

#include <mpi.h>
#include <sanitizer/lsan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Stop the fuzzer with a report: a property of the code under test does not hold. */
#define FZ_CHECK(cond)                                                                            \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz check failed at %s:%d: %s (last error: %s)\n", __FILE__,       \
                    __LINE__, #cond, sn_err_msg());                                               \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static char fz_dir[512];

static inline void fz_finalize(void)
{
    if (fz_dir[0])
        rmdir(fz_dir); /* the harnesses remove their files after each input */
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin)
        MPI_Finalize();
}

/* Start MPI once and make a private directory for the temporary files of this process. */
static inline void fz_init(int *argc, char ***argv)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        /* Open MPI keeps start-up allocations unreachable; not ours, so hidden from LeakSanitizer
         * (a per-input leak check reports every unreachable block, also these). */
        __lsan_disable();
        int rc = MPI_Init(argc, argv);
        __lsan_enable();
        if (rc != MPI_SUCCESS) {
            fprintf(stderr, "fuzz: MPI_Init failed\n");
            abort();
        }
        atexit(fz_finalize);
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(fz_dir, sizeof fz_dir, "%s/sernet-fuzz-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(fz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
}

/* Path of a file named `name` in the private directory. */
/* fz_init, then one run on the empty input with leak checking off: MPI-IO and HDF5 make
 * one-time allocations at their first file open, which the per-input leak check would
 * otherwise blame on the first input. */
static inline void fz_init_warm(int *argc, char ***argv, int (*one)(const uint8_t *, size_t))
{
    fz_init(argc, argv);
    __lsan_disable();
    one((const uint8_t *)"", 0);
    __lsan_enable();
}

static inline void fz_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", fz_dir, name);
}

/* Write bytes to `path` (whole file); aborts on failure (the harness, not the program, failed). */
static inline void fz_write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* A refused input must be refused with a status and a message. */
static inline void fz_refused(sn_status st)
{
    FZ_CHECK(st != SN_OK);
    FZ_CHECK(sn_err_msg()[0] != '\0');
    sn_err_clear();
}

#endif
