/* A non-finite loss stops training with the step and the offending tensor named: train two
 * steps, poke a NaN into one parameter of the checkpoint, resume, and check the error. Runs the
 * sernet binary (SERNET_BIN) as a single process. */
#include "sn_test.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int run(const char *cmd, char *out, size_t len)
{
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (!p)
        return -1;
    n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int main(void)
{
    const char *bin = getenv("SERNET_BIN");
    if (!bin)
        sn_test_skip("SERNET_BIN not set");
    char dir[] = "/tmp/sn_nonfinite_XXXXXX", cmd[2048], out[65536];
    if (!mkdtemp(dir))
        sn_test_skip("cannot make a temporary directory");
    /* the child's MPI start-up allocations are not ours: no leak report from it */
    const char *env = "ASAN_OPTIONS=detect_leaks=0 SERNET_PROGRESS=lines";
    snprintf(cmd, sizeof cmd, "%s %s synth --out %s/s.h5 --size 32 2>&1", env, bin, dir);
    EXPECT(run(cmd, out, sizeof out) == 0);
    const char *cfg = "--set seg_width=4 --set rec_width=4 --set large_area=0.08 --set small_area=0.04 "
                      "--set batch_size=4 --set threads=1";
    snprintf(cmd, sizeof cmd, "%s %s train %s --data %s/s.h5 --category weave --out %s/m.h5 --stop-after 2 2>&1",
             env, bin, cfg, dir, dir);
    EXPECT_MSG(run(cmd, out, sizeof out) == 0, "training 2 steps: %s", out);

    char path[512];
    snprintf(path, sizeof path, "%s/m.h5", dir);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    EXPECT(f >= 0);
    hid_t d = f >= 0 ? H5Dopen2(f, "/seg/tensors/D1.0.conv.weight", H5P_DEFAULT) : -1;
    EXPECT_MSG(d >= 0, "the checkpoint has /seg/tensors/D1.0.conv.weight");
    if (d >= 0) {
        hid_t sp = H5Dget_space(d);
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        float *w = malloc(sizeof(float) * (size_t)n);
        EXPECT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
        w[5] = NAN;
        EXPECT(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
        free(w);
        H5Sclose(sp);
        H5Dclose(d);
    }
    if (f >= 0)
        H5Fclose(f);

    snprintf(cmd, sizeof cmd, "%s %s train %s --data %s/s.h5 --category weave --out %s/m.h5 --resume 2>&1",
             env, bin, cfg, dir, dir);
    int rc = run(cmd, out, sizeof out);
    EXPECT_MSG(rc == 1, "resume with a NaN parameter: exit %d, want 1", rc);
    EXPECT_MSG(strstr(out, "step 3") != NULL, "the message names the step: %s", out);
    EXPECT_MSG(strstr(out, "D1.0.conv.weight") != NULL, "the message names the tensor: %s", out);
    EXPECT_MSG(strstr(out, "loss is nan") != NULL || strstr(out, "loss is -nan") != NULL,
               "the message gives the value: %s", out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return sn_test_finish();
}
