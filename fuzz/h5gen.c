/* See h5gen.h. Serial HDF5 (default file driver); the loader then opens the file over MPI-IO. */
#include "h5gen.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *d;
    size_t n, pos;
} stream;

/* The next byte, 0 after the end (the position still advances, so decisions keep their place). */
static unsigned byte(stream *s)
{
    unsigned v = s->pos < s->n ? s->d[s->pos] : 0u;
    s->pos++;
    return v;
}

static fz_h5gen_trace_fn trace_fn;
static void *trace_ctx;

void fz_h5gen_set_trace(fz_h5gen_trace_fn fn, void *ctx)
{
    trace_fn = fn;
    trace_ctx = ctx;
}

/* 0 = keep the valid choice, else 1..k: a perturbation. `what` (may be NULL: not traced) names
 * the decision for fz_h5gen_set_trace. */
static unsigned decide(stream *s, unsigned k, const char *what)
{
    if (trace_fn && what)
        trace_fn(what, s->pos, k, trace_ctx);
    unsigned b = byte(s);
    return b < 192 ? 0 : 1 + (b - 192) % k;
}

static int64_t take_i64(stream *s)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | byte(s);
    return (int64_t)v;
}

/* An integer near `valid` or anywhere. */
static int64_t wrong_int(stream *s, int64_t valid)
{
    switch (byte(s) % 6) {
    case 0: return valid + 1;
    case 1: return valid - 1;
    case 2: return 0;
    case 3: return -1;
    case 4: return (int64_t)(byte(s) % 70);
    default: return take_i64(s);
    }
}

static hid_t str_type(size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len ? len : 1);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    return t;
}

/* Scalar or 3-element attribute of a type with a value. */
static void put_attr(hid_t loc, const char *name, hid_t type, int n, int null_space, const void *v)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = null_space ? H5Screate(H5S_NULL) : n == 1 ? H5Screate(H5S_SCALAR)
                                                          : H5Screate_simple(1, dims, NULL);
    hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0 && !null_space)
        H5Awrite(a, type, v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
}

/* Random text of up to 40 bytes from the stream (no NUL). */
static void rand_text(stream *s, char *out, size_t cap)
{
    size_t len = byte(s) % 41;
    if (len >= cap)
        len = cap - 1;
    for (size_t i = 0; i < len; i++) {
        unsigned c = byte(s);
        out[i] = (char)(c ? c : 'a');
    }
    out[len] = '\0';
}

/* A string attribute whose valid value is `valid`. */
static void attr_str(stream *s, hid_t loc, const char *where, const char *name, const char *valid)
{
    char buf[64], what[1024];
    snprintf(what, sizeof what, "string attribute %s:%s", where, name);
    unsigned p = decide(s, 7, what);
    switch (p) {
    case 0: {
        hid_t t = str_type(strlen(valid) + 1);
        put_attr(loc, name, t, 1, 0, valid);
        H5Tclose(t);
        return;
    }
    case 1: return; /* missing */
    case 2: {       /* another text */
        rand_text(s, buf, sizeof buf);
        hid_t t = str_type(strlen(buf) + 1);
        put_attr(loc, name, t, 1, 0, buf);
        H5Tclose(t);
        return;
    }
    case 3: { /* a number */
        int64_t v = take_i64(s);
        put_attr(loc, name, H5T_STD_I64LE, 1, 0, &v);
        return;
    }
    case 4: { /* an array of three strings */
        size_t len = strlen(valid) + 1;
        char *three = calloc(3, len);
        for (int i = 0; i < 3; i++)
            memcpy(three + i * len, valid, len);
        hid_t t = str_type(len);
        put_attr(loc, name, t, 3, 0, three);
        H5Tclose(t);
        free(three);
        return;
    }
    case 5: { /* variable-length string */
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        const char *v = valid;
        put_attr(loc, name, t, 1, 0, &v);
        H5Tclose(t);
        return;
    }
    case 6: { /* null dataspace */
        hid_t t = str_type(strlen(valid) + 1);
        put_attr(loc, name, t, 1, 1, NULL);
        H5Tclose(t);
        return;
    }
    default: { /* the exact text without the terminating NUL, space padded */
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(valid) ? strlen(valid) : 1);
        H5Tset_strpad(t, H5T_STR_SPACEPAD);
        put_attr(loc, name, t, 1, 0, valid);
        H5Tclose(t);
        return;
    }
    }
}

