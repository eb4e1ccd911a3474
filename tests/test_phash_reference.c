/* Every row of ../shared/reference/phash_imagehash431.tsv (ImageHash 4.3.1 + Pillow 9.4 on the
 * images under ../shared/data): decode with sn_image_read, hash, compare exactly. */
#include "sn_test.h"
#include "sernet/image.h"
#include "sernet/phash.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
    const char *shared = getenv("SERNET_SHARED_DIR");
    char path[4096], line[4096];
    snprintf(path, sizeof path, "%s/reference/phash_imagehash431.tsv", shared ? shared : "../shared");
    FILE *f = fopen(path, "r");
    if (!f)
        sn_test_skip("no ../shared");
    int rows = 0, mismatches = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        char *tab = strchr(line, '\t');
        EXPECT_MSG(tab != NULL, "malformed reference row '%s'", line);
        if (!tab)
            continue;
        *tab = '\0';
        uint64_t want = 0, got = 0;
        EXPECT_MSG(sn_phash_parse(tab + 1, &want) == SN_OK, "bad hash in row %d", rows + 1);
        char img_path[8400];
        snprintf(img_path, sizeof img_path, "%s/data/%s", shared ? shared : "../shared", line);
        sn_image img = {0};
        sn_err_clear();
        sn_status st = sn_image_read(img_path, &img);
        EXPECT_MSG(st == SN_OK, "%s: %s", line, sn_err_msg());
        if (st == SN_OK) {
            EXPECT(sn_phash_rgb8(img.data, img.w, img.h, img.c, &got) == SN_OK);
            char g[17], w[17];
            sn_phash_format(got, g);
            sn_phash_format(want, w);
            if (got != want)
                mismatches++;
            EXPECT_MSG(got == want, "%s: phash %s, want %s", line, g, w);
        }
        sn_image_free(&img);
        rows++;
    }
    fclose(f);
    printf("%d reference rows, %d mismatches\n", rows, mismatches);
    EXPECT_MSG(rows > 0, "no rows read from %s (%d)", path, rows);
    return sn_test_finish();
}
