/* Which kind of sernet file (src/include/sernet/format.h). */
#include "sernet/format.h"

#include <stdlib.h>

int sn_format_identify(sn_h5file *f, char **kind, int64_t *version)
{
    *kind = NULL;
    if (version)
        *version = -1;
    int present = sn_h5_attr_probe(f, "/", "format");
    if (present < 0) {
        /* read it to record why, with HDF5's detail (a checksum mismatch) */
        if (sn_h5_attr_get_str(f, "/", "format", kind) == SN_OK)
            goto found;
        return -1;
    }
    if (!present || !sn_h5_attr_opt_str(f, "/", "format", kind))
        return 0;
found:
    if (version)
        sn_h5_attr_opt_int(f, "/", "format_version", version);
    return 1;
}
