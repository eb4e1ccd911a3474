/* Configuration table: defaults, INI files, --set overrides and the errors for bad values. */
#include "sn_test.h"
#include "sernet/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/sn_cfg_%d.ini", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

int main(void)
{
    sn_config cfg;
    sn_config_defaults(&cfg);
    EXPECT(cfg.image_size == 256);
    EXPECT(cfg.seg_width == 32 && cfg.rec_width == 64 && cfg.units_per_block == 1);
    EXPECT_NEAR(cfg.lr, 1e-4, 1e-12);
    EXPECT(cfg.batch_size == 8 && cfg.epochs_seg == 700 && cfg.epochs_rec == 700);
    EXPECT_NEAR(cfg.p_anomaly, 0.5, 0);
    EXPECT_NEAR(cfg.large_area, 0.02, 0);
    EXPECT(cfg.repair_threshold < 0); /* auto */
    EXPECT(cfg.msgms_scales == 4 && cfg.box_size == 21);
    EXPECT(sn_config_validate(&cfg) == SN_OK);

    EXPECT(sn_config_set(&cfg, "lr=5e-4", "--set") == SN_OK);
    EXPECT_NEAR(cfg.lr, 5e-4, 1e-15);
    EXPECT(sn_config_set(&cfg, "train.batch_size=4", "--set") == SN_OK);
    EXPECT(cfg.batch_size == 4);
    EXPECT(sn_config_set(&cfg, "repair_threshold=0.4", "--set") == SN_OK);
    EXPECT_NEAR(cfg.repair_threshold, 0.4, 0);
    EXPECT(sn_config_set(&cfg, "batch_mode=per_rank", "--set") == SN_OK);
    EXPECT(cfg.batch_mode == SN_BATCH_PER_RANK);

    sn_err_clear();
    EXPECT(sn_config_set(&cfg, "no_such_key=1", "--set") == SN_EINVAL);
    EXPECT_MSG(strstr(sn_err_msg(), "no_such_key") != NULL, "message names the key: %s", sn_err_msg());
    sn_err_clear();
    EXPECT(sn_config_set(&cfg, "batch_size=zero", "--set") == SN_EINVAL);
    EXPECT(strstr(sn_err_msg(), "integer") != NULL);
    sn_err_clear();
    EXPECT(sn_config_set(&cfg, "p_anomaly=1.5", "--set") == SN_EINVAL);
    EXPECT(strstr(sn_err_msg(), "[0, 1]") != NULL);
    sn_err_clear();
    EXPECT(sn_config_set(&cfg, "batch_mode=sometimes", "--set") == SN_EINVAL);
    sn_err_clear();
    EXPECT(sn_config_set(&cfg, "lr=nan", "--set") == SN_EINVAL);
    sn_err_clear();

    sn_config_defaults(&cfg);
    cfg.image_size = 100;
    EXPECT(sn_config_validate(&cfg) == SN_EINVAL);
    EXPECT_MSG(strstr(sn_err_msg(), "image_size = 100") && strstr(sn_err_msg(), "multiple of 16"),
               "%s", sn_err_msg());
    sn_err_clear();

    /* file: sections, comments, and an unknown key reported with file:line */
    sn_config_defaults(&cfg);
    const char *p = write_tmp("; comment\n[model]\nimage_size = 128\nseg_width = 16\n[train]\nlr = 2e-4\n");
    EXPECT(sn_config_load(&cfg, p) == SN_OK);
    EXPECT(cfg.image_size == 128 && cfg.seg_width == 16);
    EXPECT_NEAR(cfg.lr, 2e-4, 1e-15);
    p = write_tmp("[model]\nimage_size = 128\nwidht = 3\n");
    EXPECT(sn_config_load(&cfg, p) == SN_EINVAL);
    EXPECT_MSG(strstr(sn_err_msg(), ":3:") && strstr(sn_err_msg(), "widht"), "%s", sn_err_msg());
    sn_err_clear();
    p = write_tmp("[train]\nimage_size = 128\n");
    EXPECT(sn_config_load(&cfg, p) == SN_EINVAL);
    EXPECT_MSG(strstr(sn_err_msg(), "[model]") != NULL, "%s", sn_err_msg());
    sn_err_clear();
    EXPECT(sn_config_load(&cfg, "/nonexistent/x.ini") == SN_EIO);
    sn_err_clear();
    unlink(p);

    /* round trip: the printed configuration loads back to the same values */
    sn_config a, b;
    sn_config_defaults(&a);
    sn_config_set(&a, "lr=3e-4", "t");
    sn_config_set(&a, "repair_threshold=0.25", "t");
    char *ini = sn_config_to_ini(&a);
    p = write_tmp(ini);
    sn_config_defaults(&b);
    EXPECT(sn_config_load(&b, p) == SN_OK);
    EXPECT(memcmp(&a, &b, sizeof a) == 0);
    /* numbers print as written: the shortest spelling that reads back as the same double */
    EXPECT(strstr(ini, "\nlr = 0.0003\n") && strstr(ini, "\nlr_decay_at1 = 0.8\n") &&
           strstr(ini, "\nbn_eps = 1e-05\n") && strstr(ini, "\nrepair_threshold = 0.25\n"));
    sn_free(ini);
    unlink(p);
    char buf[64];
    const double odd[] = {0.1 + 0.2, 1.0 / 3, 5e-324, 1e300, 0};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        a.lr = odd[i];
        sn_config_format(&a, sn_config_find("lr"), buf, sizeof buf);
        EXPECT_MSG(strtod(buf, NULL) == odd[i], "lr %.17g printed as %s", odd[i], buf);
    }
    sn_config_format(&a, sn_config_find("lr"), buf, sizeof buf);
    EXPECT(strcmp(buf, "0") == 0);
    a.lr = 0.1 + 0.2;
    sn_config_format(&a, sn_config_find("lr"), buf, sizeof buf);
    EXPECT(strcmp(buf, "0.30000000000000004") == 0);
    return sn_test_finish();
}
