/* Every bad dataset file the fuzz generator (fuzz/h5gen.c) can make, one perturbation at a time:
 * the generator's decisions are traced on the valid file, then each decision is replaced by each
 * of its perturbations (with two fills of the following parameter bytes), the file is written
 * and opened with the loader (sn_dataset_open) and the hash index loader (sn_hashindex_load).
 * Each outcome must be a refusal with a message naming the file, or an accepted file whose every
 * item reads back (or is refused with a message) - never a crash, an assertion or a wrong count.
 * A few outcomes are also checked exactly. With SN_BAD_FILES_TABLE=1 the outcomes are printed as
 * the table of docs/hardening.md. */
#include "../fuzz/h5gen.c"

#include "sernet/dataset.h"
#include "sernet/hashindex.h"
#include "sn_test.h"

#include <mpi.h>
#include <unistd.h>

/* Singleton MPI start-up leaks in components Open MPI later unloads (see test_dataset.c). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

#define MAX_POINTS 128
typedef struct {
    char what[MAX_POINTS][160];
    size_t pos[MAX_POINTS];
    unsigned k[MAX_POINTS];
    int n;
} points;

static void on_decision(const char *what, size_t pos, unsigned k, void *ctx)
{
    points *p = ctx;
    if (p->n < MAX_POINTS) {
        snprintf(p->what[p->n], sizeof p->what[p->n], "%s", what);
        p->pos[p->n] = pos;
        p->k[p->n] = k;
        p->n++;
    }
}

static char path[256];
static int table;

/* Open, read everything, load the index. Returns a short outcome text in out. */
static void try_file(char *out, size_t len, const char *category, int *refused)
{
    sn_dataset *ds = NULL;
    sn_err_clear();
    sn_status st = sn_dataset_open(path, category, MPI_COMM_WORLD, &ds);
    *refused = st != SN_OK;
    if (st != SN_OK) {
        EXPECT_MSG(ds == NULL && strstr(sn_err_msg(), path), "refusal names the file: %s", sn_err_msg());
        snprintf(out, len, "refused %s: %s", sn_status_name(st), sn_err_msg() + strlen(path) + 2);
        return;
    }
    int S = sn_dataset_image_size(ds), read_fail = 0;
    size_t px = (size_t)S * S;
    float *img = malloc(px * 3 * sizeof(float)), *msk = malloc(px * sizeof(float));
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < sn_dataset_count(ds, (sn_split)s); i++) {
            int h, w;
            sn_dataset_orig_size(ds, (sn_split)s, i, &h, &w);
            EXPECT(sn_dataset_name(ds, (sn_split)s, i) != NULL);
            if (s == 1) {
                int d = sn_dataset_defect(ds, i);
                EXPECT(d >= 0 && d < sn_dataset_n_defect_types(ds));
                EXPECT(sn_dataset_label(ds, i) == 0 || sn_dataset_label(ds, i) == 1);
            }
            sn_err_clear();
            if (sn_dataset_read(ds, (sn_split)s, &i, 1, img, s ? msk : NULL, NULL) != SN_OK) {
                EXPECT(strstr(sn_err_msg(), path) != NULL);
                read_fail++;
            }
        }
    int64_t ntrain = sn_dataset_count(ds, SN_SPLIT_TRAIN), ntest = sn_dataset_count(ds, SN_SPLIT_TEST);
    free(img);
    free(msk);
    sn_dataset_close(ds);
    uint64_t *h = NULL;
    int64_t nh = 0;
    sn_err_clear();
    st = sn_hashindex_load(path, category, MPI_COMM_WORLD, &h, &nh);
    if (st == SN_OK)
        EXPECT(h && nh == ntrain);
    else
        EXPECT(h == NULL && nh == 0 && strstr(sn_err_msg(), path));
    snprintf(out, len, "accepted (%lld train, %lld test%s); index %s%s", (long long)ntrain,
             (long long)ntest, read_fail ? ", item reads refused" : "",
             st == SN_OK ? "loaded" : "refused: ", st == SN_OK ? "" : sn_err_msg() + strlen(path) + 2);
    sn_free(h);
}

