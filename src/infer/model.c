/* Loading a trained model file for inference (schema: docs/formats.md, "Model files"). */
#include "infer/model_internal.h"
#include "sernet/fsutil.h"
#include "sernet/bundle.h"
#include "sernet/conv_bf16.h"
#include "sernet/h5util.h"
#include "sernet/format.h"
#include "sernet/model_format.h"
#include "sernet/repair.h"

#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t sn_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static sn_status read_net(sn_model *m, sn_h5file *f, sn_net_kind kind)
{
    sn_status status = SN_OK;
    const char *g = sn_model_group(kind);
    const char *what = kind == SN_NET_SEG ? "segmentation" : "reconstruction";
    const char *stage = kind == SN_NET_SEG ? "seg" : "rec";
    int64_t width, units, complete, step, total;
    if (!sn_h5_exists(f, g))
        SN_FAIL(SN_EFORMAT, "%s: no %s net (%s): train it with `sernet train --stage %s`", f->path,
                what, g, stage);
    SN_TRY(sn_h5_attr_get_int(f, g, "width", &width));
    SN_TRY(sn_h5_attr_get_int(f, g, "units_per_block", &units));
    SN_TRY(sn_h5_attr_get_int(f, g, "complete", &complete));
    SN_TRY(sn_h5_attr_get_int(f, g, "step", &step));
    SN_TRY(sn_h5_attr_get_int(f, g, "steps_total", &total));
    if (complete != 1)
        SN_FAIL(SN_EINVAL, "%s: the %s net is not fully trained (step %lld of %lld): finish it with "
                "`sernet train --stage %s --resume`", f->path, what, (long long)step, (long long)total,
                stage);
    int expect_w = kind == SN_NET_SEG ? m->cfg.seg_width : m->cfg.rec_width;
    if (width != expect_w || units != m->cfg.units_per_block)
        SN_FAIL(SN_EFORMAT, "%s: %s has width %lld and %lld units per block, its configuration says "
                "%d and %d", f->path, g, (long long)width, (long long)units, expect_w,
                m->cfg.units_per_block);
    SN_TRY(sn_unet_create(&m->net[kind], kind, (int)width, (int)units, m->cfg.bn_eps,
                          m->cfg.bn_momentum));
    /* shape and type checked by the shared reader, and every value finite */
    SN_TRY(sn_model_file_read_tensors(f, kind, m->net[kind], 1));
done:
    return status;
}

static void set_fingerprint(sn_model *m)
{
    uint64_t h = SN_FNV_OFFSET;
    for (int k = 0; k < 2; k++) {
        h = sn_fnv1a(h, sn_unet_params(m->net[k]), sn_unet_param_count(m->net[k]) * sizeof(float));
        h = sn_fnv1a(h, sn_unet_buffers(m->net[k]), sn_unet_buffer_count(m->net[k]) * sizeof(float));
    }
    h = sn_fnv1a(h, &m->tau, sizeof m->tau);
    h = sn_fnv1a(h, &m->min_area, sizeof m->min_area);
    /* only when set, so that the fingerprints of METHOD.md's repair stay as they were */
    if (m->cfg.repair_register != SN_REGISTER_NONE)
        h = sn_fnv1a(h, &m->cfg.repair_register, sizeof m->cfg.repair_register);
    snprintf(m->fingerprint, sizeof m->fingerprint, "%016llx", (unsigned long long)h);
}

/* tau, area filter, map parameters and fingerprint from m->cfg. */
static sn_status derive(sn_model *m)
{
    sn_status status = SN_OK;
    if (m->cfg.precision == SN_PREC_BF16 && !conv_bf16_available())
        SN_FAIL(SN_EINVAL, "%s: precision = bf16 (bfloat16 inference) needs a CPU reporting AVX512_BF16, "
                "and this one does not: set precision = fp32 (--set precision=fp32)", m->path);
    if (m->cfg.repair_threshold >= 0)
        m->tau = m->cfg.repair_threshold;
    else if (m->calibrated_tau >= 0)
        m->tau = m->calibrated_tau;
    else
        SN_FAIL(SN_EFORMAT, "%s: no calibrated repair threshold (/calib): the reconstruction stage "
                "calibrates it; or set repair_threshold to a number", m->path);
    m->min_area = sn_repair_min_area(m->cfg.large_area, m->s, m->s);
    sn_map_params_from_config(&m->cfg, &m->map);
    SN_TRY(sn_map_params_check(&m->map, m->s, m->s));
    set_fingerprint(m);
done:
    return status;
}

