/* sernet info FILE: describe any HDF5 file written by sernet (its "format" root attribute names
 * the kind); dataset files are checked in depth. Foreign and damaged files are reported clearly.
 * (The file is cmd_fileinfo.c because cmd_info.c holds `version` and `config`.) */
#define _GNU_SOURCE
#include "cli/cli.h"
#include "sernet/bundle.h"
#include "sernet/dataset.h"
#include "sernet/dist.h"
#include "sernet/format.h"
#include "sernet/h5util.h"
#include "sernet/hashindex.h"
#include "sernet/model.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: sernet info [--check] FILE\n"
    "Describe a file written by sernet: kind, format version, attributes, categories, counts,\n"
    "image size and every dataset's type and shape. A file that is not HDF5, is damaged, or was\n"
    "not written by sernet is reported as such (exit 1). A bundle (`sernet bundle`) is read\n"
    "whole, as scoring reads it: category, training images, fingerprint, thresholds; a damaged\n"
    "part is named (exit 1).\n"
    "  --check   also read every image and mask of a dataset file (finds damaged data)\n";

static void print_type_shape(hid_t d)
{
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), p = H5Dget_create_plist(d);
    const char *kind = "?";
    char buf[64];
    if (t >= 0) {
        H5T_class_t c = H5Tget_class(t);
        size_t sz = H5Tget_size(t);
        if (c == H5T_INTEGER)
            snprintf(buf, sizeof buf, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", 8 * sz), kind = buf;
        else if (c == H5T_FLOAT)
            snprintf(buf, sizeof buf, "float%zu", 8 * sz), kind = buf;
        else if (c == H5T_STRING)
            snprintf(buf, sizeof buf, "string(%zu)", sz), kind = buf;
        else
            kind = "other";
    }
    printf("%s [", kind);
    hsize_t dims[16];
    int nd = s >= 0 ? H5Sget_simple_extent_dims(s, dims, NULL) : -1;
    for (int i = 0; i < nd && i < 16; i++)
        printf("%s%llu", i ? "," : "", (unsigned long long)dims[i]);
    printf("]%s", p >= 0 && H5Pget_layout(p) == H5D_CHUNKED ? " chunked" : "");
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    if (p >= 0)
        H5Pclose(p);
}

static herr_t visit(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    (void)data;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d >= 0) {
        printf("  /%-34s ", name);
        print_type_shape(d);
        printf("\n");
        H5Dclose(d);
    } else {
        H5Eclear2(H5E_DEFAULT);
        printf("  /%s/\n", name);
    }
    return 0;
}

static herr_t print_attr(hid_t obj, const char *name, const H5A_info_t *info, void *data)
{
    (void)info;
    (void)data;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    printf("  %-16s ", name);
    if (c == H5T_STRING && H5Tis_variable_str(t) == 0) {
        size_t n = H5Tget_size(t);
        char *v = calloc(n + 1, 1);
        hid_t mt = sn_h5_string_type(n);
        if (v && mt >= 0 && H5Aread(a, mt, v) >= 0) {
            char *nl = strchr(v, '\n');
            int lines = 0;
            for (char *q = v; *q; q++)
                lines += *q == '\n';
            if (nl && lines > 1) {
                *nl = '\0';
                printf("%s ... (%d lines)\n", v, lines);
            } else {
                if (nl)
                    *nl = '\0';
                printf("%s\n", v);
            }
        } else {
            printf("(unreadable string)\n");
        }
        if (mt >= 0)
            H5Tclose(mt);
        free(v);
    } else if (c == H5T_INTEGER) {
        long long v = 0;
        H5Aread(a, H5T_NATIVE_LLONG, &v);
        printf("%lld\n", v);
    } else if (c == H5T_FLOAT) {
        double v = 0;
        H5Aread(a, H5T_NATIVE_DOUBLE, &v);
        printf("%.17g\n", v);
    } else {
        printf("(not shown)\n");
    }
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return 0;
}

static sn_status describe_dataset(const char *path, const char *cat, int check, int print)
{
    sn_status status = SN_OK;
    sn_dataset *ds = NULL;
    float *img = NULL, *msk = NULL;
    SN_TRY(sn_dataset_open(path, cat, MPI_COMM_WORLD, &ds));
    int64_t nt = sn_dataset_count(ds, SN_SPLIT_TRAIN), nm = sn_dataset_count(ds, SN_SPLIT_TEST);
    int64_t ndef = 0, nmask = 0;
    for (int64_t i = 0; i < nm; i++) {
        ndef += sn_dataset_label(ds, i);
        nmask += sn_dataset_has_mask(ds, i);
    }
    if (print) {
        printf("category %s: %dx%d RGB, %lld train, %lld test (%lld normal, %lld defective, %lld "
               "with pixel masks)\n",
               cat, sn_dataset_image_size(ds), sn_dataset_image_size(ds), (long long)nt,
               (long long)nm, (long long)(nm - ndef), (long long)ndef, (long long)nmask);
        if (nm > 0) {
            printf("  defect types:");
            for (int t = 0; t < sn_dataset_n_defect_types(ds); t++) {
                int64_t k = 0;
                for (int64_t i = 0; i < nm; i++)
                    k += sn_dataset_defect(ds, i) == t;
                printf(" %s (%lld)", sn_dataset_defect_type(ds, t), (long long)k);
            }
            printf("\n");
        }
    }
    if (check) {
        size_t S = (size_t)sn_dataset_image_size(ds);
        SN_ALLOC(img, 3 * S * S, "check buffer");
        SN_ALLOC(msk, S * S, "check buffer");
        for (int s = 0; s < 2; s++) {
            int64_t b, c;
            sn_dataset_shard(ds, (sn_split)s, &b, &c);
            for (int64_t i = b; i < b + c; i++)
                SN_TRY(sn_dataset_read(ds, (sn_split)s, &i, 1, img, s ? msk : NULL, NULL));
        }
    }
done:
    if (check)
        status = sn_dist_agree(status, MPI_COMM_WORLD);
    sn_free(img);
    sn_free(msk);
    sn_dataset_close(ds);
    return status;
}

