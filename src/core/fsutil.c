/* Atomic file replacement, recursive mkdir and the process clocks (sernet/fsutil.h). */
#include "sernet/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

sn_status sn_tmp_name(const char *path, sn_tmp_kind kind, char *tmp, size_t cap)
{
    SN_ASSERT(path && tmp && cap > 0);
    int k = kind == SN_TMP_SHARED ? snprintf(tmp, cap, "%s.tmp", path)
                                  : snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    if (k < 0 || (size_t)k >= cap) {
        tmp[0] = '\0';
        return SN_ERR(SN_EINVAL, "%s: path too long", path);
    }
    return SN_OK;
}

sn_status sn_rename_into_place(const char *tmp, const char *path)
{
    SN_ASSERT(tmp && path);
    if (rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return SN_ERR(SN_EIO, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    }
    return SN_OK;
}

sn_status sn_afile_open(sn_afile *a, const char *path)
{
    SN_ASSERT(a && path);
    memset(a, 0, sizeof *a);
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof a->path)
        return SN_ERR(SN_EINVAL, "%s: empty or too long a file name", path);
    memcpy(a->path, path, n + 1);
    sn_status status = sn_tmp_name(path, SN_TMP_PRIVATE, a->tmp, sizeof a->tmp);
    if (status != SN_OK)
        return status;
    a->fp = fopen(a->tmp, "wb");
    if (!a->fp) {
        status = SN_ERR(SN_EIO, "%s: cannot create: %s", a->tmp, strerror(errno));
        a->tmp[0] = '\0'; /* nothing to remove */
        return status;
    }
    return SN_OK;
}

sn_status sn_afile_commit(sn_afile *a)
{
    SN_ASSERT(a && a->fp);
    sn_status status = SN_OK;
    int bad = fflush(a->fp) != 0 || ferror(a->fp);
    int e = errno;
    int rc = fclose(a->fp);
    if (rc != 0 && !bad)
        e = errno;
    a->fp = NULL;
    if (bad || rc != 0) {
        status = SN_ERR(SN_EIO, "%s: write failed: %s", a->tmp, strerror(e));
        remove(a->tmp);
    } else {
        status = sn_rename_into_place(a->tmp, a->path);
    }
    a->tmp[0] = '\0'; /* renamed or removed: nothing left to discard */
    return status;
}

void sn_afile_discard(sn_afile *a)
{
    if (!a)
        return;
    if (a->fp)
        fclose(a->fp);
    a->fp = NULL;
    if (a->tmp[0])
        remove(a->tmp);
    a->tmp[0] = '\0';
}

sn_status sn_copy_file(const char *src, const char *dst)
{
    sn_status status = SN_OK;
    FILE *in = NULL, *out = NULL;
    char *buf = NULL;
    int created = 0;
    enum { CH = 1 << 20 };
    if (!(in = fopen(src, "rb")))
        SN_FAIL(SN_EIO, "%s: cannot open: %s", src, strerror(errno));
    if (!(out = fopen(dst, "wb")))
        SN_FAIL(SN_EIO, "%s: cannot write a copy of %s: %s", dst, src, strerror(errno));
    created = 1;
    SN_ALLOC(buf, CH, "file copy buffer");
    size_t n;
    while ((n = fread(buf, 1, CH, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            SN_FAIL(SN_EIO, "%s: write failed: %s", dst, strerror(errno));
    if (ferror(in))
        SN_FAIL(SN_EIO, "%s: read failed", src);
    int bad = fclose(out) != 0;
    out = NULL;
    if (bad)
        SN_FAIL(SN_EIO, "%s: write failed", dst);
done:
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    if (status != SN_OK && created)
        remove(dst);
    sn_free(buf);
    return status;
}

static sn_status mkdir_one(const char *p)
{
    if (mkdir(p, 0777) == 0)
        return SN_OK;
    int err = errno;
    struct stat st;
    if (err == EEXIST && stat(p, &st) == 0)
        return S_ISDIR(st.st_mode) ? SN_OK : SN_ERR(SN_EIO, "%s: exists and is not a directory", p);
    return SN_ERR(SN_EIO, "%s: cannot create directory: %s", p, strerror(err));
}

sn_status sn_mkdirs(const char *dir)
{
    sn_status status = SN_OK;
    SN_ASSERT(dir);
    char *p = strdup(dir);
    if (!p)
        SN_FAIL(SN_ENOMEM, "%s: out of memory", dir);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    if (n == 0)
        SN_FAIL(SN_EINVAL, "empty directory name");
    for (char *q = p + 1; *q; q++) {
        if (*q != '/' || q[-1] == '/')
            continue;
        *q = '\0';
        status = mkdir_one(p);
        *q = '/';
        if (status != SN_OK)
            goto done;
    }
    SN_TRY(mkdir_one(p));
done:
    free(p);
    return status;
}

static double clock_seconds(clockid_t id)
{
    struct timespec t;
    if (clock_gettime(id, &t) != 0)
        return 0.0; /* these clocks exist on every supported system (POSIX, Linux) */
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double sn_clock_wall(void) { return clock_seconds(CLOCK_MONOTONIC); }
double sn_clock_cpu(void) { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }
double sn_clock_thread_cpu(void) { return clock_seconds(CLOCK_THREAD_CPUTIME_ID); }