/* An integer attribute whose valid value is `valid`; returns the value written (or valid). */
static void attr_int(stream *s, hid_t loc, const char *where, const char *name, int64_t valid)
{
    char what[1024];
    snprintf(what, sizeof what, "integer attribute %s:%s", where, name);
    unsigned p = decide(s, 7, what);
    switch (p) {
    case 0: put_attr(loc, name, H5T_STD_I64LE, 1, 0, &valid); return;
    case 1: return;
    case 2: {
        int64_t v = wrong_int(s, valid);
        put_attr(loc, name, H5T_STD_I64LE, 1, 0, &v);
        return;
    }
    case 3: { /* a double: the value plus a fraction, or NaN / inf / huge */
        static const double odd[] = {NAN, INFINITY, -INFINITY, 1e300, -1e300, 0.5};
        unsigned k = byte(s) % 7;
        double v = k < 6 ? odd[k] : (double)valid + 0.25;
        put_attr(loc, name, H5T_IEEE_F64LE, 1, 0, &v);
        return;
    }
    case 4: { /* a string */
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)valid);
        hid_t t = str_type(strlen(buf) + 1);
        put_attr(loc, name, t, 1, 0, buf);
        H5Tclose(t);
        return;
    }
    case 5: {
        int64_t v3[3] = {valid, valid, valid};
        put_attr(loc, name, H5T_STD_I64LE, 3, 0, v3);
        return;
    }
    case 6: put_attr(loc, name, H5T_STD_I64LE, 1, 1, NULL); return;
    default: { /* another integer type: unsigned 8 bit (truncated) or big-endian 16 bit */
        if (byte(s) & 1) {
            uint8_t v = (uint8_t)valid;
            put_attr(loc, name, H5T_STD_U8LE, 1, 0, &v);
        } else {
            int16_t v = (int16_t)valid;
            put_attr(loc, name, H5T_STD_I16BE, 1, 0, &v);
        }
        return;
    }
    }
}

/* A dataset at `name` under loc, valid type `type` and shape dims[0..nd), values `vals` (in the
 * memory type `mtype`, laid out for the valid shape) used when the shape is kept. */
