/* Private to src/pseudo: the scratch buffers and the steps shared by PPA and DPA. */
#ifndef SN_PSEUDO_INTERNAL_H
#define SN_PSEUDO_INTERNAL_H

#include "sernet/pseudo.h"

struct sn_pseudo_work {
    int size;
    float *noise, *tmp;  /* S*S Perlin planes */
    uint8_t *mask, *last; /* S*S masks */
    float *a, *b;        /* 3*S*S PPA source before / after the affine warp */
    float *src[4];       /* 3*S*S fetched source images */
};

/* Check parameters and scratch, clear info, start the sample's random stream. */
sn_status sn_pseudo_begin(const sn_pseudo_params *p, const sn_pseudo_key *key,
                          const sn_pseudo_work *w, sn_rng *r, sn_pseudo_info *info);
/* out_img = img, out_mask = 0. */
void sn_pseudo_clean(int s, const float *img, float *out_img, float *out_mask);

#endif
