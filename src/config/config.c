#include "sernet/config.h"

#include <ini.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OFF(f) offsetof(sn_config, f)
#define K(name, sec, type, min, max, def, choices, help) \
    {#name, sec, type, OFF(name), min, max, def, choices, help}

static const sn_config_key KEYS[] = {
    K(image_size, "model", SN_CFG_INT, 16, 4096, "256", NULL,
      "Side S of the square network input in pixels; a multiple of 16 (the reconstruction net pools 4 times)."),
    K(seg_width, "model", SN_CFG_INT, 1, 1024, "32", NULL,
      "Channels w of the first segmentation block (blocks use w, 2w, 4w)."),
    K(rec_width, "model", SN_CFG_INT, 1, 1024, "64", NULL,
      "Channels w of the first reconstruction block (blocks use w, 2w, 4w, 8w, 8w)."),
    K(units_per_block, "model", SN_CFG_INT, 1, 8, "1", NULL,
      "Conv-BN-ReLU units per block (1 as counted in the paper; 2 gives a DRAEM-like block)."),
    K(bn_eps, "model", SN_CFG_FLOAT, 0, 1, "1e-5", NULL, "BatchNorm epsilon."),
    K(bn_momentum, "model", SN_CFG_FLOAT, 0, 1, "0.1", NULL,
      "BatchNorm running-statistics momentum (PyTorch convention)."),

    K(lr, "train", SN_CFG_FLOAT, 0, 10, "1e-4", NULL,
      "Adam learning rate (5e-4 trains clearly faster on short CPU budgets)."),
    K(lr_seg, "train", SN_CFG_FLOAT_AUTO, 0, 10, "auto", NULL,
      "Adam learning rate of the segmentation stage; auto uses lr (METHOD.md: one rate for both stages)."),
    K(lr_rec, "train", SN_CFG_FLOAT_AUTO, 0, 10, "auto", NULL,
      "Adam learning rate of the reconstruction stage; auto uses lr (METHOD.md: one rate for both stages)."),
    K(batch_size, "train", SN_CFG_INT, 1, 1 << 20, "8", NULL,
      "Batch size: global (split across ranks) or per rank, see batch_mode."),
    K(batch_mode, "train", SN_CFG_ENUM, 0, 0, "global", "global|per_rank",
      "global: results independent of the rank count; per_rank: the global batch grows with the ranks and lr scales linearly after warm-up."),
    K(warmup_steps, "train", SN_CFG_INT, 0, 1 << 30, "100", NULL,
      "Linear learning-rate warm-up steps, used only with batch_mode = per_rank."),
    K(epochs_seg, "train", SN_CFG_INT, 1, 1 << 30, "700", NULL,
      "Epochs of the segmentation stage (one epoch is one pass over the training images)."),
    K(epochs_rec, "train", SN_CFG_INT, 1, 1 << 30, "700", NULL, "Epochs of the reconstruction stage."),
    K(lr_decay, "train", SN_CFG_FLOAT, 0, 1, "0.2", NULL,
      "Learning-rate factor applied at each of the two milestones."),
    K(lr_decay_at1, "train", SN_CFG_FLOAT, 0, 1, "0.8", NULL, "First milestone, as a fraction of the epochs."),
    K(lr_decay_at2, "train", SN_CFG_FLOAT, 0, 1, "0.9", NULL, "Second milestone, as a fraction of the epochs."),
    K(adam_beta1, "train", SN_CFG_FLOAT, 0, 1, "0.9", NULL, "Adam beta1."),
    K(adam_beta2, "train", SN_CFG_FLOAT, 0, 1, "0.999", NULL, "Adam beta2."),
    K(adam_eps, "train", SN_CFG_FLOAT, 0, 1, "1e-8", NULL, "Adam epsilon."),
    K(ssim_window, "train", SN_CFG_INT, 1, 101, "11", NULL,
      "SSIM Gaussian window size (odd; zero padding of half the window)."),
    K(ssim_sigma, "train", SN_CFG_FLOAT, 0.01, 100, "1.5", NULL, "SSIM Gaussian sigma."),
    K(checkpoint_every, "train", SN_CFG_INT, 0, 1 << 30, "500", NULL,
      "Steps between checkpoints (0: only at the end and on a signal)."),
    K(log_every, "train", SN_CFG_INT, 1, 1 << 30, "10", NULL, "Steps between progress lines in batch logs."),

    K(p_anomaly, "pseudo", SN_CFG_FLOAT, 0, 1, "0.5", NULL,
      "Probability that a training sample receives a pseudo-anomaly."),
    K(large_area, "pseudo", SN_CFG_FLOAT, 0, 1, "0.02", NULL,
      "Area threshold as a fraction of S*S: smaller PPA regions are removed, and the repair module keeps only regions at least this large."),
    K(small_area, "pseudo", SN_CFG_FLOAT, 0, 1, "0.025", NULL,
      "Upper bound on the DPA seed rectangles' total area, as a fraction of S*S."),
    K(beta_max, "pseudo", SN_CFG_FLOAT, 0, 1, "0.8", NULL, "PPA blend factor beta ~ U[0, beta_max]."),
    K(dpa_strength_min, "pseudo", SN_CFG_FLOAT, 0, 1, "1", NULL,
      "DPA strength s ~ U[dpa_strength_min, 1] scales the brightness shift alpha and the colour gains' distance from 1 (gamma - 1); 1 keeps METHOD.md's DPA, lower values add fainter anomalies (not in the paper)."),
    K(perlin_scale_max, "pseudo", SN_CFG_INT, 0, 10, "5", NULL,
      "Perlin lattice resolution 2^k with k uniform in {0..perlin_scale_max} per axis."),
    K(perlin_threshold, "pseudo", SN_CFG_FLOAT, -2, 2, "0.5", NULL, "Perlin mask = noise > threshold."),
    K(ppa_max_tries, "pseudo", SN_CFG_INT, 1, 1000, "16", NULL,
      "Perlin masks drawn per PPA sample until one keeps a region of at least large_area; after that many, the largest region of the last non-empty draw is used."),

    K(repair_threshold, "repair", SN_CFG_FLOAT_AUTO, 0, 1, "auto", NULL,
      "Binarisation threshold tau of the predicted mask; auto calibrates it after the segmentation stage."),
    K(calib_samples, "repair", SN_CFG_INT, 1, 1 << 20, "256", NULL,
      "Fresh validation samples used to calibrate tau."),
    K(repair_register, "repair", SN_CFG_ENUM, 0, 0, "none", "none|rigid",
      "Inference only: none pastes the similar training image as found (METHOD.md, the paper); rigid first rotates and shifts it onto the test image (grey-level search), for parts placed at any angle."),

    K(msgms_scales, "map", SN_CFG_INT, 1, 8, "4", NULL, "Scales of the gradient magnitude similarity (1, 1/2, 1/4, ...)."),
    K(box_size, "map", SN_CFG_INT, 1, 255, "21", NULL, "Side of the box mean applied to both difference maps (odd)."),
    K(color_weight, "map", SN_CFG_FLOAT, 0, 1e6, "0.001", NULL, "Weight c of the colour difference: A = Dg + c*Dc."),
    K(score_msgms_scales, "map", SN_CFG_INT, 0, 8, "0", NULL,
      "Not METHOD.md: scales of a second map whose maximum is the image score (0: the image score is the maximum of the anomaly map itself, as in the paper). The anomaly map is unchanged. Not with --tile."),
    K(score_box_size, "map", SN_CFG_INT, 0, 255, "0", NULL,
      "Not METHOD.md: box of that second map (odd; 0: box_size). docs/quality.md measures score_msgms_scales = 1 with score_box_size = 11."),
    K(msgms_erode, "map", SN_CFG_INT, 1, 15, "1", NULL,
      "Not METHOD.md (1: off, the paper's map): odd k > 1 erodes every coarse scale's 1 - GMS (scales 1/2, 1/4, ...) by a k x k minimum at its own resolution before the resize, so the map spreads less beyond a defect's edge. docs/quality.md measures k = 3."),

    K(aupro_max_fpr, "eval", SN_CFG_FLOAT, 1e-6, 1, "0.3", NULL, "Upper FPR limit of the AUPRO integral."),
    K(eval_exact_max_pixels, "eval", SN_CFG_LONG, 0, 2147483647, "200000000", NULL,
      "Pixel metrics are exact (all pixels gathered and sorted on rank 0, about 16 bytes per pixel there) up to this many pixels in the test set; beyond it they are binned and printed with a rigorous error bound."),
    K(eval_bins, "eval", SN_CFG_INT, 1, 1 << 26, "65536", NULL,
      "Target number of bins of the binned pixel metrics (placed where the scores are; at most twice this many are used). More bins: smaller error bound, more memory and time."),
    K(eval_bootstrap, "eval", SN_CFG_INT, 0, 1000000, "1000", NULL,
      "Resamples of the percentile-bootstrap interval printed with each image AUROC (stratified over the test images, drawn from seed); 0: no interval. Costs about 25 ns per resample and labelled test image on rank 0 (1000 resamples of 100 000 images: about 2.5 s)."),
    K(eval_ci_level, "eval", SN_CFG_FLOAT, 0.5, 0.999, "0.95", NULL,
      "Coverage of that interval (0.95: the 2.5 % and 97.5 % quantiles of the resampled AUROCs)."),

    K(seed, "runtime", SN_CFG_LONG, 0, 9.2e18, "0", NULL, "Seed of every random draw (counter-based generator)."),
    K(threads, "runtime", SN_CFG_INT, 0, 1024, "0", NULL,
      "Threads per rank (0: OMP_NUM_THREADS, else the CPUs this rank may use)."),
    K(allreduce_overlap, "runtime", SN_CFG_ENUM, 0, 0, "on", "on|off",
      "Training with several ranks: on sums the gradients over the ranks in buckets started during the backward pass (MPI_Iallreduce), off in one blocking MPI_Allreduce after it. Same sums bit for bit at 2 ranks; at 3 or more the last bits may differ (summation order)."),
    K(allreduce_bucket_mb, "runtime", SN_CFG_FLOAT, 0.01, 1024, "2", NULL,
      "Size in MiB of the gradient allreduce buckets of allreduce_overlap = on, cut from the end of the gradient buffer (where the backward pass starts): smaller buckets start sooner, each costs one collective's latency."),
    K(precision, "runtime", SN_CFG_ENUM, 0, 0, "fp32", "fp32|bf16",
      "Arithmetic of the inference convolutions: fp32, or bf16 (bfloat16 weights and activations, float32 sums; needs a CPU with AVX512_BF16, an error otherwise). Training is always fp32."),
};

#define N_KEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

const sn_config_key *sn_config_keys(int *count)
{
    *count = N_KEYS;
    return KEYS;
}

const sn_config_key *sn_config_find(const char *name)
{
    const char *dot = strchr(name, '.');
    for (int i = 0; i < N_KEYS; i++) {
        if (dot) {
            size_t sl = (size_t)(dot - name);
            if (strlen(KEYS[i].section) == sl && strncmp(KEYS[i].section, name, sl) == 0 &&
                strcmp(KEYS[i].name, dot + 1) == 0)
                return &KEYS[i];
        } else if (strcmp(KEYS[i].name, name) == 0) {
            return &KEYS[i];
        }
    }
    return NULL;
}

static int enum_index(const char *choices, const char *value)
{
    const char *p = choices;
    for (int idx = 0;; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (strlen(value) == len && strncmp(p, value, len) == 0)
            return idx;
        if (!bar)
            return -1;
        p = bar + 1;
    }
}

static const char *enum_name(const char *choices, int idx, char *buf, size_t len)
{
    const char *p = choices;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p)
        return "?";
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n >= len)
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static sn_status apply(sn_config *cfg, const sn_config_key *k, const char *value, const char *origin)
{
    char *end = NULL;
    char *field = (char *)cfg + k->offset;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value == '\0')
        return SN_ERR(SN_EINVAL, "%s: key '%s' has an empty value", origin, k->name);
    errno = 0;
    switch (k->type) {
    case SN_CFG_INT:
    case SN_CFG_LONG: {
        long long v = strtoll(value, &end, 10);
        if (errno || *end != '\0')
            return SN_ERR(SN_EINVAL, "%s: key '%s' = '%s': expected an integer", origin, k->name, value);
        if ((double)v < k->min || (double)v > k->max)
            return SN_ERR(SN_EINVAL, "%s: key '%s' = %lld: must be in [%.17g, %.17g]", origin,
                          k->name, v, k->min, k->max);
        if (k->type == SN_CFG_INT)
            *(int *)field = (int)v;
        else
            *(long *)field = (long)v;
        return SN_OK;
    }
    case SN_CFG_FLOAT_AUTO:
        if (strcasecmp(value, "auto") == 0) {
            *(double *)field = -1.0;
            return SN_OK;
        }
        /* fall through */
    case SN_CFG_FLOAT: {
        double v = strtod(value, &end);
        if (errno || *end != '\0' || !isfinite(v))
            return SN_ERR(SN_EINVAL, "%s: key '%s' = '%s': expected a finite number%s", origin,
                          k->name, value, k->type == SN_CFG_FLOAT_AUTO ? " or 'auto'" : "");
        if (v < k->min || v > k->max)
            return SN_ERR(SN_EINVAL, "%s: key '%s' = %g: must be in [%g, %g]", origin, k->name, v,
                          k->min, k->max);
        *(double *)field = v;
        return SN_OK;
    }
    case SN_CFG_ENUM: {
        int idx = enum_index(k->choices, value);
        if (idx < 0)
            return SN_ERR(SN_EINVAL, "%s: key '%s' = '%s': expected one of %s", origin, k->name,
                          value, k->choices);
        *(int *)field = idx;
        return SN_OK;
    }
    }
    return SN_ERR(SN_EINVAL, "%s: key '%s': unsupported type", origin, k->name);
}