static hid_t make_dset(stream *s, hid_t loc, const char *where, const char *name, hid_t type,
                       hid_t mtype, int nd, const hsize_t *dims, const void *vals, int chunkable)
{
    char what[1024];
    snprintf(what, sizeof what, "dataset %s/%s", where, name);
    hsize_t d[8];
    int rank = nd;
    memcpy(d, dims, sizeof(hsize_t) * nd);
    hid_t t = H5Tcopy(type), mt = H5Tcopy(mtype);
    const void *v = vals;
    int scalar = 0, chunk = 0;
    void *junk = NULL;
    unsigned p = decide(s, 8, what);
    switch (p) {
    case 0: break;
    case 1: /* missing */
        H5Tclose(t);
        H5Tclose(mt);
        return H5I_INVALID_HID;
    case 2: { /* a group in its place */
        hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0)
            H5Gclose(g);
        H5Tclose(t);
        H5Tclose(mt);
        return H5I_INVALID_HID;
    }
    case 3: /* another rank: one more dimension of 1, or one less */
        if (((byte(s) & 1) || rank == 1) && rank < 7)
            d[rank++] = 1;
        else if (rank > 1)
            rank--;
        v = NULL;
        break;
    case 4: { /* one dimension changed */
        int k = (int)(byte(s) % (unsigned)rank);
        d[k] = (hsize_t)(byte(s) % 40);
        v = NULL;
        break;
    }
    case 5: { /* another element type */
        unsigned k = byte(s) % 8;
        H5Tclose(t);
        if (k < 6) {
            hid_t choices[6] = {H5T_STD_U8LE, H5T_STD_I32LE, H5T_IEEE_F32LE, H5T_IEEE_F64BE,
                                H5T_STD_U64BE, H5T_STD_I8LE};
            t = H5Tcopy(choices[k]);
        } else if (k == 6) {
            t = str_type(4);
        } else {
            t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, H5T_VARIABLE);
        }
        v = NULL;
        break;
    }
    case 6: /* empty */
        d[0] = 0;
        v = NULL;
        break;
    case 7: /* scalar */
        scalar = 1;
        v = NULL;
        break;
    default: /* same content, chunked and compressed */
        chunk = chunkable;
        break;
    }
    hid_t sp = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, d, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunk) {
        hsize_t c[8];
        for (int i = 0; i < rank; i++)
            c[i] = d[i] ? d[i] : 1;
        H5Pset_chunk(dcpl, rank, c);
        H5Pset_deflate(dcpl, 1);
    }
    hid_t ds = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (ds >= 0) {
        if (v && !H5Tis_variable_str(t)) {
            H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        } else if (!H5Tis_variable_str(t) && H5Tget_class(t) != H5T_STRING) {
            /* junk of the file type's size: whatever the bytes say */
            hssize_t np = H5Sget_simple_extent_npoints(sp);
            size_t es = H5Tget_size(t);
            if (np > 0 && np < (1 << 20)) {
                junk = malloc((size_t)np * es);
                for (size_t i = 0; i < (size_t)np * es; i++)
                    ((uint8_t *)junk)[i] = (uint8_t)byte(s);
                H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, junk);
                free(junk);
            }
        }
    }
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Tclose(t);
    H5Tclose(mt);
    return ds;
}

static void close_if(hid_t d)
{
    if (d >= 0)
        H5Dclose(d);
}

/* Names "item_000.png" ... as fixed-length strings of length len. */
static void put_names(stream *s, hid_t g, const char *where, const char *dsname, int n,
                      const char *prefix)
{
    size_t len = 16;
    char what[1024];
    snprintf(what, sizeof what, "string length of %s/%s", where, dsname);
    if (decide(s, 2, what))
        len = 1 + byte(s) % 300; /* other fixed lengths: truncated names, very long names */
    char *buf = calloc((size_t)(n ? n : 1), len);
    for (int i = 0; i < n; i++) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%s_%03d.png", prefix, i);
        memcpy(buf + (size_t)i * len, tmp, strlen(tmp) < len ? strlen(tmp) : len);
    }
    hid_t t = str_type(len);
    hsize_t dims[1] = {(hsize_t)n};
    close_if(make_dset(s, g, where, dsname, t, t, 1, dims, buf, 1));
    H5Tclose(t);
    free(buf);
}

