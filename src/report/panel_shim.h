/* TODO(merge): sn_panel_write is being written by the export helper in include/sernet/panel.h.
 * Until that header is on main this private header declares the same prototype and
 * src/report/panel_tmp.c provides a throwaway implementation (the lead deletes panel_tmp.c and
 * this header at merge and includes "sernet/panel.h" instead). With __has_include the shim
 * switches to the real header by itself once it exists, and panel_tmp.c compiles to nothing. */
#ifndef SN_REPORT_PANEL_SHIM_H
#define SN_REPORT_PANEL_SHIM_H

#if defined(__has_include)
#if __has_include("sernet/panel.h")
#define SN_HAVE_PANEL_H 1
#endif
#endif

#ifdef SN_HAVE_PANEL_H
#include "sernet/panel.h"
#else
#include "sernet/common.h"
#include <stdint.h>
/* One PNG panel of a test image: the image, the ground truth, the anomaly map as a heat map
 * (map_max = full heat), the predicted mask and the reconstruction (NULL parts are left out). */
sn_status sn_panel_write(const char *png_path, int S, const uint8_t *image_rgb,
                         const uint8_t *gt_mask, const float *map, float map_max,
                         const uint8_t *pred_mask, const uint8_t *recon_rgb);
#endif

#endif
