/* Rigid registration of the similar training image to the test image, for the repair module
 * (configuration key repair_register; METHOD.md and the paper paste the neighbour as found, which
 * is repair_register = none, the default).
 *
 * Why: the similar-image search (paper Algorithm 2) finds a training image whose perceptual hash
 * is close, not one that is aligned. Where parts are placed by hand (MPDD metal_plate: plates
 * hang at any angle), the neighbour's pixels under a repair mask show another part of the plate
 * or the background, the reconstruction keeps them, and the map lights up where the repair fired,
 * also on good images. Registering the neighbour first (rotation and scale about the image centre plus a
 * translation, found by a coarse-to-fine search of the grey-level mean absolute difference)
 * pastes the matching part of a normal plate.
 *
 * Layout: images are float 3 x S x S planes in [0, 1] (as the networks take them). */
#ifndef SERNET_REGISTER_H
#define SERNET_REGISTER_H

#include "sernet/common.h"

typedef struct {
    double degrees; /* rotation of the moving image about the image centre */
    double scale;   /* and magnification about it */
    double ty, tx;  /* then a translation, in pixels */
    double cost;    /* grey-level mean absolute difference (means removed) at the result */
    double identity_cost; /* the same without moving the image */
} sn_rigid;

/* The transform t such that sn_register_warp(mov, s, t, out) matches ref best: a full-angle
 * search at the coarsest level of a 2x2-mean pyramid (at most 32 pixels wide), translations up to
 * a quarter of the image, then local refinement at every finer level up to S. Only overlapping
 * pixels count, and a candidate must overlap at least half of the image. Deterministic; allocates
 * its pyramids (SN_ENOMEM). s >= 8. */
sn_status sn_register_rigid(const float *ref, const float *mov, int s, sn_rigid *t);

/* out = mov rotated and translated by t (bilinear, reflected border), 3 x S x S; out must not
 * alias mov. The same warp as the PPA source affine (sn_pseudo_affine). */
void sn_register_warp(const float *mov, int s, const sn_rigid *t, float *out);

/* The repair step with a registered neighbour: ir = x outside mask; inside each 8-connected region
 * of mask, moved (the neighbour after sn_register_warp) shifted by up to 12 pixels so that the
 * 24-pixel surroundings of the region (outside it) match x best in grey level. Parts differ in
 * shape a little, so one global transform leaves edges a few pixels off where the repair fires.
 * All images 3 x S x S; ir must not alias x or moved. */
sn_status sn_register_paste(const float *x, const float *moved, const uint8_t *mask, int s, float *ir);

#endif
