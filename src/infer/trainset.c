/* The in-memory training split that scoring repairs from (sernet/bundle.h), read from a dataset
 * file on this process alone through the dataset and hash-index formats' local readers. A
 * bundle's training part is read by src/format/bundle.c. */
#include "sernet/bundle.h"
#include "sernet/dataset.h"
#include "sernet/h5util.h"
#include "sernet/hashindex_format.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sn_trainset_free(sn_trainset *t)
{
    if (!t)
        return;
    sn_h5_free_names(t->names, t->n);
    sn_free(t->images);
    sn_free(t->hashes);
    memset(t, 0, sizeof *t);
}

sn_status sn_trainset_load(const char *data_path, const char *category, int category_given,
                           const char *model_path, int S, sn_trainset *t)
{
    sn_status status = SN_OK;
    sn_dataset *ds = NULL;
    char path[512];
    memset(t, 0, sizeof *t);
    snprintf(t->category, sizeof t->category, "%s", category);
    t->s = S;
    status = sn_dataset_open_local(data_path, category, &ds);
    if (status == SN_EINVAL && !category_given && strstr(sn_err_msg(), "no category")) {
        char inner[1024];
        snprintf(inner, sizeof inner, "%s", sn_err_msg());
        sn_err_clear(); /* re-raised with the hint */
        SN_FAIL(SN_EINVAL, "%s (the model's category; choose another with the category option)",
                inner);
    }
    SN_TRY(status);
    if (sn_dataset_image_size(ds) != S)
        SN_FAIL(SN_EINVAL, "%s was trained on %d x %d images, but %s (category '%s') holds %d x %d "
                "images: use the dataset the model was trained on, or ingest the images at "
                "image_size %d", model_path, S, S, data_path, category, sn_dataset_image_size(ds),
                sn_dataset_image_size(ds), S);
    t->n = sn_dataset_count(ds, SN_SPLIT_TRAIN);
    if (t->n < 1)
        SN_FAIL(SN_EFORMAT, "%s: category '%s' has no training images", data_path, category);
    sn_hashindex_path(path, sizeof path, category);
    SN_TRY(sn_hashindex_read(sn_dataset_file(ds), path, category, t->n, 1, &t->hashes));
    SN_ALLOC(t->images, (size_t)t->n * S * S * 3, "training images");
    SN_TRY(sn_dataset_read_raw_range(ds, SN_SPLIT_TRAIN, 0, t->n, t->images));
    t->names = calloc((size_t)t->n, sizeof *t->names);
    if (!t->names)
        SN_FAIL(SN_ENOMEM, "%s: names of %lld training images", data_path, (long long)t->n);
    for (int64_t i = 0; i < t->n; i++)
        if (!(t->names[i] = strdup(sn_dataset_name(ds, SN_SPLIT_TRAIN, i))))
            SN_FAIL(SN_ENOMEM, "%s: names of %lld training images", data_path, (long long)t->n);
done:
    sn_dataset_close(ds);
    if (status != SN_OK)
        sn_trainset_free(t);
    return status;
}
