/* Two-pass labelling with union-find over provisional labels (8-connectivity). */
#include "sernet/components.h"

#include <string.h>

static int32_t uf_find(int32_t *parent, int32_t x)
{
    while (parent[x] != x) {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    return x;
}

static void uf_union(int32_t *parent, int32_t a, int32_t b)
{
    a = uf_find(parent, a);
    b = uf_find(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

sn_status sn_components_label(const uint8_t *mask, int h, int w, int32_t *labels, int *count,
                              int64_t **areas)
{
    sn_status status = SN_OK;
    int32_t *parent = NULL, *remap = NULL;
    int64_t *area = NULL;
    size_t npix = (size_t)h * w;
    int32_t next = 1;
    *count = 0;
    if (areas)
        *areas = NULL;
    /* a new label needs an empty west neighbour: at most ceil(w/2) per row */
    size_t max_labels = (size_t)h * (size_t)((w + 1) / 2) + 2;
    SN_ALLOC(parent, max_labels, "component labels");
    parent[0] = 0;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            if (!mask[i]) {
                labels[i] = 0;
                continue;
            }
            /* already-visited neighbours: W, NW, N, NE */
            int32_t nb[4];
            int nn = 0;
            if (x > 0 && labels[i - 1]) nb[nn++] = labels[i - 1];
            if (y > 0) {
                size_t up = i - (size_t)w;
                if (x > 0 && labels[up - 1]) nb[nn++] = labels[up - 1];
                if (labels[up]) nb[nn++] = labels[up];
                if (x + 1 < w && labels[up + 1]) nb[nn++] = labels[up + 1];
            }
            if (nn == 0) {
                if ((size_t)next >= max_labels)
                    sn_abort(__FILE__, __LINE__, "component label overflow");
                parent[next] = next;
                labels[i] = next++;
            } else {
                int32_t m = nb[0];
                for (int k = 1; k < nn; k++)
                    m = nb[k] < m ? nb[k] : m;
                labels[i] = m;
                for (int k = 0; k < nn; k++)
                    uf_union(parent, m, nb[k]);
            }
        }
    }
    SN_CALLOC(remap, next, "component label map");
    int32_t n = 0;
    for (int32_t l = 1; l < next; l++) {
        int32_t r = uf_find(parent, l);
        if (r == l)
            remap[l] = ++n;
    }
    for (int32_t l = 1; l < next; l++)
        remap[l] = remap[uf_find(parent, l)];
    if (areas)
        SN_CALLOC(area, (size_t)n + 1, "component areas");
    for (size_t i = 0; i < npix; i++) {
        labels[i] = remap[labels[i]];
        if (area)
            area[labels[i]]++;
    }
    if (area)
        area[0] = 0;
    *count = n;
    if (areas) {
        *areas = area;
        area = NULL;
    }
done:
    sn_free(parent);
    sn_free(remap);
    sn_free(area);
    return status;
}

static sn_status filter_impl(uint8_t *mask, int h, int w, int64_t min_area, int largest_only,
                             int *kept)
{
    sn_status status = SN_OK;
    int32_t *labels = NULL;
    int64_t *areas = NULL;
    int n = 0, k = 0;
    size_t npix = (size_t)h * w;
    SN_ALLOC(labels, npix ? npix : 1, "component label image");
    SN_TRY(sn_components_label(mask, h, w, labels, &n, &areas));
    int best = 0;
    for (int l = 1; l <= n; l++) {
        if (largest_only) {
            if (best == 0 || areas[l] > areas[best])
                best = l;
        } else if (areas[l] >= min_area) {
            k++;
        }
    }
    for (size_t i = 0; i < npix; i++) {
        int32_t l = labels[i];
        if (l == 0)
            continue;
        int keep = largest_only ? l == best : areas[l] >= min_area;
        if (!keep)
            mask[i] = 0;
    }
    if (largest_only)
        k = best ? 1 : 0;
    if (kept)
        *kept = k;
done:
    sn_free(labels);
    sn_free(areas);
    return status;
}

sn_status sn_components_filter(uint8_t *mask, int h, int w, int64_t min_area, int *kept)
{
    return filter_impl(mask, h, w, min_area, 0, kept);
}

sn_status sn_components_keep_largest(uint8_t *mask, int h, int w)
{
    return filter_impl(mask, h, w, 0, 1, NULL);
}
