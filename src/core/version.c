#include "sernet/version.h"
#include "sernet/gemm.h"

#include <hdf5.h>
#include <mpi.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

const char *sn_version(void) { return SERNET_VERSION; }

static void mpi_version(char *buf, size_t len)
{
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0, major = 0, minor = 0;
    if (MPI_Get_library_version(lib, &n) != MPI_SUCCESS)
        snprintf(lib, sizeof lib, "MPI library version unknown");
    if (MPI_Get_version(&major, &minor) != MPI_SUCCESS)
        major = minor = 0;
    char *nl = strchr(lib, '\n');
    if (nl)
        *nl = '\0';
    char *comma = strchr(lib, ',');
    if (comma)
        *comma = '\0';
    snprintf(buf, len, "%s (MPI %d.%d)", lib, major, minor);
}

void sn_version_describe(char *buf, size_t len)
{
    unsigned maj = 0, min = 0, rel = 0;
    char mpi[512];
    H5get_libversion(&maj, &min, &rel);
    mpi_version(mpi, sizeof mpi);
    snprintf(buf, len,
             "sernet %s\n"
             "gemm:   %s\n"
             "mpi:    %s\n"
             "hdf5:   %u.%u.%u (parallel)\n"
             "libpng: %s\n",
             SERNET_VERSION, sn_gemm_describe(), mpi, maj, min, rel, png_get_libpng_ver(NULL));
}

void sn_version_oneline(char *buf, size_t len)
{
    unsigned maj = 0, min = 0, rel = 0;
    char mpi[512];
    H5get_libversion(&maj, &min, &rel);
    mpi_version(mpi, sizeof mpi);
    snprintf(buf, len, "sernet %s; gemm %s; %s; hdf5 %u.%u.%u", SERNET_VERSION, sn_gemm_describe(),
             mpi, maj, min, rel);
}