static void put_split(stream *s, hid_t file, const char *cat, int split, int n, int S, int ntypes)
{
    char gp[400];
    snprintf(gp, sizeof gp, "/%s/%s", cat, split ? "test" : "train");
    char what[1024];
    snprintf(what, sizeof what, "group %s", gp);
    if (decide(s, 1, what))
        return; /* the whole split group missing */
    hid_t g = H5Gcreate2(file, gp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0)
        return;
    size_t px = (size_t)S * S;
    uint8_t *img = malloc((size_t)n * px * 3 + 1);
    for (size_t i = 0; i < (size_t)n * px * 3; i++)
        img[i] = (uint8_t)(i * 7); /* pixel values: any is valid, not drawn from the stream */
    hsize_t dims[4] = {(hsize_t)n, (hsize_t)S, (hsize_t)S, 3};
    close_if(make_dset(s, g, gp, "images", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, dims, img, 1));
    put_names(s, g, gp, "names", n, split ? "test" : "train");
    int32_t *orig = malloc(sizeof(int32_t) * 2 * (size_t)(n + 1));
    snprintf(what, sizeof what, "value %s/orig_size[0][0]", gp);
    for (int i = 0; i < 2 * n; i++)
        orig[i] = decide(s, 1, i == 0 ? what : NULL) ? (int32_t)take_i64(s) : 40 + i;
    hsize_t od[2] = {(hsize_t)n, 2};
    close_if(make_dset(s, g, gp, "orig_size", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, od, orig, 0));
    if (split == 1) {
        uint8_t *mask = malloc(px * (size_t)n + 1), *labels = malloc((size_t)n + 1),
                *has = malloc((size_t)n + 1);
        int32_t *defect = malloc(sizeof(int32_t) * (size_t)(n + 1));
        for (size_t i = 0; i < px * (size_t)n; i++)
            mask[i] = (uint8_t)((i / 5) & 1);
        for (int i = 0; i < n; i++) {
            char w1[1024], w2[500], w3[500];
            snprintf(w1, sizeof w1, "value %s/defect[0]", gp);
            snprintf(w2, sizeof w2, "value %s/labels[0]", gp);
            snprintf(w3, sizeof w3, "value %s/has_mask[0]", gp);
            defect[i] = decide(s, 1, i ? NULL : w1) ? (int32_t)wrong_int(s, ntypes) : i % ntypes;
            labels[i] = decide(s, 1, i ? NULL : w2) ? (uint8_t)(2 + byte(s) % 254)
                                                    : (uint8_t)(defect[i] != 0);
            has[i] = decide(s, 1, i ? NULL : w3) ? (uint8_t)(2 + byte(s) % 254) : labels[i];
        }
        hsize_t md[3] = {(hsize_t)n, (hsize_t)S, (hsize_t)S}, nd[1] = {(hsize_t)n};
        close_if(make_dset(s, g, gp, "masks", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, md, mask, 1));
        close_if(make_dset(s, g, gp, "labels", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, nd, labels, 0));
        close_if(make_dset(s, g, gp, "has_mask", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, nd, has, 0));
        close_if(make_dset(s, g, gp, "defect", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, nd, defect, 0));
        static const char *tn[] = {"good", "crack", "hole", "scratch"};
        char tbuf[4 * 8] = {0};
        for (int i = 0; i < ntypes; i++)
            memcpy(tbuf + 8 * i, tn[i], strlen(tn[i]));
        hid_t t = str_type(8);
        hsize_t td[1] = {(hsize_t)ntypes};
        close_if(make_dset(s, g, gp, "defect_types", t, t, 1, td, tbuf, 0));
        H5Tclose(t);
        free(mask);
        free(labels);
        free(has);
        free(defect);
    } else {
        /* the hash index: uint64 [n_train] with "algorithm" and "n_images" */
        uint64_t *h = malloc(sizeof(uint64_t) * (size_t)(n + 1));
        for (int i = 0; i < n; i++)
            h[i] = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1); /* any value is valid */
        hsize_t hd[1] = {(hsize_t)n};
        hid_t d = make_dset(s, g, gp, "phash", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, hd, h, 0);
        char pp[1024];
        snprintf(pp, sizeof pp, "%s/phash", gp);
        if (d >= 0) {
            attr_str(s, d, pp, "algorithm", "phash");
            attr_int(s, d, pp, "n_images", n);
            H5Dclose(d);
        }
        snprintf(what, sizeof what, "stale %s/phash.partial", gp);
        if (decide(s, 1, what)) { /* a stale partial index left next to it */
            close_if(make_dset(s, g, gp, "phash.partial", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, hd, h, 0));
        }
        free(h);
    }
    free(orig);
    free(img);
    H5Gclose(g);
}

