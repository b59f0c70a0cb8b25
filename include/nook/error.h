/* nook: error objects.
 *
 * Functions that can fail return 0 (or a non-negative value) on success and
 * a negative errno value on failure; those that take a `nook_error **err`
 * also store an error object with a message naming the input and the
 * problem, unless err is NULL. The caller frees it with nook_error_free().
 */
#ifndef NOOK_ERROR_H
#define NOOK_ERROR_H

#include <nook/api.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nook_error nook_error;

/* The message, e.g. "--memory 0: memory must be at least 64 MiB". */
NOOK_API const char *nook_error_message(const nook_error *err);
/* The errno value that classifies the error (EINVAL, ENOENT, ...), positive. */
NOOK_API int nook_error_code(const nook_error *err);
NOOK_API void nook_error_free(nook_error *err);

#ifdef __cplusplus
}
#endif
#endif
