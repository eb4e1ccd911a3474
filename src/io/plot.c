/* Line charts as SVG (sernet/plot.h). */
#include "sernet/plot.h"
#include "sernet/fsutil.h"

#include <math.h>
#include <stdio.h>

static void panel(FILE *f, const sn_plot_panel *p)
{
    const double L = 50, R = 15, T = 28, B = 40;
    const double W = p->width, H = p->height, pw = W - L - R, ph = H - T - B;
    const double xr = p->xmax - p->xmin, yr = p->ymax - p->ymin;
    fprintf(f, "<g transform=\"translate(%.0f,%.0f)\" font-family=\"sans-serif\" font-size=\"11\">\n",
            p->left, p->top);
    fprintf(f, "<text x=\"%.0f\" y=\"18\" font-size=\"13\">%s</text>\n", L, p->title ? p->title : "");
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n",
            L, T, pw, ph);
    for (int k = 0; k <= 4; k++) {
        double gx = L + pw * k / 4.0, gy = T + ph - ph * k / 4.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>\n", gx, T, gx, T + ph);
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, gy, L + pw, gy);
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.3g</text>\n", gx, T + ph + 14,
                p->xmin + xr * k / 4.0);
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 4, gy + 4,
                p->ymin + yr * k / 4.0);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n", L + pw / 2, H - 6,
            p->xlabel ? p->xlabel : "");
    fprintf(f, "<text x=\"12\" y=\"%.0f\" transform=\"rotate(-90 12 %.0f)\" text-anchor=\"middle\">%s</text>\n",
            T + ph / 2, T + ph / 2, p->ylabel ? p->ylabel : "");
    if (p->diagonal)
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#999\" stroke-dasharray=\"4,3\"/>\n",
                L, T + ph, L + pw, T);
    if (isfinite(p->vline) && p->vline >= p->xmin && p->vline <= p->xmax) {
        double vx = L + pw * (p->vline - p->xmin) / xr;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#555\" stroke-dasharray=\"6,3\"/>\n",
                vx, T, vx, T + ph);
        if (p->vline_label)
            fprintf(f, "<text x=\"%.1f\" y=\"%.0f\">%s</text>\n", vx + 3, T + 12, p->vline_label);
    }
    for (int k = 0; k < p->n_series; k++) {
        const sn_plot_series *sr = &p->series[k];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", sr->colour);
        double lx = -1, ly = -1;
        for (int64_t i = 0; i < sr->n; i++) {
            double xv = sr->x[i], yv = sr->y[i];
            if (xv > p->xmax) { /* the segment crossing the right edge, interpolated linearly */
                double x0 = i ? sr->x[i - 1] : p->xmin, y0 = i ? sr->y[i - 1] : p->ymin;
                yv = xv > x0 ? y0 + (yv - y0) * (p->xmax - x0) / (xv - x0) : yv;
                xv = p->xmax;
            }
            double px = L + pw * (xv - p->xmin) / xr, py = T + ph - ph * (yv - p->ymin) / yr;
            int last = i == sr->n - 1 || sr->x[i] > p->xmax;
            if (i == 0 || last || fabs(px - lx) >= pw / 1000 || fabs(py - ly) >= ph / 1000) {
                fprintf(f, "%.2f,%.2f ", px, py);
                lx = px;
                ly = py;
            }
            if (sr->x[i] > p->xmax)
                break;
        }
        fputs("\"/>\n", f);
        if (sr->label)
            fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%s</text>\n", L + pw - 150,
                    T + ph - 10 - 14 * k, sr->colour, sr->label);
    }
    fputs("</g>\n", f);
}

sn_status sn_plot_svg(const char *path, double width, double height, const sn_plot_panel *panels,
                      int n_panels)
{
    sn_status status = SN_OK;
    sn_afile af = {0};
    SN_ASSERT(path && (panels || n_panels == 0));
    for (int i = 0; i < n_panels; i++)
        SN_ASSERT(panels[i].xmax > panels[i].xmin && panels[i].ymax > panels[i].ymin);
    SN_TRY(sn_afile_open(&af, path));
    fprintf(af.fp, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\">\n"
                   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", width, height);
    for (int i = 0; i < n_panels; i++)
        panel(af.fp, &panels[i]);
    fputs("</svg>\n", af.fp);
    SN_TRY(sn_afile_commit(&af));
done:
    sn_afile_discard(&af);
    return status;
}
