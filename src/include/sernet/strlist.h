/* A growable list of strings (file names), and the listing of an image folder that `ingest`,
 * `score` and `calibrate` share. */
#ifndef SERNET_STRLIST_H
#define SERNET_STRLIST_H

#include "sernet/common.h"

typedef struct {
    char **v;
    int n, cap;
} sn_strlist;

/* Append a copy of s: 0, or -1 out of memory (nothing recorded: the caller names what failed). */
int sn_strlist_push(sn_strlist *l, const char *s);
/* Free every string and the array; l is zeroed (safe on a zeroed list). */
void sn_strlist_free(sn_strlist *l);
/* 1 when the file name ends in .png .jpg .jpeg or .bmp (any case). */
int sn_strlist_is_image_name(const char *name);
/* Append the .png .jpg .jpeg .bmp files of folder dir (not recursive, byte order of names) as
 * "dir/name" to out; a folder without image files is SN_EINVAL naming it. */
sn_status sn_strlist_scan_images(const char *dir, sn_strlist *out);

#endif
