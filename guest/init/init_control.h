/* The control port's messages (guest/protocol.h) as nook-init reads them. */
#ifndef NOOK_GUEST_INIT_CONTROL_H
#define NOOK_GUEST_INIT_CONTROL_H

#include <stddef.h>
#include <stdint.h>

/* Reads the next whole message from `fd` into a buffer of its own (free()
 * it). Returns 1 with *type, *payload and *len set, 0 at end of file, or a
 * negative errno (-EPROTO for a message longer than NOOK_MSG_MAX or cut
 * short). */
int init_control_read(int fd, uint32_t *type, void **payload, size_t *len);

#endif
