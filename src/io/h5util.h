/* Internal HDF5 helpers shared by the io files. */
#ifndef DCA_H5UTIL_H
#define DCA_H5UTIL_H

#include <hdf5.h>

#include "dca/dca.h"

/* Turns automatic HDF5 error printing off (once). */
void dca_h5_quiet(void);
/* Sets err from the HDF5 error stack: "<what>: <HDF5's deepest message>". */
dca_status dca_h5_fail(dca_error *err, dca_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Variable-length UTF-8 string type (h5py reads it as str). Close it. */
hid_t dca_h5_str_type(void);

#endif
