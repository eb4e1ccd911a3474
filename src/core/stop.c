/* Stop requests (sernet/stop.h). */
#include "sernet/stop.h"
#include "sernet/common.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop_flag = 0;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void sn_stop_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    SN_ASSERT(sigemptyset(&sa.sa_mask) == 0);
    /* fails only for an invalid signal number: a programmer error */
    SN_ASSERT(sigaction(SIGTERM, &sa, NULL) == 0);
    SN_ASSERT(sigaction(SIGUSR1, &sa, NULL) == 0);
}

int sn_stop_requested(void) { return stop_flag != 0; }
void sn_stop_request(void) { stop_flag = 1; }
