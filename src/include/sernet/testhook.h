/* Hooks for fault-injection tests (docs/hardening.md): slow a loop down so a test can kill or
 * signal a process at a chosen point of a tiny run. Inactive unless the variable is set. */
#ifndef SERNET_TESTHOOK_H
#define SERNET_TESTHOOK_H

/* Sleep for the number of milliseconds in environment variable `var` (read once per variable
 * name pointer), if set and positive. */
void sn_testhook_delay(const char *var);

#endif
