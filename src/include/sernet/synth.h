/* The embedded synthetic inspection set (docs/data.md): procedurally generated categories with
 * normal training images and a test split of normal and defective images with pixel-exact masks.
 * Every item is a pure function of (seed, category, split, index, S): the same seed gives the
 * same pixels on any number of ranks. */
#ifndef SERNET_SYNTH_H
#define SERNET_SYNTH_H

#include <stdint.h>

#include "sernet/common.h"

int sn_synth_n_categories(void);
const char *sn_synth_category_name(int cat);
/* Items per split (0 train, 1 test: one copy of the test layout, see sn_synth_test_defect). */
int64_t sn_synth_count(int cat, int split);
/* Defect types of a category; type 0 is "good". */
int sn_synth_n_defect_types(int cat);
const char *sn_synth_defect_type(int cat, int t);
/* 1 for a small defect type (under 1 % of the image), 2 for a large one (over 5 %), 0 for good. */
int sn_synth_defect_scale(int cat, int t);
/* The defect type of test item i >= 0. Items past sn_synth_count(cat, 1) repeat the layout (good
 * images, then each defect type in turn): a test split of k copies is items 0 .. k * count - 1,
 * each drawn on its own, and its first copy is the one-copy split. */
int sn_synth_test_defect(int cat, int64_t i);
#define SN_SYNTH_MAX_TEST_COPIES 100

/* Render one item at S x S: rgb uint8 HWC [S,S,3]; mask uint8 [S,S] 0/1 (may be NULL for the
 * train split; all zero for normal items). S must be at least 32. */
sn_status sn_synth_render(int cat, int split, int64_t i, int S, uint64_t seed, uint8_t *rgb,
                          uint8_t *mask);
/* The same, and also the item as it was before its defect was applied (clean, [S,S,3], may be
 * NULL): outside the mask the two are identical, inside it the defect changed the pixels. */
sn_status sn_synth_render_pair(int cat, int split, int64_t i, int S, uint64_t seed, uint8_t *rgb,
                               uint8_t *mask, uint8_t *clean);

#endif
