/* Versions of the program and of the libraries it runs with, for --version and provenance. */
#ifndef SERNET_VERSION_H
#define SERNET_VERSION_H

#include <stddef.h>

const char *sn_version(void);
/* Multi-line description: program, GEMM backend (with BLIS arch), MPI, HDF5, libpng. */
void sn_version_describe(char *buf, size_t len);
/* One line for provenance attributes. */
void sn_version_oneline(char *buf, size_t len);

#endif
