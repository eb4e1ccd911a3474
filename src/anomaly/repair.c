/* Repair module: binarise, area filter (shared component labelling), masked replacement. */
#include "sernet/repair.h"

#include "sernet/components.h"

#include <math.h>
#include <string.h>

int64_t sn_repair_min_area(double fraction, int h, int w)
{
    double a = fraction * (double)h * (double)w;
    if (!(a > 0))
        return 0;
    return (int64_t)ceil(a - a * 1e-12);
}

sn_status sn_repair_mask(const float *mp, int h, int w, double tau, int64_t min_area, uint8_t *mask,
                         int64_t *pixels)
{
    sn_status status = SN_OK;
    size_t n = (size_t)h * (size_t)w;
    if (pixels)
        *pixels = 0;
    if (!mp || !mask || h < 1 || w < 1)
        SN_FAIL(SN_EINVAL, "repair: bad mask %d x %d", h, w);
    /* the configuration stores `auto` as a negative value: it must be calibrated before use */
    if (!(tau >= 0.0 && tau <= 1.0))
        SN_FAIL(SN_EINVAL, "repair: threshold tau = %g, expected a number in [0, 1] (an 'auto' "
                "repair_threshold must be calibrated first)", tau);
    if (min_area < 0)
        SN_FAIL(SN_EINVAL, "repair: min_area = %lld, expected >= 0", (long long)min_area);
    for (size_t i = 0; i < n; i++)
        mask[i] = (uint8_t)((double)mp[i] > tau); /* NaN compares false */
    if (min_area > 1)
        SN_TRY(sn_components_filter(mask, h, w, min_area, NULL));
    if (pixels) {
        int64_t s = 0;
        for (size_t i = 0; i < n; i++)
            s += mask[i];
        *pixels = s;
    }
done:
    return status;
}

void sn_repair_blend(const float *ia, const float *is, const uint8_t *mask, int c, int h, int w,
                     float *ir)
{
    size_t plane = (size_t)h * (size_t)w;
    for (int ch = 0; ch < c; ch++) {
        const float *a = ia + ch * plane, *s = is + ch * plane;
        float *r = ir + ch * plane;
        for (size_t i = 0; i < plane; i++)
            r[i] = mask[i] ? s[i] : a[i]; /* B*Is + (1-B)*Ia with B in {0,1}, exactly */
    }
}

sn_status sn_repair_batch(int n, const float *mp, const float *ia, const float *is, int c, int h,
                          int w, double tau, int64_t min_area, float *ir, uint8_t *mask,
                          int64_t *repaired, int64_t *total)
{
    sn_status status = SN_OK;
    uint8_t *scratch = NULL;
    size_t plane = (size_t)h * (size_t)w;
    int64_t sum = 0;
    if (total)
        *total = 0;
    if (n < 0 || c < 1 || h < 1 || w < 1 || (n > 0 && (!mp || !ia || !is || !ir)))
        SN_FAIL(SN_EINVAL, "repair: bad batch %d x %d x %d x %d", n, c, h, w);
    if (!mask)
        SN_ALLOC(scratch, plane, "repair mask");
    for (int b = 0; b < n; b++) {
        uint8_t *m = mask ? mask + (size_t)b * plane : scratch;
        int64_t px = 0;
        SN_TRY(sn_repair_mask(mp + (size_t)b * plane, h, w, tau, min_area, m, &px));
        size_t off = (size_t)b * (size_t)c * plane;
        sn_repair_blend(ia + off, is + off, m, c, h, w, ir + off);
        if (repaired)
            repaired[b] = px;
        sum += px;
    }
    if (total)
        *total = sum;
done:
    sn_free(scratch);
    return status;
}

int sn_repair_is_most(int64_t repaired, int64_t area)
{
    return repaired > area - repaired;
}

const char *sn_repair_most_advice(void)
{
    return "the segmentation net flags them as a whole, so their maps compare each with a "
           "reconstruction of a training image. If they differ from the training images as a whole "
           "(exposure, framing), fix the capture; else set repair_threshold=1 (the reconstruction net "
           "alone)";
}
