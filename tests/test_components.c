/* 8-connected labelling and area filtering against a flood-fill reference. */
#include "sn_test.h"
#include "sernet/components.h"

#include <stdlib.h>
#include <string.h>

static int flood_count(const uint8_t *m, int h, int w, int64_t min_area, uint8_t *out)
{
    int *seen = calloc((size_t)h * w, sizeof(int));
    int *stack = malloc(sizeof(int) * (size_t)h * w);
    int *members = malloc(sizeof(int) * (size_t)h * w);
    int n = 0;
    memset(out, 0, (size_t)h * w);
    for (int s = 0; s < h * w; s++) {
        if (!m[s] || seen[s])
            continue;
        int sp = 0, nm = 0;
        stack[sp++] = s;
        seen[s] = 1;
        while (sp) {
            int p = stack[--sp];
            members[nm++] = p;
            int y = p / w, x = p % w;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                        continue;
                    int q = yy * w + xx;
                    if (m[q] && !seen[q]) {
                        seen[q] = 1;
                        stack[sp++] = q;
                    }
                }
        }
        n++;
        if (nm >= min_area)
            for (int i = 0; i < nm; i++)
                out[members[i]] = 1;
    }
    free(seen);
    free(stack);
    free(members);
    return n;
}

int main(void)
{
    /* diagonal-only contact joins two pixels into one region */
    uint8_t diag[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    int32_t lab[9];
    int n = 0;
    int64_t *areas = NULL;
    EXPECT(sn_components_label(diag, 3, 3, lab, &n, &areas) == SN_OK);
    EXPECT(n == 1 && areas[1] == 3);
    sn_free(areas);

    /* a U shape whose arms meet only at the bottom: provisional labels must merge */
    uint8_t u[5 * 5] = {1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1};
    int32_t lu[25];
    EXPECT(sn_components_label(u, 5, 5, lu, &n, &areas) == SN_OK);
    EXPECT(n == 2);
    EXPECT(areas[1] == 13 && areas[2] == 1);
    sn_free(areas);

    /* filter: a region just under and one just at the threshold, touching the border */
    uint8_t f[4 * 6] = {1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    int kept = -1;
    EXPECT(sn_components_filter(f, 4, 6, 4, &kept) == SN_OK);
    EXPECT(kept == 1);
    EXPECT(f[0] == 0 && f[1] == 0 && f[6] == 0 && f[4] == 1 && f[11] == 1);

    /* random masks against the flood-fill reference */
    unsigned seed = 12345;
    for (int trial = 0; trial < 50; trial++) {
        int h = 1 + trial % 37, w = 1 + (trial * 7) % 41;
        uint8_t *m = malloc((size_t)h * w), *ref = malloc((size_t)h * w);
        for (int i = 0; i < h * w; i++) {
            seed = seed * 1103515245u + 12345u;
            m[i] = ((seed >> 16) % 100) < 45;
        }
        int32_t *l = malloc(sizeof(int32_t) * (size_t)h * w);
        int64_t min_area = trial % 6;
        int nref = flood_count(m, h, w, min_area, ref);
        EXPECT(sn_components_label(m, h, w, l, &n, NULL) == SN_OK);
        EXPECT_MSG(n == nref, "trial %d: %d components, reference %d", trial, n, nref);
        EXPECT(sn_components_filter(m, h, w, min_area, NULL) == SN_OK);
        EXPECT_MSG(memcmp(m, ref, (size_t)h * w) == 0, "trial %d: filtered mask differs", trial);
        free(m);
        free(ref);
        free(l);
    }
    uint8_t two[8] = {1, 0, 0, 1, 0, 0, 0, 1};
    EXPECT(sn_components_keep_largest(two, 2, 4) == SN_OK);
    EXPECT(two[0] == 0 && two[3] == 1 && two[7] == 1);
    return sn_test_finish();
}
