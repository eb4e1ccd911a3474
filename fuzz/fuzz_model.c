/* Fuzz target: loading a model file (sn_model_load). The generator (h5gen.c,
 * fz_h5gen_model_write) writes a structurally valid model file with the tensors of real nets
 * and perturbs its attributes, groups, tensors and configuration from the fuzz bytes. The loader
 * must either refuse with a status and a message, or return a model whose accessors are sane:
 * image size in [16, 8192], tau in [0, 1], both nets present with the widths of the stored
 * configuration, a 16-hex-digit fingerprint. */
#include "fuzz_common.h"
#include "h5gen.h"

#include "sernet/model.h"

#include <ctype.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init_warm(argc, argv, LLVMFuzzerTestOneInput);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    fz_h5gen_model_info info;
    sn_err_clear();
    fz_path(path, sizeof path, "model.h5");
    if (fz_h5gen_model_write(path, data, size, &info) != 0) {
        unlink(path);
        return 0;
    }
    sn_model *m = (sn_model *)1;
    sn_status st = sn_model_load(path, &m);
    if (st == SN_OK) {
        if (getenv("FZ_VERBOSE"))
            fprintf(stderr, "accepted\n");
        FZ_CHECK(m != NULL);
        int s = sn_model_image_size(m);
        FZ_CHECK(s >= 16 && s <= 8192);
        const sn_config *cfg = sn_model_config(m);
        FZ_CHECK(cfg->image_size == s);
        double tau = sn_model_tau(m);
        FZ_CHECK(tau >= 0 && tau <= 1);
        FZ_CHECK(sn_model_min_area(m) >= 0);
        FZ_CHECK(sn_model_net(m, SN_NET_SEG) != NULL && sn_model_net(m, SN_NET_REC) != NULL);
        FZ_CHECK(sn_unet_tensor_count(sn_model_net(m, SN_NET_SEG)) > 0);
        FZ_CHECK(sn_model_category(m) != NULL);
        const char *fp = sn_model_fingerprint(m);
        FZ_CHECK(strlen(fp) == 16);
        for (int i = 0; i < 16; i++)
            FZ_CHECK(isxdigit((unsigned char)fp[i]));
        sn_model_free(m);
    } else {
        if (getenv("FZ_VERBOSE")) /* why an input is refused (seed checks) */
            fprintf(stderr, "refused: %s\n", sn_err_msg());
        FZ_CHECK(m == NULL);
        fz_refused(st);
    }
    unlink(path);
    return 0;
}