int fz_h5gen_write(const char *path, const uint8_t *data, size_t size, fz_h5gen_info *info)
{
    stream s = {data, size, 0};
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    memset(info, 0, sizeof *info);
    int S = (byte(&s) & 1) ? 32 : 16;
    int n_train = 1 + (int)(byte(&s) % 4);
    int n_test = (int)(byte(&s) % 5);
    int ntypes = 1 + (int)(byte(&s) % 4);
    info->size = S;
    info->n_train = n_train;
    info->n_test = n_test;

    /* the category name in the root attribute and the group actually written */
    const char *cat = "cat";
    char catbuf[320];
    const char *list = cat;
    switch (decide(&s, 6, "category list (root attribute categories)")) {
    case 0: break;
    case 1: list = ""; break;
    case 2: list = "cat,other"; break;
    case 3: list = "a/b"; break;
    case 4:
        memset(catbuf, 'c', 300);
        catbuf[300] = '\0';
        list = cat = catbuf; /* longer than the loader's category buffer */
        break;
    case 5: list = "."; break;
    default: list = "missing"; break;
    }
    switch (decide(&s, 5, "category asked for")) {
    case 0: info->category_arg = NULL; break;
    case 1: info->category_arg = "cat"; break;
    case 2: info->category_arg = "other"; break;
    case 3: info->category_arg = ""; break;
    case 4: info->category_arg = "/"; break;
    default:
        rand_text(&s, info->category_buf, sizeof info->category_buf);
        info->category_arg = info->category_buf;
        break;
    }

    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    H5Pclose(fcpl);
    if (f < 0)
        return -1;
    attr_str(&s, f, "/", "format", "sernet-dataset");
    attr_int(&s, f, "/", "format_version", 1);
    attr_str(&s, f, "/", "categories", list);
    attr_int(&s, f, "/", "image_size", S);
    attr_str(&s, f, "/", "source", "fuzz");

    char gp[400];
    snprintf(gp, sizeof gp, "/%s", cat);
    if (!decide(&s, 1, "category group")) {
        hid_t g = H5Gcreate2(f, gp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) {
            attr_int(&s, g, gp, "image_size", S);
            attr_int(&s, g, gp, "n_train", n_train);
            attr_int(&s, g, gp, "n_test", n_test);
            attr_str(&s, g, gp, "source", "fuzz");
            put_split(&s, f, cat, 0, n_train, S, ntypes);
            if (n_test > 0 || decide(&s, 1, "test split written although n_test = 0"))
                put_split(&s, f, cat, 1, n_test, S, ntypes);
            H5Gclose(g);
        }
    }
    return H5Fclose(f) < 0 ? -1 : 0;
}

/* ---- model files (fuzz_model) ------------------------------------------------------------- */

#include "sernet/config.h"
#include "sernet/dataset.h"
#include "sernet/results.h"
#include "sernet/unet.h"

/* A float64 attribute whose valid value is `valid`: missing, NaN/inf/out of [0,1], a string, an
 * integer, an array or a null dataspace as perturbations. */
static void attr_dbl(stream *s, hid_t loc, const char *where, const char *name, double valid)
{
    char what[1024];
    snprintf(what, sizeof what, "float attribute %s:%s", where, name);
    switch (decide(s, 6, what)) {
    case 0: put_attr(loc, name, H5T_IEEE_F64LE, 1, 0, &valid); return;
    case 1: return;
    case 2: {
        static const double odd[] = {NAN, INFINITY, -INFINITY, -0.001, 1.001, 1e300, -1, 0, 1};
        double v = odd[byte(s) % 9];
        put_attr(loc, name, H5T_IEEE_F64LE, 1, 0, &v);
        return;
    }
    case 3: {
        hid_t t = str_type(4);
        put_attr(loc, name, t, 1, 0, "0.5");
        H5Tclose(t);
        return;
    }
    case 4: {
        int64_t v = wrong_int(s, 0);
        put_attr(loc, name, H5T_STD_I64LE, 1, 0, &v);
        return;
    }
    case 5: {
        double v3[3] = {valid, valid, valid};
        put_attr(loc, name, H5T_IEEE_F64LE, 3, 0, v3);
        return;
    }
    default: put_attr(loc, name, H5T_IEEE_F64LE, 1, 1, NULL); return;
    }
}

