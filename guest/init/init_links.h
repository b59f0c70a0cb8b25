/* The symbolic links of the built-in root's archive, made by nook-init
 * (guest/protocol.h: NOOK_ROOT_SYMLINKS). */
#ifndef NOOK_GUEST_INIT_LINKS_H
#define NOOK_GUEST_INIT_LINKS_H

#include <stddef.h>

/* Makes the links the list names, then removes the list; nothing when
 * there is none. A link that cannot be made is skipped: returns how many
 * were, the first one's problem in `err`. */
int init_root_links(char *err, size_t errlen);

#endif
