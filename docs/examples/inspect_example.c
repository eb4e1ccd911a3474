/* Embedding SeRNet inference with the inspection API (include/sernet/inspect.h, docs/api.md).
 *
 *   inspect_example MODEL.h5 DATA.h5 IMAGE...
 *   inspect_example BUNDLE.h5 - IMAGE...      (a bundle from `sernet bundle`: no dataset file)
 *
 * Loads the model and the training images of DATA.h5 (or of the bundle) once, then scores each
 * image file and prints its score, the most similar training image and where the anomaly map
 * peaks. The first image is also scored a second time from a pixel buffer, as a camera frame
 * would arrive.
 * No MPI: this is a plain C program linked with libsernet (see docs/api.md for the flags). */
#include <sernet/image.h>
#include <sernet/inspect.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.h5 DATA.h5 IMAGE...\n       %s BUNDLE.h5 - IMAGE...\n",
                argv[0], argv[0]);
        return 2;
    }
    /* 1. Open once: model, training images, hash index. Options start from the defaults.
     *    A bundle carries the training images itself: its dataset argument is NULL. */
    const char *data = argv[2][0] == '-' && !argv[2][1] ? NULL : argv[2];
    sn_inspect_options opt;
    sn_inspect_options_init(&opt);
    opt.threads = 1;     /* OpenMP threads per call */
    opt.max_workers = 2; /* at most 2 calls at once if several threads share the inspector */
    sn_inspector *in = NULL;
    if (sn_inspector_open(argv[1], data, &opt, &in) != SN_OK) {
        fprintf(stderr, "cannot open the inspector: %s\n", sn_err_msg());
        return 1;
    }
    const int S = sn_inspector_image_size(in);
    float *map = malloc(sizeof(float) * (size_t)S * S); /* caller-owned output buffer */
    if (!map) {
        sn_inspector_close(in);
        return 1;
    }
    int failed = 0;
    /* 2. Score files: any size, PNG/JPEG/BMP, grey or colour. */
    for (int i = 3; i < argc; i++) {
        sn_inspect_result r = {0}; /* zeroed: no optional output unless asked for */
        r.map = map;               /* ask for the S x S anomaly map */
        if (sn_inspect_file(in, argv[i], &r) != SN_OK) {
            fprintf(stderr, "%s\n", sn_err_msg()); /* names the file and what was wrong */
            failed = 1;
            continue;
        }
        int peak = 0;
        for (int p = 1; p < S * S; p++)
            if (map[p] > map[peak])
                peak = p;
        printf("%s\tscore %.9g\tneighbour %s\trepaired %lld px\tpeak at x=%d y=%d of %dx%d\n",
               argv[i], r.score, sn_inspector_train_name(in, r.neighbor),
               (long long)r.repaired_pixels, peak % S, peak / S, S, S);
    }
    /* 3. Score a pixel buffer (here: the first file decoded into memory, as a camera frame). */
    sn_image frame = {0};
    if (sn_image_read(argv[3], &frame) == SN_OK) {
        sn_inspect_image px = {frame.data, frame.w, frame.h, 0 /* packed rows */,
                               frame.c == 1 ? SN_PIX_GREY : SN_PIX_RGB};
        sn_inspect_result r = {0};
        if (sn_inspect_pixels(in, &px, &r) == SN_OK)
            printf("%s (from memory)\tscore %.9g\n", argv[3], r.score);
        else
            fprintf(stderr, "%s\n", sn_err_msg()), failed = 1;
        sn_image_free(&frame);
    }
    sn_err_clear();
    /* 4. Close once, when no call is running. */
    free(map);
    sn_inspector_close(in);
    return failed;
}
