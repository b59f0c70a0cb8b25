/* The user's named console ports (nook_vm_config_add_console_*): their host
 * side (terminals in raw mode, custom backends) and the virtio-console
 * device that carries them, hidden in its slot until after the ready point
 * (devices/virtio/console.h). */
#ifndef NOOK_VM_CONSOLE_PORTS_H
#define NOOK_VM_CONSOLE_PORTS_H

#include <stdbool.h>
#include <termios.h>

#include "backends/console/custom.h"
#include "devices/virtio/console.h"
#include "vm/config.h"

struct vm_console_host {
	int tty_fd; /* in raw mode, to restore; -1 */
	struct termios saved;
	struct console_custom *custom;
};

struct vm_console_ports {
	struct virtio_console dev;
	bool dev_created;
	struct vm_console_host *hosts; /* one per port of the config */
	size_t nhosts;
};

/* The device in the window at `base`, `irq` (given by the caller's slot). */
int vm_console_ports_create(struct vm_console_ports *cp, const nook_vm_config *cfg,
			    struct machine *m, struct event_loop *loop, uint64_t base,
			    uint32_t irq, nook_error **err);
/* Starts serving the custom backends (nook_vm_start()). */
int vm_console_ports_start(struct vm_console_ports *cp, bool confine, nook_error **err);
/* Also restores the terminals; safe on a half-made or zeroed one. */
void vm_console_ports_destroy(struct vm_console_ports *cp);

#endif
