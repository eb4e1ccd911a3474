/* Files and folders, written the one way the project writes them: a file is replaced atomically
 * (its content goes to a temporary name beside it, renamed over it only when complete, so a
 * crash or a full disk never leaves a half-written file under the real name), and folders are
 * created with their parents. Also the process clocks. Used by every writer (PNG, JSON, SVG,
 * Markdown, HDF5 files through sernet/h5util.h) and every timer. */
#ifndef SERNET_FSUTIL_H
#define SERNET_FSUTIL_H

#include <stdio.h>

#include "sernet/common.h"

/* Longest path accepted by the helpers below (longer is SN_EINVAL naming the path). */
#define SN_PATH_CAP 4096
/* Room for a temporary name: the path plus ".tmp." and a process id. */
#define SN_TMP_CAP (SN_PATH_CAP + 32)

/* The temporary name of `path`:
 *   SN_TMP_PRIVATE  "<path>.tmp.<pid>": a file one process writes and renames at once (PNG,
 *                   JSON, SVG, Markdown); two processes writing the same path never share it.
 *   SN_TMP_SHARED   "<path>.tmp": a file all ranks of a job write together, or that a later run
 *                   resumes (an interrupted results or checkpoint file): every rank and every
 *                   run must agree on the name (docs/formats.md). */
typedef enum { SN_TMP_PRIVATE, SN_TMP_SHARED } sn_tmp_kind;
sn_status sn_tmp_name(const char *path, sn_tmp_kind kind, char *tmp, size_t cap);

/* Rename the finished temporary `tmp` over `path`. On failure the temporary is removed and the
 * error names both. */
sn_status sn_rename_into_place(const char *tmp, const char *path);

/* A file written through stdio and replaced atomically:
 *   sn_afile a;  SN_TRY(sn_afile_open(&a, path));   write to a.fp ...
 *   SN_TRY(sn_afile_commit(&a));                     flush, check, close, rename
 *   done: sn_afile_discard(&a);                       after a failure: close, remove the temporary
 * sn_afile_discard is safe after a commit and on a zeroed or failed-to-open sn_afile. */
typedef struct {
    FILE *fp;               /* the stream to write (binary mode); NULL when not open */
    char path[SN_PATH_CAP]; /* the final name */
    char tmp[SN_TMP_CAP];   /* the temporary name (SN_TMP_PRIVATE) */
} sn_afile;
sn_status sn_afile_open(sn_afile *a, const char *path);
sn_status sn_afile_commit(sn_afile *a);
void sn_afile_discard(sn_afile *a);

/* Copy file src to dst byte for byte (dst created or truncated; removed again on failure). Used
 * to rewrite a part of an HDF5 file in a copy that is then renamed over the original. */
sn_status sn_copy_file(const char *src, const char *dst);

/* Create folder `dir` and its missing parents (mode 0777 before the umask). An existing folder
 * is fine; an existing non-folder anywhere on the way is SN_EIO naming it ("... is not a
 * directory"); trailing slashes are ignored; "" is SN_EINVAL. Safe when several ranks or
 * processes race to create the same folders. */
sn_status sn_mkdirs(const char *dir);

/* Clocks in seconds: monotonic wall time (for durations; the origin is arbitrary), this
 * process's CPU time over all threads, the calling thread's CPU time. */
double sn_clock_wall(void);
double sn_clock_cpu(void);
double sn_clock_thread_cpu(void);

#endif
