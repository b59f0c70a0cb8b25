/* The symbolic links of the built-in root's archive, made by nook-init
 * (guest/protocol.h: NOOK_ROOT_SYMLINKS). */
#ifndef NOOK_GUEST_INIT_LINKS_H
#define NOOK_GUEST_INIT_LINKS_H

#include <stddef.h>

/* Makes the links the list beneath `root` names, beneath `root`, then
 * removes the list; nothing when there is none. An entry that is not a
 * link beneath the root (an absolute path, "..", no name or target) or a
 * link that cannot be made is skipped: returns how many were, the first
 * one's problem in `err`. */
int init_root_links(int root, char *err, size_t errlen);

#endif