void sn_config_defaults(sn_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < N_KEYS; i++) {
        sn_status st = apply(cfg, &KEYS[i], KEYS[i].def, "built-in default");
        SN_ASSERT(st == SN_OK);
    }
}

typedef struct {
    sn_config *cfg;
    const char *path;
    sn_status status;
    FILE *file;
    int lineno; /* inih reads one line per reader call, so this is the current line */
} load_ctx;

static char *read_line(char *buf, int size, void *stream)
{
    load_ctx *ctx = stream;
    char *r = fgets(buf, size, ctx->file);
    if (r)
        ctx->lineno++;
    return r;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *ctx = user;
    int lineno = ctx->lineno;
    char origin[600];
    snprintf(origin, sizeof origin, "%s:%d", ctx->path, lineno);
    if (ctx->status != SN_OK)
        return 0;
    const sn_config_key *k = sn_config_find(name);
    if (!k) {
        ctx->status = SN_ERR(SN_EINVAL, "%s: unknown configuration key '%s' (see `sernet config --keys`)",
                             origin, name);
        return 0;
    }
    if (section[0] && strcmp(section, k->section) != 0) {
        ctx->status = SN_ERR(SN_EINVAL, "%s: key '%s' belongs in section [%s], not [%s]", origin, name,
                             k->section, section);
        return 0;
    }
    ctx->status = apply(ctx->cfg, k, value, origin);
    return ctx->status == SN_OK;
}

