#include "nn/workspace.h"
#include "sernet/common.h"

#include <omp.h>

#define MAX_THREADS 256

static struct {
    float *buf;
    size_t cap;
} ws[MAX_THREADS][SN_WS_SLOTS];

float *sn_ws_get(int slot, size_t n)
{
    int t = slot == SN_WS_SHARED ? 0 : omp_get_thread_num();
    SN_ASSERT(t < MAX_THREADS && slot >= 0 && slot < SN_WS_SLOTS);
    if (ws[t][slot].cap < n) {
        sn_free(ws[t][slot].buf);
        ws[t][slot].buf = sn_alloc(n * sizeof(float), "engine workspace");
        ws[t][slot].cap = ws[t][slot].buf ? n : 0;
    }
    return ws[t][slot].buf;
}

void sn_ws_release(void)
{
    for (int t = 0; t < MAX_THREADS; t++)
        for (int s = 0; s < SN_WS_SLOTS; s++) {
            sn_free(ws[t][s].buf);
            ws[t][s].buf = NULL;
            ws[t][s].cap = 0;
        }
}

size_t sn_ws_bytes(void)
{
    size_t b = 0;
    for (int t = 0; t < MAX_THREADS; t++)
        for (int s = 0; s < SN_WS_SLOTS; s++)
            b += ws[t][s].cap * sizeof(float);
    return b;
}
