/* nook: marks the functions libnook exports. The library is built with
 * hidden visibility, so only what carries NOOK_API is part of its ABI. */
#ifndef NOOK_API_H
#define NOOK_API_H

#define NOOK_API __attribute__((visibility("default")))

#endif
