/* Foreign and inconsistent bundle files (sernet/bundle.h, docs/formats.md "Bundle file") that a
 * bit flip cannot make, since a bundle's metadata is checksummed: another format version, no
 * completion marker, and a list of parts (root attribute "parts") that disagrees with the groups
 * present, e.g. decision thresholds lost from the file although listed. Each is refused by both
 * readers (model part and training part) with a message naming the file and what is wrong;
 * sn_bundle_probe recognises the kind. The files are written here with the HDF5 C API. */
#include "sernet/bundle.h"
#include "sernet/inspect.h"
#include "sernet/model.h"
#include "sn_test.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void attr_str(hid_t f, const char *name, const char *v)
{
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
    H5Tset_size(t, strlen(v) + 1);
    hid_t a = H5Acreate2(f, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, v);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
}

static void attr_int(hid_t f, const char *name, long long v)
{
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    H5Sclose(s);
}

/* A bundle skeleton: root attributes and empty groups (comma-separated), no data. version < 0:
 * no format_version; complete 0: no completion marker; parts NULL: no "parts" attribute. */
static void write_file(const char *path, int version, int complete, const char *parts,
                       const char *groups)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    attr_str(f, "format", SN_BUNDLE_FORMAT);
    if (version >= 0)
        attr_int(f, "format_version", version);
    if (complete)
        attr_int(f, "bundle_complete", 1);
    if (parts)
        attr_str(f, "parts", parts);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", groups);
    for (char *save = NULL, *g = strtok_r(buf, ",", &save); g; g = strtok_r(NULL, ",", &save))
        H5Gclose(H5Gcreate2(f, g, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(f);
}

/* Both readers refuse `path` with a message containing `want` and the file name. */
static void refused(const char *path, const char *want, const char *what)
{
    sn_model *m = NULL;
    sn_trainset t;
    sn_err_clear();
    sn_status st = sn_model_load(path, &m);
    EXPECT_MSG(st == SN_EFORMAT && !m && strstr(sn_err_msg(), want) && strstr(sn_err_msg(), path),
               "%s: model reader: status %d, '%s' (want '%s')", what, (int)st, sn_err_msg(), want);
    sn_model_free(m);
    sn_err_clear();
    st = sn_trainset_load_bundle(path, &t);
    EXPECT_MSG(st == SN_EFORMAT && !t.images && !t.hashes && !t.names && strstr(sn_err_msg(), want) &&
                   strstr(sn_err_msg(), path),
               "%s: training reader: status %d, '%s' (want '%s')", what, (int)st, sn_err_msg(), want);
    sn_err_clear();
    EXPECT_MSG(sn_bundle_probe(path) == 1, "%s: probe recognises a bundle", what);
    EXPECT_MSG(sn_err_msg()[0] == '\0', "%s: probe records no error", what);
    /* the API refuses it too (with no dataset, as a bundle is opened) */
    sn_inspector *in = NULL;
    sn_err_clear();
    st = sn_inspector_open(path, NULL, NULL, &in);
    EXPECT_MSG(st != SN_OK && !in && strstr(sn_err_msg(), want), "%s: sn_inspector_open: '%s'", what,
               sn_err_msg());
    sn_inspector_close(in);
    sn_err_clear();
}

int main(void)
{
    char dir[] = "/tmp/sn_bundle_files_XXXXXX", path[256];
    if (!mkdtemp(dir))
        sn_test_skip("cannot create a temporary folder");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const char *all = "/seg,/rec,/calib,/thresholds,/train";
    snprintf(path, sizeof path, "%s/b.h5", dir);

    write_file(path, 2, 1, all, all);
    refused(path, "bundle format version 2, this program reads version 1", "format version 2");
    write_file(path, -1, 1, all, all);
    refused(path, "attribute 'format_version' missing", "no format version");
    write_file(path, 1, 0, all, all);
    refused(path, "incomplete bundle (no completion marker bundle_complete)", "not complete");
    write_file(path, 1, 1, NULL, all);
    refused(path, "bundle part / (root attributes): attribute 'parts' missing", "no parts list");
    write_file(path, 1, 1, all, "/seg,/rec,/calib,/train");
    refused(path, "bundle part /thresholds is missing, but the bundle lists its parts as", "listed thresholds lost");
    write_file(path, 1, 1, "/seg,/rec,/calib,/train", all);
    refused(path, "bundle part /thresholds is present, but the bundle lists", "unlisted thresholds");
    write_file(path, 1, 1, all, "/seg,/rec,/thresholds,/train");
    refused(path, "bundle part /calib is missing", "listed calibration lost");
    write_file(path, 1, 1, "/rec,/calib,/train", "/rec,/calib,/train");
    refused(path, "bundle part /seg is required but not listed", "no segmentation net");
    write_file(path, 1, 1, "/seg,/rec,/calib", "/seg,/rec,/calib");
    refused(path, "bundle part /train is required but not listed", "no training part");

    /* a complete skeleton passes the root checks and fails on the first missing content */
    write_file(path, 1, 1, all, all);
    sn_model *m = NULL;
    sn_err_clear();
    EXPECT(sn_model_load(path, &m) == SN_EFORMAT && !m);
    EXPECT_MSG(strstr(sn_err_msg(), "bundle part / (configuration and root attributes)") != NULL,
               "skeleton: '%s'", sn_err_msg());
    sn_err_clear();

    /* not a bundle: probe says 0 and records nothing */
    snprintf(path, sizeof path, "%s/not.h5", dir);
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs("not HDF5\n", fp);
        fclose(fp);
    }
    EXPECT(sn_bundle_probe(path) == 0);
    EXPECT(sn_bundle_probe("/nonexistent/b.h5") == 0);
    EXPECT(sn_err_msg()[0] == '\0');
    unlink(path);
    snprintf(path, sizeof path, "%s/b.h5", dir);
    unlink(path);
    rmdir(dir);
    return sn_test_finish();
}
