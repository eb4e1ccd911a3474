/* Repair-threshold calibration (sn_train_calibrate) on constructed predictions with a known best
 * threshold, split over the ranks: anomalies predicted at 0.555..0.65, a large false-positive blob
 * at 0.455 in some samples, small bright specks (below the area filter) everywhere, background
 * 0.2. Every tau in (0.455, 0.555) is perfect (F1 1); ties go to the highest, 0.55. A fixed tau of
 * 0.3 keeps the blobs: precision = anomalous / (anomalous + blob pixels). */
#include "sn_test.h"
#include "sernet/dist.h"
#include "sernet/train.h"

#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#define S 32
#define NS 12

static int anomalous(int i) { return i % 3 != 2; }
static int blob(int i) { return i % 4 == 1; }

static void make_sample(int i, float *mp, float *mask)
{
    for (int p = 0; p < S * S; p++) {
        mp[p] = 0.2f;
        mask[p] = 0;
    }
    if (anomalous(i))
        for (int y = 4; y < 14; y++)
            for (int x = 4; x < 14; x++) {
                mask[y * S + x] = 1;
                mp[y * S + x] = 0.555f + 0.095f * (float)((y - 4) * 10 + (x - 4)) / 99.0f;
            }
    if (blob(i))
        for (int y = 18; y < 30; y++)
            for (int x = 18; x < 30; x++)
                mp[y * S + x] = 0.455f;
    for (int y = 0; y < 2; y++) /* speck, 4 pixels, below the area filter */
        for (int x = 28; x < 30; x++)
            mp[y * S + x] = 0.9f;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = sn_dist_rank(MPI_COMM_WORLD), size = sn_dist_size(MPI_COMM_WORLD);
    int64_t begin, count;
    sn_dist_shard(NS, rank, size, &begin, &count);
    float *mp = malloc(sizeof(float) * S * S * (count + 1));
    float *mask = malloc(sizeof(float) * S * S * (count + 1));
    for (int64_t j = 0; j < count; j++)
        make_sample((int)(begin + j), mp + j * S * S, mask + j * S * S);
    const int64_t min_area = 82; /* large_area 0.08 at S = 32 */
    int na = 0, nb = 0;
    for (int i = 0; i < NS; i++) {
        na += anomalous(i);
        nb += blob(i);
    }

    sn_calib c;
    EXPECT(sn_train_calibrate(mp, mask, (int)count, S, min_area, -1, MPI_COMM_WORLD, &c) == SN_OK);
    EXPECT_NEAR(c.tau, 0.55, 1e-12);
    EXPECT_NEAR(c.f1, 1.0, 1e-12);
    EXPECT_NEAR(c.recall, 1.0, 1e-12);
    EXPECT_NEAR(c.precision, 1.0, 1e-12);
    EXPECT_NEAR(c.max_in_anomaly, 0.65, 1e-6);
    EXPECT(c.samples == NS);
    EXPECT(c.anomalous_pixels == 100 * na);
    /* only the specks (0.9) rank above the anomalies; no bin holds both kinds */
    const double normal = (double)NS * S * S - 100.0 * na;
    EXPECT_NEAR(c.pixel_auroc, 1.0 - 4.0 * NS / normal, 1e-12);
    EXPECT_NEAR(c.fire_fraction, 0.0, 1e-12);
    EXPECT(c.warning[0] == 0);

    EXPECT(sn_train_calibrate(mp, mask, (int)count, S, min_area, 0.3, MPI_COMM_WORLD, &c) == SN_OK);
    EXPECT_NEAR(c.tau, 0.3, 1e-12);
    EXPECT_NEAR(c.recall, 1.0, 1e-12);
    EXPECT_NEAR(c.precision, 100.0 * na / (100.0 * na + 144.0 * nb), 1e-12);
    EXPECT_NEAR(c.fire_fraction, 144.0 * nb / normal, 1e-12);
    EXPECT(c.warning[0] == 0);

    /* tau above every anomaly: nothing found, recall 0, and it is not chosen */
    EXPECT(sn_train_calibrate(mp, mask, (int)count, S, min_area, 0.7, MPI_COMM_WORLD, &c) == SN_OK);
    EXPECT_NEAR(c.recall, 0.0, 1e-12);
    EXPECT_NEAR(c.f1, 0.0, 1e-12);
    EXPECT(strstr(c.warning, "recall 0.000 < 0.2") && strstr(c.warning, "epochs_seg") &&
           strstr(c.warning, "lower repair_threshold") && !strstr(c.warning, "would fire"));

    /* tau under the background: the repair replaces every image entirely, and says so */
    EXPECT(sn_train_calibrate(mp, mask, (int)count, S, min_area, 0.1, MPI_COMM_WORLD, &c) == SN_OK);
    EXPECT_NEAR(c.recall, 1.0, 1e-12);
    EXPECT_NEAR(c.fire_fraction, 1.0, 1e-12);
    EXPECT(strstr(c.warning, "would fire on 100 %") && !strstr(c.warning, "recall"));

    /* predictions that do not depend on the mask: AUROC one half */
    float *flat = calloc((size_t)S * S * (count + 1), sizeof(float));
    EXPECT(sn_train_calibrate(flat, mask, (int)count, S, min_area, -1, MPI_COMM_WORLD, &c) == SN_OK);
    EXPECT_NEAR(c.pixel_auroc, 0.5, 1e-12);
    /* ... which more steps did not cure in the measured runs: the advice is a lower rate */
    EXPECT(strstr(c.warning, "recall 0.000 < 0.2") && strstr(c.warning, "does not tell anomalous") &&
           strstr(c.warning, "lr_seg") && !strstr(c.warning, "epochs_seg"));
    free(flat);

    /* Without the area filter the specks count as false positives at every tau < 0.9. */
    EXPECT(sn_train_calibrate(mp, mask, (int)count, S, 0, -1, MPI_COMM_WORLD, &c) == SN_OK);
    EXPECT(c.precision < 1.0);
    EXPECT(c.f1 < 1.0);

    free(mp);
    free(mask);
    int failed = sn_test_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (any && !failed)
        sn_test_failed = 1; /* another rank failed: this rank's exit status says so too */
    int rc = sn_test_finish();
    MPI_Finalize();
    return rc;
}
