/* The training split of a dataset file as the PPA source of same-class images. */
#include "sernet/dataset.h"
#include "sernet/pseudo.h"

static sn_status dataset_get(void *ctx, int64_t index, float *chw_out)
{
    return sn_dataset_read((sn_dataset *)ctx, SN_SPLIT_TRAIN, &index, 1, chw_out, NULL, NULL);
}

void sn_pseudo_dataset_source(struct sn_dataset *ds, sn_image_source *src)
{
    src->count = sn_dataset_count(ds, SN_SPLIT_TRAIN);
    src->ctx = ds;
    src->get = dataset_get;
}