#define THR_GROUP SN_MODEL_THRESHOLDS

static sn_status read_thresholds(sn_h5file *f, const char *path, sn_thresholds *t)
{
    sn_status status = SN_OK;
    char *src = NULL, *fp = NULL;
    memset(t, 0, sizeof *t);
    if (!sn_h5_exists(f, THR_GROUP))
        return SN_OK;
    SN_TRY(sn_h5_attr_get_double(f, THR_GROUP, "image", &t->image));
    SN_TRY(sn_h5_attr_get_double(f, THR_GROUP, "pixel", &t->pixel));
    SN_TRY(sn_h5_attr_get_str(f, THR_GROUP, "source", &src));
    SN_TRY(sn_h5_attr_get_str(f, THR_GROUP, "model_fingerprint", &fp));
    if (!(isfinite(t->image) && t->image > 0 && isfinite(t->pixel) && t->pixel >= 0))
        SN_FAIL(SN_EFORMAT, "%s: %s image %g / pixel %g: expected finite numbers, image > 0, "
                "pixel >= 0 (damaged file?)", path, THR_GROUP, t->image, t->pixel);
    snprintf(t->source, sizeof t->source, "%s", src);
    snprintf(t->fingerprint, sizeof t->fingerprint, "%s", fp);
    t->set = 1;
done:
    free(src);
    free(fp);
    return status;
}

