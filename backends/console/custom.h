/* A console port backend of the caller's (struct nook_console_port_backend)
 * as the device sees every port: a file descriptor, here one end of a
 * socket pair. Two threads serve the other end: one calls read() and sends
 * what it returns to the guest, the other hands what the guest sent to
 * write(). The socket buffers between them carry the back-pressure both
 * ways; the I/O thread never runs the caller's code. */
#ifndef NOOK_BACKENDS_CONSOLE_CUSTOM_H
#define NOOK_BACKENDS_CONSOLE_CUSTOM_H

#include <stdbool.h>

#include <nook/devices.h>

#include "util/error.h"

struct console_custom;

/* The socket pair; *fd is the device's end, the caller's to close. No
 * callback is called before console_custom_start(), so that a VM built
 * and dropped (a snapshot that did not fit) takes no input. */
int console_custom_create(const struct nook_console_port_backend *backend, void *opaque,
			  const char *name, int *fd, struct console_custom **out, nook_error **err);
/* Starts the threads (confined like the I/O thread when `confine`). */
int console_custom_start(struct console_custom *cc, bool confine, nook_error **err);
/* Ends the output (write() is told, unless it already was) and joins the
 * threads: waits for a read() in progress to return. */
void console_custom_stop(struct console_custom *cc);

#endif
