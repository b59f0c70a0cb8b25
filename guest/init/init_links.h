/* The symbolic links of the built-in root's archive, made by nook-init
 * (guest/protocol.h: NOOK_ROOT_SYMLINKS). */
#ifndef NOOK_GUEST_INIT_LINKS_H
#define NOOK_GUEST_INIT_LINKS_H

/* Makes the links the list names, then removes the list; nothing when
 * there is none. A link that cannot be made is reported and skipped. */
void init_root_links(void);

#endif
