/* The training loss curves as SVG (drawn by sernet/plot.h). */
#include "train/train_internal.h"
#include "sernet/plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The loss curves as SVG next to the model file: <out without .h5>_loss.svg (sernet/plot.h). */
sn_status sn_train_write_loss_svg(const sn_trainer *t)
{
    sn_status status = SN_OK;
    char path[1100];
    double *steps = NULL;
    size_t n = strlen(t->o->out);
    if (n > 3 && strcmp(t->o->out + n - 3, ".h5") == 0)
        n -= 3;
    snprintf(path, sizeof path, "%.*s_loss.svg", (int)n, t->o->out);
    static const char *colour[2] = {"#1f77b4", "#d62728"};
    static const char *name[2] = {"segmentation", "reconstruction"};
    double lo = INFINITY, hi = -INFINITY;
    long most = 1;
    for (int k = 0; k < 2; k++) {
        const sn_train_net *ns = &t->ns[k];
        if (!ns->present)
            continue;
        most = SN_MAX(most, ns->total);
        for (long i = 0; i < ns->step; i++) {
            lo = fmin(lo, ns->loss[i]);
            hi = fmax(hi, ns->loss[i]);
        }
    }
    if (!(hi >= lo))
        lo = 0, hi = 1;
    if (hi - lo < 1e-12)
        hi = lo + 1e-12;
    SN_ALLOC(steps, most, "loss curve steps");
    for (long i = 0; i < most; i++)
        steps[i] = (double)i;
    sn_plot_series ser[2];
    int nser = 0;
    for (int k = 0; k < 2; k++) {
        const sn_train_net *ns = &t->ns[k];
        if (ns->present && ns->step > 0)
            ser[nser++] = (sn_plot_series){steps, ns->loss, ns->step, colour[k], name[k]};
    }
    char xlabel[64];
    snprintf(xlabel, sizeof xlabel, "step (of %ld)", most);
    sn_plot_panel p = {0, 0, 640, 360, "loss per step", xlabel, "loss", 0, (double)SN_MAX(most - 1, 1),
                       lo, hi, 0, NAN, NULL, ser, nser};
    SN_TRY(sn_plot_svg(path, 640, 360, &p, 1));
done:
    sn_free(steps);
    return status;
}
