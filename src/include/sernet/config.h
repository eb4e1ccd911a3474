/* The configuration: every key of METHOD.md with its default, in one declarative table
 * (src/config/config.c). Files are INI; sections group keys, and a key is unique across
 * sections so `--set key=value` needs no section (`section.key` is accepted too). */
#ifndef SERNET_CONFIG_H
#define SERNET_CONFIG_H

#include "sernet/common.h"

typedef struct {
    /* [model] */
    int image_size;
    int seg_width;
    int rec_width;
    int units_per_block;
    double bn_eps;
    double bn_momentum;
    /* [train] */
    double lr;
    double lr_seg;           /* < 0 means auto: lr */
    double lr_rec;           /* < 0 means auto: lr */
    int batch_size;
    int batch_mode;          /* SN_BATCH_GLOBAL or SN_BATCH_PER_RANK */
    int warmup_steps;
    int epochs_seg;
    int epochs_rec;
    double lr_decay;
    double lr_decay_at1;
    double lr_decay_at2;
    double adam_beta1;
    double adam_beta2;
    double adam_eps;
    int ssim_window;
    double ssim_sigma;
    int checkpoint_every;
    int log_every;
    /* [pseudo] */
    double p_anomaly;
    double large_area;
    double small_area;
    double beta_max;
    double dpa_strength_min;
    int perlin_scale_max;
    double perlin_threshold;
    int ppa_max_tries;
    /* [repair] */
    double repair_threshold; /* < 0 means auto */
    int calib_samples;
    int repair_register;     /* SN_REGISTER_NONE or SN_REGISTER_RIGID */
    /* [map] */
    int msgms_scales;
    int box_size;
    double color_weight;
    int score_msgms_scales;  /* 0: msgms_scales */
    int score_box_size;      /* 0: box_size */
    int msgms_erode;         /* 1: off (METHOD.md) */
    /* [eval] */
    double aupro_max_fpr;
    long eval_exact_max_pixels;
    int eval_bins;
    int eval_bootstrap;      /* resamples of the image-AUROC interval, 0: none */
    double eval_ci_level;
    /* [runtime] */
    long seed;
    int threads;             /* 0: OMP_NUM_THREADS or all CPUs of the process */
    int allreduce_overlap;   /* SN_OVERLAP_ON or SN_OVERLAP_OFF (docs/training.md) */
    double allreduce_bucket_mb;
    int precision;           /* inference arithmetic: SN_PREC_FP32 or SN_PREC_BF16 (sernet/unet.h) */
} sn_config;

enum { SN_BATCH_GLOBAL = 0, SN_BATCH_PER_RANK = 1 };
enum { SN_REGISTER_NONE = 0, SN_REGISTER_RIGID = 1 };
enum { SN_OVERLAP_ON = 0, SN_OVERLAP_OFF = 1 };

typedef enum { SN_CFG_INT, SN_CFG_LONG, SN_CFG_FLOAT, SN_CFG_FLOAT_AUTO, SN_CFG_ENUM } sn_cfg_type;

typedef struct {
    const char *name;
    const char *section;
    sn_cfg_type type;
    size_t offset;
    double min, max;
    const char *def;     /* default, as written in a file */
    const char *choices; /* SN_CFG_ENUM: "a|b|c" */
    const char *help;
} sn_config_key;

/* The table and its length. */
const sn_config_key *sn_config_keys(int *count);
const sn_config_key *sn_config_find(const char *name);

/* All defaults. */
void sn_config_defaults(sn_config *cfg);
/* Apply an INI file; unknown sections/keys and bad values are errors naming file:line. */
sn_status sn_config_load(sn_config *cfg, const char *path);
/* Apply INI text (e.g. the configuration stored in a file); `origin` names it in errors. */
sn_status sn_config_load_string(sn_config *cfg, const char *text, const char *origin);
/* Apply one "key=value" (or "section.key=value"); `origin` names it in errors. */
sn_status sn_config_set(sn_config *cfg, const char *assignment, const char *origin);
/* Cross-key constraints (e.g. image_size divisible by 16). */
sn_status sn_config_validate(const sn_config *cfg);
/* The resolved configuration as INI text (caller frees with sn_free). */
char *sn_config_to_ini(const sn_config *cfg);
/* One key's value as text into buf. */
void sn_config_format(const sn_config *cfg, const sn_config_key *key, char *buf, size_t len);

#endif