/* /seg or /rec with the tensors of a real net of that kind and width. */
static void put_net(stream *s, hid_t f, sn_net_kind kind, int width, int units, const sn_config *cfg)
{
    const char *g = kind == SN_NET_SEG ? "/seg" : "/rec";
    char what[1024], tp[300];
    snprintf(what, sizeof what, "group %s", g);
    if (decide(s, 1, what))
        return; /* net missing */
    /* the tensors of a net of another width or unit count (the attributes still say `width`) */
    int tw = width, tu = units;
    snprintf(what, sizeof what, "tensors of %s from another architecture", g);
    switch (decide(s, 2, what)) {
    case 0: break;
    case 1: tw = width == 1 ? 2 : width - 1; break;
    default: tu = units == 1 ? 2 : 1; break;
    }
    sn_unet *net = NULL;
    if (sn_unet_create(&net, kind, tw, tu, cfg->bn_eps, cfg->bn_momentum) != SN_OK) {
        sn_err_clear();
        return;
    }
    hid_t gr = H5Gcreate2(f, g, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (gr < 0) {
        sn_unet_free(net);
        return;
    }
    attr_str(s, gr, g, "net", kind == SN_NET_SEG ? "seg" : "rec");
    attr_int(s, gr, g, "width", width);
    attr_int(s, gr, g, "units_per_block", units);
    attr_int(s, gr, g, "step", 10);
    attr_int(s, gr, g, "steps_total", 10);
    attr_int(s, gr, g, "complete", 1);
    snprintf(tp, sizeof tp, "%s/tensors", g);
    snprintf(what, sizeof what, "group %s", tp);
    hid_t tg = decide(s, 1, what) ? H5I_INVALID_HID
                                  : H5Gcreate2(gr, "tensors", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (tg >= 0) {
        snprintf(what, sizeof what, "non-finite value in a tensor of %s", g);
        int bad_tensor = decide(s, 1, what) ? (int)(byte(s) % (unsigned)sn_unet_tensor_count(net)) : -1;
        for (int i = 0; i < sn_unet_tensor_count(net); i++) {
            const sn_tensor_info *ti = sn_unet_tensor(net, i);
            float *v = malloc(sizeof(float) * (ti->numel + 1));
            for (size_t j = 0; j < ti->numel; j++)
                v[j] = ti->is_buffer ? 1.0f : 0.01f * (float)((j % 13) - 6);
            if (i == bad_tensor)
                v[byte(s) % ti->numel] = (byte(s) & 1) ? NAN : -INFINITY;
            hsize_t d[4];
            for (int k = 0; k < ti->ndim; k++)
                d[k] = (hsize_t)ti->dims[k];
            close_if(make_dset(s, tg, tp, ti->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                               ti->ndim, d, v, 1));
            free(v);
        }
        snprintf(what, sizeof what, "extra tensor in %s", tp);
        if (decide(s, 1, what)) {
            float x = 1;
            hsize_t one = 1;
            close_if(make_dset(s, tg, tp, "extra.weight", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, &one,
                               &x, 0));
        }
        H5Gclose(tg);
    }
    H5Gclose(gr);
    sn_unet_free(net);
}

int fz_h5gen_model_write(const char *path, const uint8_t *data, size_t size, fz_h5gen_model_info *info)
{
    stream s = {data, size, 0};
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    memset(info, 0, sizeof *info);
    int seg_w = 1 + (int)(byte(&s) % 4), rec_w = 1 + (int)(byte(&s) % 4);
    int units = 1 + (int)(byte(&s) % 2);
    int S = (byte(&s) & 1) ? 32 : 16;
    info->size = S;
    sn_config cfg;
    sn_config_defaults(&cfg);
    cfg.seg_width = seg_w;
    cfg.rec_width = rec_w;
    cfg.units_per_block = units;
    cfg.image_size = S;
    /* the configuration text: as trained, or with another net shape / threshold */
    sn_config stored = cfg;
    switch (decide(&s, 4, "stored configuration keys")) {
    case 0: break;
    case 1: stored.seg_width = seg_w + 1; break;
    case 2: stored.units_per_block = 3 - units; break;
    case 3: stored.repair_threshold = (double)(byte(&s) % 101) / 100.0; break;
    default: stored.image_size = S * 2; break;
    }
    char *ini = sn_config_to_ini(&stored);
    if (!ini)
        return -1;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        free(ini);
        return -1;
    }
    attr_str(&s, f, "/", "format", "sernet-model");
    attr_int(&s, f, "/", "format_version", 1);
    attr_str(&s, f, "/", "config", ini);
    free(ini);
    attr_str(&s, f, "/", "category", "cat");
    attr_int(&s, f, "/", "image_size", S);
    attr_int(&s, f, "/", "global_batch", 4);
    put_net(&s, f, SN_NET_SEG, seg_w, units, &cfg);
    put_net(&s, f, SN_NET_REC, rec_w, units, &cfg);
    if (!decide(&s, 1, "group /calib")) {
        hid_t g = H5Gcreate2(f, "calib", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) {
            attr_dbl(&s, g, "/calib", "tau", (double)(byte(&s) % 256) / 255.0);
            H5Gclose(g);
        }
    }
    attr_int(&s, f, "/", "checkpoint_complete", 1);
    return H5Fclose(f) < 0 ? -1 : 0;
}

/* ---- results files (fuzz_results) --------------------------------------------------------- */

int fz_h5gen_results_write(const char *data_path, const char *path, const uint8_t *data,
                           size_t size, fz_h5gen_results_info *info)
{
    stream s = {data, size, 0};
    int rc = -1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    memset(info, 0, sizeof *info);
    /* a valid dataset file: h5gen's first four bytes (size, counts), then every decision valid */
    uint8_t head[4] = {(uint8_t)byte(&s), (uint8_t)byte(&s), (uint8_t)byte(&s), 0};
    fz_h5gen_info dinfo;
    fz_h5gen_trace_fn saved = trace_fn;
    trace_fn = NULL;
    int w = fz_h5gen_write(data_path, head, sizeof head, &dinfo);
    trace_fn = saved;
    if (w != 0)
        return -1;
    sn_dataset *ds = NULL;
    if (sn_dataset_open(data_path, NULL, MPI_COMM_SELF, &ds) != SN_OK) {
        sn_err_clear();
        return -1;
    }
    const int S = sn_dataset_image_size(ds);
    const int64_t M = sn_dataset_count(ds, SN_SPLIT_TEST);
    info->size = S;
    info->n_test = M;
    char fp[17];
    sn_results_data_fingerprint(ds, fp);
    char cat[64];
    snprintf(cat, sizeof cat, "%s", sn_dataset_category(ds));
    sn_dataset_close(ds);
    switch (decide(&s, 3, "data fingerprint")) {
    case 0: break;
    case 1: fp[byte(&s) % 16] ^= 1; break;
    case 2: fp[8] = '\0'; break;
    default: memset(fp, 'z', 16); break;
    }

    const size_t plane = (size_t)S * S, m = (size_t)M;
    float *scores = malloc(sizeof(float) * (m + 1)), *maps = malloc(sizeof(float) * (m * plane + 1)),
          *seg = malloc(sizeof(float) * (m * plane + 1));
    uint8_t *rep = malloc(m * plane + 1), *rec = malloc(m * plane * 3 + 1), *done = malloc(m + 1);
    int64_t *nbr = malloc(sizeof(int64_t) * (m + 1)), *npx = malloc(sizeof(int64_t) * (m + 1));
    int32_t *dist = malloc(sizeof(int32_t) * (m + 1));
    uint64_t *check = malloc(sizeof(uint64_t) * (m + 1));
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < plane; j++) {
            maps[i * plane + j] = (float)((i + j) % 17) / 16.0f;
            seg[i * plane + j] = (float)((i * 3 + j) % 11) / 10.0f;
            rep[i * plane + j] = (uint8_t)((i + j / 7) & 1);
        }
        for (size_t j = 0; j < plane * 3; j++)
            rec[i * plane * 3 + j] = (uint8_t)(i * 31 + j);
        scores[i] = 1.0f;
        nbr[i] = 0;
        dist[i] = (int32_t)i;
        npx[i] = (int64_t)i * 3;
        done[i] = 1;
        check[i] = sn_results_row_checksum(S, scores[i], maps + i * plane, seg + i * plane,
                                           rep + i * plane, rec + i * plane * 3, nbr[i], dist[i],
                                           npx[i]);
    }
    if (m > 0) {
        if (decide(&s, 1, "value /done[0] (done flag > 1)"))
            done[0] = (uint8_t)(2 + byte(&s) % 254);
        if (decide(&s, 1, "value /checksums[last] (wrong checksum)"))
            check[m - 1] ^= 1ull << (byte(&s) % 64);
        if (decide(&s, 1, "value /maps[0][0] (data changed after the checksum)"))
            maps[0] = NAN;
    }

    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        goto done;
    attr_str(&s, f, "/", "format", "sernet-results");
    attr_int(&s, f, "/", "format_version", 1);
    attr_int(&s, f, "/", "complete", 1);
    attr_str(&s, f, "/", "model", "model.h5");
    attr_str(&s, f, "/", "model_fingerprint", "0123456789abcdef");
    attr_str(&s, f, "/", "data", data_path);
    attr_str(&s, f, "/", "data_fingerprint", fp);
    attr_str(&s, f, "/", "category", cat);
    attr_int(&s, f, "/", "image_size", S);
    attr_int(&s, f, "/", "n_test", M);
    attr_dbl(&s, f, "/", "tau", 0.5);
    attr_int(&s, f, "/", "min_area", 4);
    attr_int(&s, f, "/", "batch", 2);
    attr_int(&s, f, "/", "ranks", 1);
    hsize_t d1[1] = {(hsize_t)M}, d3[3] = {(hsize_t)M, (hsize_t)S, (hsize_t)S},
            d4[4] = {(hsize_t)M, (hsize_t)S, (hsize_t)S, 3};
    close_if(make_dset(&s, f, "", "scores", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, scores, 0));
    close_if(make_dset(&s, f, "", "maps", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, d3, maps, 1));
    close_if(make_dset(&s, f, "", "seg_masks", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, d3, seg, 1));
    close_if(make_dset(&s, f, "", "repair_masks", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, d3, rep, 1));
    close_if(make_dset(&s, f, "", "reconstructions", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, d4, rec, 1));
    close_if(make_dset(&s, f, "", "neighbor", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, nbr, 0));
    close_if(make_dset(&s, f, "", "neighbor_distance", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, d1, dist, 0));
    close_if(make_dset(&s, f, "", "repaired_pixels", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, d1, npx, 0));
    close_if(make_dset(&s, f, "", "checksums", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, d1, check, 0));
    close_if(make_dset(&s, f, "", "done", H5T_STD_U8LE, H5T_NATIVE_UINT8, 1, d1, done, 0));
    rc = H5Fclose(f) < 0 ? -1 : 0;
done:
    free(scores);
    free(maps);
    free(seg);
    free(rep);
    free(rec);
    free(done);
    free(nbr);
    free(npx);
    free(dist);
    free(check);
    return rc;
}
