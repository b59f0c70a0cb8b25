/* A scratch directory for the disk fuzz targets (in $TMPDIR, else
 * /dev/shm, else /tmp): made at the first call, removed with everything in
 * it when the process exits. Setup failures
 * abort: a target that cannot set up must not report "no crash". */
#ifndef NOOK_FUZZ_DISK_SCRATCH_H
#define NOOK_FUZZ_DISK_SCRATCH_H

#include <stddef.h>

const char *scratch_dir(void);
/* The path of `name` in the scratch directory, in a static buffer that the
 * next call reuses. */
const char *scratch_path(const char *name);
/* Replaces the file `name` with `len` bytes of `data`. */
void scratch_write(const char *name, const void *data, size_t len);
/* Runs a shell command in the scratch directory (setup only). */
void scratch_run(const char *command);

#endif
