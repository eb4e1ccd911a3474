/* The shared file helpers (sernet/fsutil.h) and the SVG line charts (sernet/plot.h): temporary
 * names, atomic replacement (committed, discarded, failing to open, failing to rename), file
 * copies, recursive mkdir, the clocks, and the plot's polylines, clipping and markers. */
#include "sernet/fsutil.h"
#include "sernet/plot.h"
#include "sn_test.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];

static void tp(char *buf, size_t len, const char *rel) { snprintf(buf, len, "%s/%s", dir, rel); }

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    if (buf)
        fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

/* entries of dir whose name contains ".tmp" */
static int temporaries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

static void test_tmp_names(void)
{
    char t[SN_TMP_CAP], want[64];
    EXPECT(sn_tmp_name("a/b.h5", SN_TMP_SHARED, t, sizeof t) == SN_OK && strcmp(t, "a/b.h5.tmp") == 0);
    snprintf(want, sizeof want, "a/b.png.tmp.%ld", (long)getpid());
    EXPECT(sn_tmp_name("a/b.png", SN_TMP_PRIVATE, t, sizeof t) == SN_OK && strcmp(t, want) == 0);
    char small[8];
    EXPECT(sn_tmp_name("long_name.h5", SN_TMP_SHARED, small, sizeof small) == SN_EINVAL);
    EXPECT(strstr(sn_err_msg(), "long_name.h5") != NULL && small[0] == '\0');
    sn_err_clear();
}

static void test_afile(void)
{
    char p[600], q[600];
    sn_afile a;
    tp(p, sizeof p, "out.txt");
    /* commit: the content appears under the real name, no temporary left */
    EXPECT(sn_afile_open(&a, p) == SN_OK);
    EXPECT(a.fp && strstr(a.tmp, "out.txt.tmp.") != NULL);
    fputs("first\n", a.fp);
    EXPECT(access(p, F_OK) != 0); /* nothing under the real name while writing */
    EXPECT(sn_afile_commit(&a) == SN_OK);
    char *got = slurp(p);
    EXPECT(got && strcmp(got, "first\n") == 0);
    free(got);
    sn_afile_discard(&a); /* after a commit: nothing happens */
    EXPECT(access(p, F_OK) == 0 && temporaries() == 0);
    /* discard: the old content stays, the temporary goes */
    EXPECT(sn_afile_open(&a, p) == SN_OK);
    fputs("second, abandoned\n", a.fp);
    sn_afile_discard(&a);
    got = slurp(p);
    EXPECT(got && strcmp(got, "first\n") == 0);
    free(got);
    EXPECT(temporaries() == 0);
    /* a folder that does not exist: SN_EIO naming the temporary; discard is then harmless */
    tp(q, sizeof q, "no/such/folder/x.json");
    EXPECT(sn_afile_open(&a, q) == SN_EIO);
    EXPECT(strstr(sn_err_msg(), "no/such/folder/x.json.tmp.") != NULL);
    sn_err_clear();
    sn_afile_discard(&a);
    /* the real name is a folder: the rename fails, the temporary is removed, the folder stays */
    tp(q, sizeof q, "a_folder");
    mkdir(q, 0700);
    EXPECT(sn_afile_open(&a, q) == SN_OK);
    fputs("x", a.fp);
    EXPECT(sn_afile_commit(&a) == SN_EIO);
    EXPECT(strstr(sn_err_msg(), "cannot rename") != NULL && strstr(sn_err_msg(), "a_folder") != NULL);
    sn_err_clear();
    struct stat st;
    EXPECT(stat(q, &st) == 0 && S_ISDIR(st.st_mode) && temporaries() == 0);
    /* empty name */
    EXPECT(sn_afile_open(&a, "") == SN_EINVAL);
    sn_err_clear();
}

