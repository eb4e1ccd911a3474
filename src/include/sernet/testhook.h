/* Hooks for fault-injection tests (docs/hardening.md): slow a loop down so a test can kill or
 * signal a process at a chosen point of a tiny run, or fail one call. Inactive unless the
 * variable is set. */
#ifndef SERNET_TESTHOOK_H
#define SERNET_TESTHOOK_H

/* Sleep for the number of milliseconds in environment variable `var` (read once per variable
 * name pointer), if set and positive. */
void sn_testhook_delay(const char *var);

/* 1 on the call whose number (1, 2, ... counted over all of the process's calls) equals
 * the value of environment variable `var`, else 0: a failure injected at one chosen point. */
int sn_testhook_fail_nth(const char *var);

#endif