static const char *pert_name(const char *what, unsigned p)
{
    static const char *attr_s[] = {"missing", "other text", "a number", "array of 3", "variable-length",
                                   "null dataspace", "space-padded, no NUL"};
    static const char *attr_i[] = {"missing", "wrong value", "double (NaN/inf/huge/fraction)", "string",
                                   "array of 3", "null dataspace", "8/16-bit integer type"};
    static const char *dset[] = {"missing", "a group instead", "other rank", "one dim changed",
                                 "other element type", "empty (0 rows)", "scalar", "chunked+deflate"};
    static const char *cats[] = {"empty", "two names, one group", "name with '/'", "300-char name",
                                 "\".\"", "name of no group"};
    static const char *arg[] = {"\"cat\"", "\"other\"", "\"\"", "\"/\"", "random text"};
    static const char *len[] = {"other fixed length (1..300)", "other fixed length (1..300)"};
    if (strncmp(what, "string attribute", 16) == 0)
        return attr_s[p - 1];
    if (strncmp(what, "integer attribute", 17) == 0)
        return attr_i[p - 1];
    if (strncmp(what, "dataset", 7) == 0)
        return dset[p - 1];
    if (strncmp(what, "category list", 13) == 0)
        return cats[p - 1];
    if (strncmp(what, "category asked", 14) == 0)
        return arg[p - 1];
    if (strncmp(what, "string length", 13) == 0)
        return len[p - 1];
    if (strncmp(what, "value", 5) == 0)
        return "out of range";
    return "absent/present";
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    table = getenv("SN_BAD_FILES_TABLE") != NULL;
    snprintf(path, sizeof path, "/tmp/sn_bad_files_%d.h5", (int)getpid());
    /* S = 16, 2 training and 2 test items, 3 defect types */
    const uint8_t hdr[4] = {0, 1, 2, 2};
    static points pts;
    fz_h5gen_info info;
    char out[700];
    int refused = 0;

    /* the valid file: accepted with everything */
    fz_h5gen_set_trace(on_decision, &pts);
    EXPECT(fz_h5gen_write(path, hdr, sizeof hdr, &info) == 0);
    fz_h5gen_set_trace(NULL, NULL);
    try_file(out, sizeof out, info.category_arg, &refused);
    EXPECT_MSG(!refused && strstr(out, "accepted (2 train, 2 test); index loaded"), "valid file: %s", out);
    EXPECT(pts.n >= 30);
    if (table)
        printf("| valid file | - | %s |\n", out);

    int cases = 0, nref = 0, nacc = 0;
    uint8_t in[512];
    for (int d = 0; d < pts.n; d++) {
        if (pts.pos[d] < sizeof hdr)
            continue;
        for (unsigned p = 1; p <= pts.k[d]; p++)
            for (int fill = 0; fill < 2; fill++) {
                memset(in, 0, sizeof in);
                memcpy(in, hdr, sizeof hdr);
                size_t at = pts.pos[d];
                in[at] = (uint8_t)(192 + (p - 1));
                memset(in + at + 1, fill ? 5 : 0, sizeof in - at - 1);
                if (fz_h5gen_write(path, in, sizeof in, &info) != 0)
                    continue;
                try_file(out, sizeof out, info.category_arg, &refused);
                cases++;
                refused ? nref++ : nacc++;
                if (table)
                    printf("| %s | %s%s | %s |\n", pts.what[d], pert_name(pts.what[d], p),
                           fill ? " (fill 5)" : "", out);
                /* exact outcomes for a few */
                if (strcmp(pts.what[d], "integer attribute /:format_version") == 0 && p == 2 && !fill)
                    EXPECT_MSG(strstr(out, "format version 2"), "%s", out);
                if (strcmp(pts.what[d], "string attribute /:format") == 0 && p == 4)
                    EXPECT_MSG(strstr(out, "no 'format' attribute"), "%s", out);
                if (strcmp(pts.what[d], "dataset /cat/train/images") == 0 && p == 1)
                    EXPECT_MSG(strstr(out, "refused") && strstr(out, "images missing"), "%s", out);
                if (strcmp(pts.what[d], "dataset /cat/train/phash") == 0 && p == 1)
                    EXPECT_MSG(strstr(out, "accepted") && strstr(out, "no hash index"), "%s", out);
                /* a count stored as the double 0.5 (fill 5) or NaN (fill 0): refused, not read
                 * as 0 items (found by fuzz_dataset: the test split was silently dropped) */
                if ((strcmp(pts.what[d], "integer attribute /cat:n_test") == 0 ||
                     strcmp(pts.what[d], "integer attribute /cat:n_train") == 0) && p == 3)
                    EXPECT_MSG(strstr(out, "refused") && strstr(out, "is not an integer"), "%s", out);
                if (strcmp(pts.what[d], "value /cat/test/defect[0]") == 0)
                    EXPECT_MSG(strstr(out, "defect index"), "%s", out);
            }
    }
    printf("%d bad files tried: %d refused, %d accepted and fully read\n", cases, nref, nacc);
    EXPECT(cases > 200 && nref > 0);
    unlink(path);
    MPI_Finalize();
    return sn_test_finish();
}