/* A bundle read as `score` and `infer` read it: every part loaded, every checksum verified. */
static sn_status describe_bundle(const char *path, int print)
{
    sn_status status = SN_OK;
    sn_model *m = NULL;
    sn_trainset t = {0};
    SN_TRY(sn_model_load(path, &m));
    SN_TRY(sn_trainset_load_bundle(path, &t));
    if (print) {
        const sn_thresholds *thr = sn_model_thresholds(m);
        printf("bundle: category %s, %dx%d RGB, %lld training images with names and hash index "
               "(%s)\n", sn_model_category(m), sn_model_image_size(m), sn_model_image_size(m),
               (long long)t.n, sn_hashindex_algorithm());
        printf("  model fingerprint %s, repair threshold %.6g, area filter %lld px\n",
               sn_model_fingerprint(m), sn_model_tau(m), (long long)sn_model_min_area(m));
        if (thr->set)
            printf("  decision thresholds: image %.9g, pixel %.9g (%s)\n", thr->image, thr->pixel,
                   thr->source);
        else
            printf("  decision thresholds: none (set them with `sernet calibrate --model %s ...`)\n",
                   path);
        if (sn_model_calib_warning(m)[0])
            printf("  calibration warning: %s\n", sn_model_calib_warning(m));
        printf("check: every part read, every checksum verified\n");
    }
done:
    sn_trainset_free(&t);
    sn_model_free(m);
    return status;
}

int sn_cmd_info(int argc, char **argv)
{
    int check = 0, pos = 0;
    const sn_cli_opt opts[] = {{"check", SN_OPT_FLAG, &check, 0, 0}, SN_OPT_END};
    int prc = sn_cli_parse("info", usage, argc, argv, opts, NULL, &pos);
    if (prc)
        return sn_cli_parse_exit(prc);
    if (pos != argc - 1)
        return sn_cli_usage_error("info", usage, pos >= argc ? "missing FILE" : "one FILE only");
    const char *path = argv[pos];
    int print = sn_cli_rank() == 0;
    sn_h5file f;
    sn_status st = sn_h5_open(&f, path, MPI_COMM_WORLD);
    if (st != SN_OK)
        return sn_cli_fail("info");
    char *fmt = NULL, *cats = NULL;
    int64_t ver = -1;
    int known = sn_format_identify(&f, &fmt, &ver); /* ver -1 when absent */
    if (known < 0) {
        /* present but unreadable: a failed metadata checksum, which only bundles carry; the
         * bundle reader names the part */
        sn_err_clear();
        sn_h5_close(&f);
        describe_bundle(path, 0);
        return sn_cli_fail("info");
    }
    if (!known) {
        SN_ERR(SN_EFORMAT, "%s: an HDF5 file, but not written by sernet (no 'format' root attribute)", path);
        sn_h5_close(&f);
        return sn_cli_fail("info");
    }
    if (print) {
        printf("file: %s\nkind: %s, format version %lld\nattributes:\n", path, fmt, (long long)ver);
        hsize_t idx = 0;
        H5Aiterate2(f.id, H5_INDEX_NAME, H5_ITER_INC, &idx, print_attr, NULL);
        printf("objects:\n");
        H5Lvisit(f.id, H5_INDEX_NAME, H5_ITER_INC, visit, NULL);
        H5Eclear2(H5E_DEFAULT);
    }
    int is_dataset = strcmp(fmt, SN_DATASET_FORMAT) == 0, is_bundle = strcmp(fmt, SN_BUNDLE_FORMAT) == 0;
    if (is_dataset && sn_h5_attr_get_str(&f, "/", "categories", &cats) != SN_OK)
        st = SN_EFORMAT;
    sn_h5_close(&f);
    st = sn_dist_agree(st, MPI_COMM_WORLD);
    if (st == SN_OK && is_dataset) {
        char *save = NULL;
        for (char *c = strtok_r(cats, ",", &save); c && st == SN_OK; c = strtok_r(NULL, ",", &save))
            st = describe_dataset(path, c, check, print);
        if (st == SN_OK && check && print)
            printf("check: every image and mask read back\n");
    }
    if (st == SN_OK && is_bundle)
        st = sn_dist_agree(describe_bundle(path, print), MPI_COMM_WORLD);
    free(fmt);
    free(cats);
    return st == SN_OK ? SN_EXIT_OK : sn_cli_fail("info");
}
