/* Per-thread scratch buffers of the engine (one block per OS thread, so concurrent callers are
 * safe), grown on demand and kept between calls so that
 * the hot loops do not allocate. Private to src/nn. */
#ifndef SN_NN_WORKSPACE_H
#define SN_NN_WORKSPACE_H

#include <stddef.h>

/* SN_WS_PACK: the direct convolution's repacked weights (outside parallel regions), apart from
 * SN_WS_SHARED so a caller may pass weights living in SN_WS_SHARED. */
enum { SN_WS_COL = 0, SN_WS_PARTIAL = 1, SN_WS_SHARED = 2, SN_WS_PACK = 3, SN_WS_SLOTS = 4 };

/* Buffer `slot` of the calling OpenMP thread with room for n floats, or NULL (error recorded)
 * if it cannot be allocated. SN_WS_SHARED is a single buffer for use outside parallel regions. */
float *sn_ws_get(int slot, size_t n);
/* Release every thread's workspace buffers (program end, between benchmark phases); only while
 * no engine call is running. */
void sn_ws_release(void);
/* Bytes currently held by workspaces. */
size_t sn_ws_bytes(void);

#endif
