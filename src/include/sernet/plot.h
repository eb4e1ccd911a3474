/* Line charts as SVG files: the training loss curves (src/train) and the ROC and PRO curves of
 * the evaluation report (src/report) are drawn by this one module. A picture holds one or more
 * panels side by side; each panel has a frame, a 4 x 4 grid with tick labels, axis labels, a
 * title and its series as polylines (points closer than 1/1000 of the panel to the previous
 * drawn point are skipped, so millions of curve points stay a small file). The file is written
 * atomically (sernet/fsutil.h). */
#ifndef SERNET_PLOT_H
#define SERNET_PLOT_H

#include <stdint.h>

#include "sernet/common.h"

typedef struct {
    const double *x, *y; /* n points, x ascending */
    int64_t n;
    const char *colour;  /* SVG colour, e.g. "#1f77b4" */
    const char *label;   /* legend text in the series' colour (bottom right); NULL: none */
} sn_plot_series;

typedef struct {
    double left, top, width, height;  /* the panel's place in the picture, pixels */
    const char *title, *xlabel, *ylabel; /* plain text (no markup) */
    double xmin, xmax, ymin, ymax;    /* axis ranges (xmax > xmin, ymax > ymin); a series ends at
                                         xmax, its segment crossing it interpolated linearly */
    int diagonal;                     /* 1: dashed line from (xmin, ymin) to (xmax, ymax) */
    double vline;                     /* dashed vertical line at this x (NAN: none) ... */
    const char *vline_label;          /* ... with this text beside it (NULL: none) */
    const sn_plot_series *series;
    int n_series;
} sn_plot_panel;

/* Write an SVG of width x height pixels on a white background holding panels[0..n_panels) to
 * `path` (temporary name, then rename). */
sn_status sn_plot_svg(const char *path, double width, double height, const sn_plot_panel *panels,
                      int n_panels);

#endif