sn_status sn_model_store_thresholds(const char *path, const sn_thresholds *t)
{
    sn_status status = SN_OK;
    sn_h5file f = {.id = H5I_INVALID_HID};
    char tmp[SN_TMP_CAP];
    SN_ASSERT(t && t->set);
    if (!(isfinite(t->image) && t->image > 0 && isfinite(t->pixel) && t->pixel >= 0))
        return SN_ERR(SN_EINVAL, "%s: thresholds image %g / pixel %g: the image threshold must be "
                      "a finite number > 0 and the pixel threshold >= 0", path, t->image, t->pixel);
    /* the copy is what sn_h5_resume opens and sn_h5_finish renames over `path` */
    SN_TRY(sn_tmp_name(path, SN_TMP_SHARED, tmp, sizeof tmp));
    const int bundle = sn_bundle_probe(path);
    SN_TRY(sn_copy_file(path, tmp));
    SN_TRY(sn_h5_resume(&f, path, MPI_COMM_SELF));
    /* a bundle keeps its checksummed metadata format for the new group */
    if (bundle && H5Fset_libver_bounds(f.id, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0)
        SN_FAIL(SN_EIO, "%s: cannot select the checksummed file format: %s", tmp, sn_h5_detail());
    if (!sn_h5_exists(&f, THR_GROUP))
        SN_TRY(sn_h5_group_create(&f, THR_GROUP));
    SN_TRY(sn_h5_attr_set_double(&f, THR_GROUP, "image", t->image));
    SN_TRY(sn_h5_attr_set_double(&f, THR_GROUP, "pixel", t->pixel));
    SN_TRY(sn_h5_attr_set_str(&f, THR_GROUP, "source", t->source));
    SN_TRY(sn_h5_attr_set_str(&f, THR_GROUP, "model_fingerprint", t->fingerprint));
    if (bundle) {
        char parts[128];
        SN_TRY(sn_bundle_parts_list(&f, parts, sizeof parts));
        SN_TRY(sn_h5_attr_set_str(&f, "/", "parts", parts));
    }
done:
    if (f.id >= 0)
        status = sn_h5_finish(&f, status);
    else
        remove(tmp);
    return status;
}

const sn_thresholds *sn_model_thresholds(const sn_model *m) { return &m->thr; }

double sn_thresholds_normalise(const sn_thresholds *t, double score)
{
    return t && t->set ? score / t->image : NAN;
}

/* The configuration, image size and category (root attributes). */
static sn_status read_root(sn_model *m, sn_h5file *f, const char *path)
{
    sn_status status = SN_OK;
    char *ini = NULL, *cat = NULL;
    int64_t v;
    SN_TRY(sn_h5_attr_get_str(f, "/", "config", &ini));
    sn_config_defaults(&m->cfg);
    char origin[1100];
    snprintf(origin, sizeof origin, "%s (stored configuration)", path);
    SN_TRY(sn_config_load_string(&m->cfg, ini, origin));
    SN_TRY(sn_h5_attr_get_int(f, "/", "image_size", &v));
    if (v < 16 || v > 8192)
        SN_FAIL(SN_EFORMAT, "%s: image_size attribute %lld outside [16, 8192]", path, (long long)v);
    /* training takes the image size from the dataset, so the attribute is what the nets saw */
    m->s = (int)v;
    m->cfg.image_size = m->s;
    SN_TRY(sn_h5_attr_get_str(f, "/", "category", &cat));
    snprintf(m->category, sizeof m->category, "%s", cat);
done:
    free(ini);
    free(cat);
    return status;
}

static sn_status read_calib(sn_model *m, sn_h5file *f, const char *path)
{
    sn_status status = SN_OK;
    char *warn = NULL;
    m->calibrated_tau = -1;
    if (sn_h5_exists(f, SN_MODEL_CALIB)) {
        SN_TRY(sn_h5_attr_get_double(f, SN_MODEL_CALIB, "tau", &m->calibrated_tau));
        if (!(m->calibrated_tau >= 0 && m->calibrated_tau <= 1))
            SN_FAIL(SN_EFORMAT, "%s: %s tau %g outside [0, 1]", path, SN_MODEL_CALIB, m->calibrated_tau);
        if (sn_h5_attr_exists(f, SN_MODEL_CALIB, "warning")) {
            SN_TRY(sn_h5_attr_get_str(f, SN_MODEL_CALIB, "warning", &warn));
            snprintf(m->calib_warning, sizeof m->calib_warning, "%s", warn);
        }
    }
done:
    free(warn);
    return status;
}

/* A step of loading; in a bundle a failure is re-raised naming the part. */
#define LOAD_PART(expr, part, what)                                                         \
    do {                                                                                    \
        status = (expr);                                                                    \
        if (status != SN_OK) {                                                              \
            if (m->is_bundle)                                                               \
                status = sn_bundle_part_error(path, (part), (what));                        \
            goto done;                                                                      \
        }                                                                                   \
    } while (0)

static const char *const NET_WHAT[2] = {"segmentation net", "reconstruction net"};

sn_status sn_model_load(const char *path, sn_model **model)
{
    sn_status status = SN_OK;
    sn_h5file f;
    char *fmt = NULL, *stored_fp = NULL;
    sn_model *m = calloc(1, sizeof *m);
    f.id = H5I_INVALID_HID;
    f.writing = 0;
    *model = NULL;
    if (!m)
        SN_FAIL(SN_ENOMEM, "model");
    snprintf(m->path, sizeof m->path, "%s", path);
    SN_TRY(sn_h5_open_local(&f, path));
    if (sn_format_identify(&f, &fmt, NULL) < 0) {
        /* not absent: unreadable (a failed metadata checksum, which only bundles carry) */
        m->is_bundle = 1;
        LOAD_PART(sn_err_status() != SN_OK ? sn_err_status() : SN_EFORMAT, "/", "root attributes");
    }
    if (fmt && strcmp(fmt, SN_BUNDLE_FORMAT) == 0) {
        m->is_bundle = 1;
        SN_TRY(sn_bundle_check_root(&f));
        /* every attribute of the model parts read once: their metadata checksums verified */
        LOAD_PART(sn_h5_verify_attrs(&f, "/"), "/", "root attributes");
        for (int k = 0; k < 2; k++)
            LOAD_PART(sn_h5_verify_attrs(&f, sn_model_group(k)), sn_model_group(k), NET_WHAT[k]);
        if (sn_h5_exists(&f, SN_MODEL_CALIB))
            LOAD_PART(sn_h5_verify_attrs(&f, SN_MODEL_CALIB), SN_MODEL_CALIB, "repair calibration");
        if (sn_h5_exists(&f, SN_MODEL_THRESHOLDS))
            LOAD_PART(sn_h5_verify_attrs(&f, SN_MODEL_THRESHOLDS), SN_MODEL_THRESHOLDS,
                      "decision thresholds");
    } else if (!fmt || strcmp(fmt, SN_MODEL_FORMAT) != 0) {
        SN_FAIL(SN_EFORMAT, "%s: not a sernet model file or bundle (root attribute format is '%s', "
                "expected '%s' or '%s')", path, fmt ? fmt : "missing", SN_MODEL_FORMAT,
                SN_BUNDLE_FORMAT);
    } else {
        SN_TRY(sn_model_file_check_root(&f));
    }
    LOAD_PART(read_root(m, &f, path), "/", "configuration and root attributes");
    for (int k = 0; k < 2; k++)
        LOAD_PART(read_net(m, &f, k), sn_model_group(k), NET_WHAT[k]);
    LOAD_PART(read_calib(m, &f, path), SN_MODEL_CALIB, "repair calibration");
    LOAD_PART(read_thresholds(&f, path, &m->thr), SN_MODEL_THRESHOLDS, "decision thresholds");
    SN_TRY(derive(m));
    if (m->is_bundle) {
        /* the nets, tau and area filter must be those the bundle was made from */
        LOAD_PART(sn_h5_attr_get_str(&f, "/", "model_fingerprint", &stored_fp), "/",
                  "configuration and root attributes");
        if (strcmp(stored_fp, m->fingerprint) != 0)
            SN_FAIL(SN_EFORMAT, "%s: bundle parts /seg, /rec, /calib (nets and repair threshold): "
                    "fingerprint %s, the bundle was made with %s: damaged or edited, make it again "
                    "with `sernet bundle`", path, m->fingerprint, stored_fp);
    }
done:
    sn_h5_close(&f);
    free(fmt);
    free(stored_fp);
    if (status != SN_OK)
        sn_model_free(m);
    else
        *model = m;
    return status;
}

void sn_model_free(sn_model *m)
{
    if (!m)
        return;
    sn_unet_free(m->net[0]);
    sn_unet_free(m->net[1]);
    free(m);
}

sn_status sn_model_apply_config(sn_model *m, const sn_config *user)
{
    sn_status status = SN_OK;
    static const char *fixed[] = {"image_size", "seg_width", "rec_width", "units_per_block", "bn_eps",
                                  "large_area"};
    char diff[1024] = "", a[64], b[64];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        const sn_config_key *k = sn_config_find(fixed[i]);
        SN_ASSERT(k);
        sn_config_format(&m->cfg, k, a, sizeof a);
        sn_config_format(user, k, b, sizeof b);
        if (strcmp(a, b) != 0) {
            size_t used = strlen(diff);
            snprintf(diff + used, sizeof diff - used, "%s%s = %s (model) vs %s (now)", used ? "; " : "",
                     k->name, a, b);
        }
    }
    if (diff[0])
        SN_FAIL(SN_EINVAL, "%s: the configuration given differs from the model's in keys that shaped "
                "the trained nets: %s", m->path, diff);
    sn_config merged = m->cfg;
    merged.repair_threshold = user->repair_threshold;
    merged.repair_register = user->repair_register;
    merged.msgms_scales = user->msgms_scales;
    merged.box_size = user->box_size;
    merged.color_weight = user->color_weight;
    merged.score_msgms_scales = user->score_msgms_scales;
    merged.score_box_size = user->score_box_size;
    merged.msgms_erode = user->msgms_erode;
    merged.aupro_max_fpr = user->aupro_max_fpr;
    merged.eval_exact_max_pixels = user->eval_exact_max_pixels;
    merged.eval_bins = user->eval_bins;
    merged.eval_bootstrap = user->eval_bootstrap;
    merged.eval_ci_level = user->eval_ci_level;
    merged.threads = user->threads;
    merged.precision = user->precision;
    sn_config saved = m->cfg;
    m->cfg = merged;
    status = derive(m);
    if (status != SN_OK) {
        m->cfg = saved;
        derive(m);
    }
done:
    return status;
}

