/* Scratch buffers per OS thread. Each thread that calls into the engine (an MPI rank's main
 * thread, its OpenMP team members, or several application threads using the inference API at
 * once) gets its own block, found through thread-local storage, so concurrent callers never
 * share a buffer. Blocks are linked into one list so sn_ws_release and sn_ws_bytes can see all
 * of them; a thread's block is freed when the thread exits. */
#include "nn/workspace.h"
#include "sernet/common.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct ws_block {
    float *buf[SN_WS_SLOTS];
    size_t cap[SN_WS_SLOTS];
    struct ws_block *prev, *next;
} ws_block;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ws_block *head;
static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static _Thread_local ws_block *mine;

static void block_free_buffers(ws_block *b)
{
    for (int s = 0; s < SN_WS_SLOTS; s++) {
        sn_free(b->buf[s]);
        b->buf[s] = NULL;
        b->cap[s] = 0;
    }
}

/* Thread exit: unlink and free this thread's block. */
static void on_thread_exit(void *p)
{
    ws_block *b = p;
    pthread_mutex_lock(&lock);
    if (b->prev)
        b->prev->next = b->next;
    else
        head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    pthread_mutex_unlock(&lock);
    block_free_buffers(b);
    free(b);
}

static void make_key(void)
{
    if (pthread_key_create(&key, on_thread_exit) != 0)
        sn_abort(__FILE__, __LINE__, "pthread_key_create failed");
}

static ws_block *my_block(void)
{
    if (mine)
        return mine;
    pthread_once(&key_once, make_key);
    ws_block *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_lock(&lock);
    b->next = head;
    if (head)
        head->prev = b;
    head = b;
    pthread_mutex_unlock(&lock);
    pthread_setspecific(key, b);
    mine = b;
    return b;
}

float *sn_ws_get(int slot, size_t n)
{
    SN_ASSERT(slot >= 0 && slot < SN_WS_SLOTS);
    ws_block *b = my_block();
    if (!b) {
        SN_ERR(SN_ENOMEM, "engine workspace block");
        return NULL;
    }
    if (b->cap[slot] < n) {
        sn_free(b->buf[slot]);
        b->buf[slot] = sn_alloc(n * sizeof(float), "engine workspace");
        b->cap[slot] = b->buf[slot] ? n : 0;
    }
    return b->buf[slot];
}

void sn_ws_release(void)
{
    pthread_mutex_lock(&lock);
    for (ws_block *b = head; b; b = b->next)
        block_free_buffers(b);
    pthread_mutex_unlock(&lock);
}

size_t sn_ws_bytes(void)
{
    size_t bytes = 0;
    pthread_mutex_lock(&lock);
    for (ws_block *b = head; b; b = b->next)
        for (int s = 0; s < SN_WS_SLOTS; s++)
            bytes += b->cap[s] * sizeof(float);
    pthread_mutex_unlock(&lock);
    return bytes;
}
