/* Fuzz target: image decoding through the ingest path. The input is written to a file and read
 * with sn_image_read (format from the signature: PNG, JPEG, BMP); a decoded image is made RGB and
 * resized as `sernet ingest` does (to S x S), and also to an odd size and as a float mask. */
#include "fuzz_common.h"

#include "sernet/image.h"
#include "sernet/resize.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_init(argc, argv);
    return 0;
}

/* CRC-32 of PNG chunks (ISO 3309 polynomial, as in the PNG specification). */
static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* libpng rejects a chunk whose CRC does not match, so mutated chunk contents would mostly stop
 * there. For inputs of even length that start with the PNG signature, every complete chunk's CRC
 * is recomputed, so the decoder sees the mutated contents; odd lengths keep the CRCs as they are
 * (the CRC error path stays fuzzed too). */
static void fix_png_crcs(uint8_t *b, size_t n)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (n < 8 || n % 2 != 0 || memcmp(b, sig, 8) != 0)
        return;
    size_t at = 8;
    while (at + 12 <= n) {
        uint32_t len = ((uint32_t)b[at] << 24) | ((uint32_t)b[at + 1] << 16) |
                       ((uint32_t)b[at + 2] << 8) | b[at + 3];
        if (len > n - at - 12)
            break;
        uint32_t c = crc32_png(b + at + 4, 4 + (size_t)len);
        uint8_t *crc = b + at + 8 + len;
        crc[0] = (uint8_t)(c >> 24);
        crc[1] = (uint8_t)(c >> 16);
        crc[2] = (uint8_t)(c >> 8);
        crc[3] = (uint8_t)c;
        at += 12 + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    sn_image img;
    fz_path(path, sizeof path, "input.img");
    uint8_t *copy = malloc(size ? size : 1);
    FZ_CHECK(copy != NULL);
    if (size)
        memcpy(copy, data, size);
    fix_png_crcs(copy, size);
    fz_write_file(path, copy, size);
    free(copy);
    sn_status st = sn_image_read(path, &img);
    unlink(path);
    if (st != SN_OK) {
        fz_refused(st);
        FZ_CHECK(img.data == NULL && img.w == 0 && img.h == 0);
        return 0;
    }
    FZ_CHECK(img.data && (img.c == 1 || img.c == 3));
    FZ_CHECK(img.w >= 1 && img.h >= 1 && img.w <= SN_IMAGE_MAX_DIM && img.h <= SN_IMAGE_MAX_DIM);
    /* what ingest does: 3 channels, then the resize to S (small S keeps each run fast) */
    const size_t npx = (size_t)img.w * img.h;
    uint8_t *rgb = sn_alloc(npx * 3, "rgb");
    float *mf = sn_alloc(npx * sizeof(float), "mask");
    if (rgb && mf) {
        for (size_t i = 0; i < npx; i++) {
            int any = 0;
            for (int c = 0; c < 3; c++) {
                rgb[3 * i + c] = img.data[i * img.c + (img.c == 3 ? c : 0)];
                any |= rgb[3 * i + c] != 0;
            }
            mf[i] = any ? 1.0f : 0.0f;
        }
        const int S = 16, ow = 1 + img.w % 23, oh = 1 + img.h % 19;
        uint8_t out[16 * 16 * 3], odd[23 * 19 * 3];
        float mo[16 * 16];
        FZ_CHECK(sn_resize_u8(rgb, img.w, img.h, 3, out, S, S) == SN_OK);
        FZ_CHECK(sn_resize_u8(rgb, img.w, img.h, 3, odd, ow, oh) == SN_OK);
        FZ_CHECK(sn_resize_f32(mf, img.w, img.h, 1, mo, S, S) == SN_OK);
        for (int i = 0; i < S * S; i++)
            FZ_CHECK(mo[i] >= -1e-6f && mo[i] <= 1.0f + 1e-6f);
    } else {
        sn_err_clear(); /* allocation refused (ASan's max_allocation_size_mb): not a finding */
    }
    sn_free(rgb);
    sn_free(mf);
    sn_image_free(&img);
    FZ_CHECK(img.data == NULL);
    return 0;
}
