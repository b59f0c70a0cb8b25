/* The paravirtual port through which nook-init reports boot progress, the
 * ready point and the program's exit status (guest/protocol.h). It holds no
 * guest-visible state, so a snapshot has nothing of it. */
#ifndef NOOK_DEVICES_BOOT_PORT_H
#define NOOK_DEVICES_BOOT_PORT_H

#include <stdatomic.h>
#include <stdint.h>

#include "kvm/kvm.h"

struct boot_port {
	struct machine *machine;
	/* Monotonic ns at each event; 0 until it happens. */
	atomic_uint_least64_t t_userspace;
	atomic_uint_least64_t t_ready;
	atomic_uint_least64_t t_program;
	atomic_uint_least64_t t_exit;
	/* Written (an eventfd) when nook-init reaches the ready point, so the
	 * VMM can act on it off the vCPU thread. */
	int ready_fd;
};

int boot_port_register(struct boot_port *p, struct machine *m, int ready_fd);

#endif
