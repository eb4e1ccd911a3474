/* Stop requests: SIGTERM and SIGUSR1 (Slurm's warning before a time limit, `scancel`) ask a
 * long-running stage to finish its current step or round, write what it has (a checkpoint, the
 * done rows of a results file) and end so that --resume continues it. Training and inference
 * poll sn_stop_requested() once per step or round and agree on it over the ranks. */
#ifndef SERNET_STOP_H
#define SERNET_STOP_H

/* Install the SIGTERM/SIGUSR1 handler that sets the stop flag (async-signal-safe). */
void sn_stop_install_signals(void);
/* 1 once a stop was requested (by a signal or sn_stop_request). */
int sn_stop_requested(void);
/* Set the flag as a signal would (tests). */
void sn_stop_request(void);

#endif