sn_status sn_config_load(sn_config *cfg, const char *path)
{
    load_ctx ctx = {cfg, path, SN_OK, NULL, 0};
    FILE *f = fopen(path, "r");
    if (!f)
        return SN_ERR(SN_EIO, "cannot open configuration file '%s': %s", path, strerror(errno));
    ctx.file = f;
    int rc = ini_parse_stream(read_line, &ctx, on_entry, &ctx);
    fclose(f);
    if (ctx.status != SN_OK)
        return ctx.status;
    if (rc != 0)
        return SN_ERR(SN_EINVAL, "%s:%d: not valid INI (expected 'key = value' or '[section]')", path, rc);
    return SN_OK;
}

typedef struct {
    load_ctx ctx;
    const char *pos;
} string_ctx;

/* inih reader over a NUL-terminated string; the load_ctx comes first so on_entry sees it. */
static char *read_string_line(char *buf, int size, void *stream)
{
    string_ctx *sc = stream;
    if (!*sc->pos || size < 2)
        return NULL;
    int n = 0;
    while (n < size - 1 && sc->pos[n] && sc->pos[n] != '\n')
        n++;
    if (n < size - 1 && sc->pos[n] == '\n')
        n++;
    memcpy(buf, sc->pos, (size_t)n);
    buf[n] = '\0';
    sc->pos += n;
    sc->ctx.lineno++;
    return buf;
}