sn_status sn_model_override(sn_model *m, const char *config_path, const char *const *sets,
                            int n_sets)
{
    sn_status status = SN_OK;
    sn_config user = m->cfg;
    if (config_path)
        SN_TRY(sn_config_load(&user, config_path));
    for (int i = 0; i < n_sets; i++)
        SN_TRY(sn_config_set(&user, sets[i], "--set"));
    SN_TRY(sn_config_validate(&user));
    SN_TRY(sn_model_apply_config(m, &user));
done:
    return status;
}

const char *sn_model_path(const sn_model *m) { return m->path; }
int sn_model_is_bundle(const sn_model *m) { return m->is_bundle; }
const char *sn_model_category(const sn_model *m) { return m->category; }
int sn_model_image_size(const sn_model *m) { return m->s; }
const sn_config *sn_model_config(const sn_model *m) { return &m->cfg; }
double sn_model_tau(const sn_model *m) { return m->tau; }
int sn_model_separate_score(const sn_model *m) { return sn_map_params_separate_score(&m->map); }
const char *sn_model_calib_warning(const sn_model *m)
{
    return m->cfg.repair_threshold < 0 ? m->calib_warning : "";
}
int64_t sn_model_min_area(const sn_model *m) { return m->min_area; }
const char *sn_model_fingerprint(const sn_model *m) { return m->fingerprint; }
const sn_unet *sn_model_net(const sn_model *m, sn_net_kind kind) { return m->net[kind]; }
