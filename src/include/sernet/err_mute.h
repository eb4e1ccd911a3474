/* Optional look-ups without a sticky error. The error message of sernet/common.h is sticky (the
 * first error wins until sn_err_clear), so a look-up that may fail on purpose -- an attribute
 * that older files lack, a format probe -- would leave a message behind, and clearing it would
 * also wipe an earlier real one. Between sn_err_mute() and sn_err_unmute() (per thread,
 * nestable) sn_err_set records nothing: the statuses are returned as usual, the message stays
 * what it was. The optional readers of sernet/h5util.h (sn_h5_attr_opt_*) use it. */
#ifndef SERNET_ERR_MUTE_H
#define SERNET_ERR_MUTE_H

void sn_err_mute(void);
void sn_err_unmute(void);

#endif