sn_status sn_config_load_string(sn_config *cfg, const char *text, const char *origin)
{
    string_ctx sc = {{cfg, origin, SN_OK, NULL, 0}, text};
    int rc = ini_parse_stream(read_string_line, &sc, on_entry, &sc.ctx);
    if (sc.ctx.status != SN_OK)
        return sc.ctx.status;
    if (rc != 0)
        return SN_ERR(SN_EINVAL, "%s:%d: not valid INI (expected 'key = value' or '[section]')", origin, rc);
    return SN_OK;
}

sn_status sn_config_set(sn_config *cfg, const char *assignment, const char *origin)
{
    const char *eq = strchr(assignment, '=');
    char name[128];
    if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof name)
        return SN_ERR(SN_EINVAL, "%s: '%s': expected key=value", origin, assignment);
    memcpy(name, assignment, (size_t)(eq - assignment));
    name[eq - assignment] = '\0';
    const sn_config_key *k = sn_config_find(name);
    if (!k)
        return SN_ERR(SN_EINVAL, "%s: unknown configuration key '%s' (see `sernet config --keys`)", origin, name);
    return apply(cfg, k, eq + 1, origin);
}

sn_status sn_config_validate(const sn_config *cfg)
{
    if (cfg->image_size % 16 != 0)
        return SN_ERR(SN_EINVAL, "image_size = %d: must be a multiple of 16 (the reconstruction net pools 4 times)",
                      cfg->image_size);
    if (cfg->ssim_window % 2 == 0)
        return SN_ERR(SN_EINVAL, "ssim_window = %d: must be odd", cfg->ssim_window);
    if (cfg->box_size % 2 == 0)
        return SN_ERR(SN_EINVAL, "box_size = %d: must be odd", cfg->box_size);
    if (cfg->msgms_erode % 2 == 0)
        return SN_ERR(SN_EINVAL, "msgms_erode = %d: must be odd (1: off)", cfg->msgms_erode);
    if (cfg->lr_decay_at2 < cfg->lr_decay_at1)
        return SN_ERR(SN_EINVAL, "lr_decay_at2 = %g: must not be before lr_decay_at1 = %g",
                      cfg->lr_decay_at2, cfg->lr_decay_at1);
    if (cfg->image_size >> (cfg->msgms_scales - 1) < 1)
        return SN_ERR(SN_EINVAL, "msgms_scales = %d: too many halvings for image_size = %d",
                      cfg->msgms_scales, cfg->image_size);
    return SN_OK;
}

