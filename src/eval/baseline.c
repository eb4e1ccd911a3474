/* Training-free baseline maps (src/include/sernet/baseline.h). */
#include "sernet/baseline.h"
#include "sernet/anomaly_map.h"

#include <math.h>
#include <string.h>

int sn_baseline_parse(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "fixed") == 0)
        return SN_BASELINE_FIXED;
    if (strcmp(name, "sobel") == 0)
        return SN_BASELINE_SOBEL;
    return -1;
}

const char *sn_baseline_name(int kind)
{
    return kind == SN_BASELINE_FIXED ? "fixed" : kind == SN_BASELINE_SOBEL ? "sobel" : "none";
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

sn_status sn_baseline_sobel(const float *chw, int s, int box, float *map, float *score)
{
    sn_status status = SN_OK;
    const size_t px = (size_t)s * s;
    float *grey = NULL, *mag = NULL;
    SN_ALLOC(grey, px + 1, "baseline grey image");
    SN_ALLOC(mag, px + 1, "baseline gradient magnitude");
    for (size_t p = 0; p < px; p++)
        grey[p] = 0.299f * chw[p] + 0.587f * chw[px + p] + 0.114f * chw[2 * px + p];
    /* replicated border: zero padding would put the strongest edge of every image on its frame */
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++) {
            float v[3][3];
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                    v[dy + 1][dx + 1] = grey[(size_t)clampi(y + dy, 0, s - 1) * s + clampi(x + dx, 0, s - 1)];
            float gx = (v[0][2] + 2 * v[1][2] + v[2][2]) - (v[0][0] + 2 * v[1][0] + v[2][0]);
            float gy = (v[2][0] + 2 * v[2][1] + v[2][2]) - (v[0][0] + 2 * v[0][1] + v[0][2]);
            mag[(size_t)y * s + x] = sqrtf(gx * gx + gy * gy);
        }
    SN_TRY(sn_map_box_mean(mag, s, s, box, map));
    if (score) {
        float m = map[0];
        for (size_t p = 1; p < px; p++)
            m = map[p] > m ? map[p] : m;
        *score = m;
    }
done:
    sn_free(grey);
    sn_free(mag);
    return status;
}