static void test_copy(void)
{
    char p[600], q[600], r[600];
    tp(p, sizeof p, "out.txt");
    tp(q, sizeof q, "copy.txt");
    EXPECT(sn_copy_file(p, q) == SN_OK);
    char *a = slurp(p), *b = slurp(q);
    EXPECT(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
    /* a missing source: SN_EIO naming it, an existing destination is left alone */
    tp(r, sizeof r, "missing.txt");
    EXPECT(sn_copy_file(r, q) == SN_EIO);
    EXPECT(strstr(sn_err_msg(), "missing.txt") != NULL);
    sn_err_clear();
    EXPECT(access(q, F_OK) == 0);
}

static void test_clocks(void)
{
    double w0 = sn_clock_wall(), c0 = sn_clock_cpu(), t0 = sn_clock_thread_cpu();
    volatile double x = 0;
    for (int i = 0; i < 2000000; i++)
        x += sqrt((double)i);
    double w1 = sn_clock_wall(), c1 = sn_clock_cpu(), t1 = sn_clock_thread_cpu();
    EXPECT(w0 > 0 && w1 >= w0);
    EXPECT(c1 > c0 && t1 > t0); /* some CPU time was spent */
    EXPECT(t1 - t0 <= c1 - c0 + 1e-3); /* one thread's time is part of the process's */
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void test_plot(void)
{
    char p[600];
    tp(p, sizeof p, "plot.svg");
    /* y = x on [0, 2] in a panel showing x up to 1: the series stops at the right edge (1, 1) */
    double x[5] = {0, 0.5, 1.5, 1.8, 2}, y[5] = {0, 0.5, 1.5, 1.8, 2};
    double x2[2] = {0, 1}, y2[2] = {1, 1};
    sn_plot_series s[2] = {{x, y, 5, "#123456", "rising"}, {x2, y2, 2, "#654321", NULL}};
    sn_plot_panel pn[2] = {{0, 0, 420, 400, "clipped", "x", "y", 0, 1, 0, 1, 1, 0.25, "FPR 0.25", s, 2},
                           {420, 0, 420, 400, "all", "x", "y", 0, 2, 0, 2, 0, NAN, NULL, s, 1}};
    EXPECT(sn_plot_svg(p, 840, 400, pn, 2) == SN_OK);
    char *svg = slurp(p);
    EXPECT(svg != NULL);
    if (!svg)
        return;
    const char *head = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"840\" height=\"400\">\n";
    EXPECT(strncmp(svg, head, strlen(head)) == 0);
    EXPECT(count(svg, "<polyline") == 3 && count(svg, "<g transform") == 2);
    EXPECT(strstr(svg, "translate(420,0)") != NULL);
    /* panel 1: plot area x 50..405, y 28..360; (0,0) -> 50,360; clipped end (1,1) -> 405,28 */
    EXPECT(strstr(svg, "points=\"50.00,360.00 227.50,194.00 405.00,28.00 \"") != NULL);
    EXPECT(strstr(svg, ">FPR 0.25</text>") != NULL && count(svg, "stroke-dasharray=\"6,3\"") == 1);
    EXPECT(count(svg, "stroke-dasharray=\"4,3\"") == 1); /* the diagonal, panel 1 only */
    EXPECT(strstr(svg, "fill=\"#123456\">rising</text>") != NULL);
    /* panel 2 (x and y to 2): every point drawn, the last at the top right corner, the legend
     * 10 px above the bottom right of the plot area */
    EXPECT(strstr(svg, "405.00,28.00 \"/>\n<text x=\"255\" y=\"350\" fill=\"#123456\">rising") != NULL);
    EXPECT(strstr(svg, "</svg>\n") != NULL && temporaries() == 0);
    free(svg);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/sn_test_fsutil_%ld", (long)getpid());
    EXPECT(sn_mkdirs(dir) == SN_OK);
    test_tmp_names();
    test_afile();
    test_copy();
    test_clocks();
    test_plot();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (getenv("SN_TEST_KEEP"))
        fprintf(stderr, "kept %s\n", dir);
    else if (sn_test_failed == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return sn_test_finish();
}