/* The shortest %g spelling that reads back as the same double: 0.8, not 0.80000000000000004. */
static void format_shortest(double v, char *buf, size_t len)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

void sn_config_format(const sn_config *cfg, const sn_config_key *k, char *buf, size_t len)
{
    const char *field = (const char *)cfg + k->offset;
    switch (k->type) {
    case SN_CFG_INT: snprintf(buf, len, "%d", *(const int *)field); break;
    case SN_CFG_LONG: snprintf(buf, len, "%ld", *(const long *)field); break;
    case SN_CFG_FLOAT_AUTO:
        if (*(const double *)field < 0) {
            snprintf(buf, len, "auto");
            break;
        }
        /* fall through */
    case SN_CFG_FLOAT: format_shortest(*(const double *)field, buf, len); break;
    case SN_CFG_ENUM: enum_name(k->choices, *(const int *)field, buf, len); break;
    }
}

char *sn_config_to_ini(const sn_config *cfg)
{
    size_t cap = 8192, used = 0;
    char *out = sn_alloc(cap, "configuration text");
    if (!out)
        return NULL;
    const char *section = "";
    for (int i = 0; i < N_KEYS; i++) {
        char val[64];
        sn_config_format(cfg, &KEYS[i], val, sizeof val);
        if (cap - used < 256) {
            SN_ASSERT(0 && "configuration text buffer too small");
        }
        if (strcmp(section, KEYS[i].section) != 0) {
            section = KEYS[i].section;
            used += (size_t)snprintf(out + used, cap - used, "%s[%s]\n", used ? "\n" : "", section);
        }
        used += (size_t)snprintf(out + used, cap - used, "%s = %s\n", KEYS[i].name, val);
    }
    return out;
}
