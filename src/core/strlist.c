/* String lists and image folder listings (sernet/strlist.h). */
#include "sernet/strlist.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int sn_strlist_push(sn_strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, sizeof(char *) * (size_t)cap);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    return (l->v[l->n] = strdup(s)) ? (l->n++, 0) : -1;
}

void sn_strlist_free(sn_strlist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

int sn_strlist_is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") ||
                   !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".bmp"));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

sn_status sn_strlist_scan_images(const char *dir, sn_strlist *out)
{
    sn_status status = SN_OK;
    sn_strlist names = {0};
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        SN_FAIL(SN_EIO, "%s: cannot open folder: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        char p[4200];
        struct stat st;
        if (e->d_name[0] == '.' || !sn_strlist_is_image_name(e->d_name))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && sn_strlist_push(&names, e->d_name))
            SN_FAIL(SN_ENOMEM, "%s: listing", dir);
    }
    if (names.n == 0)
        SN_FAIL(SN_EINVAL, "%s: no image files (.png, .jpg, .jpeg, .bmp) in this folder", dir);
    qsort(names.v, (size_t)names.n, sizeof(char *), cmp_str);
    size_t l = strlen(dir);
    for (int i = 0; i < names.n; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s%s%s", dir, l && dir[l - 1] == '/' ? "" : "/", names.v[i]);
        if (sn_strlist_push(out, p))
            SN_FAIL(SN_ENOMEM, "%s: listing", dir);
    }
done:
    if (d)
        closedir(d);
    sn_strlist_free(&names);
    return status;
}
