#include "devices/boot_port.h"

#include <string.h>
#include <unistd.h>

#include "guest/protocol.h"

static void boot_port_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct boot_port *p = opaque;
	if (offset != 0 || len != 4)
		return;
	uint32_t v = (uint32_t)io_data_get(data, len);
	uint32_t arg = v & 0xffffff;
	uint64_t now = monotonic_ns();
	switch (v >> 24) {
	case NOOK_EVENT_USERSPACE_STARTED:
		atomic_store(&p->t_userspace, now);
		break;
	case NOOK_EVENT_READY: {
		uint64_t zero = 0, one = 1;
		/* Only the first: a restored guest has been past it already. */
		if (atomic_compare_exchange_strong(&p->t_ready, &zero, now) &&
		    write(p->ready_fd, &one, sizeof(one)) < 0) {
			/* an eventfd's counter cannot overflow from one write */
		}
		break;
	}
	case NOOK_EVENT_PROGRAM_STARTED:
		atomic_store(&p->t_program, now);
		break;
	case NOOK_EVENT_EXIT_STATUS:
		atomic_store(&p->t_exit, now);
		machine_request_stop(p->machine, MACHINE_STOP_EXIT_STATUS, (int)(arg & 0xff), NULL);
		break;
	case NOOK_EVENT_INIT_FAILED:
		machine_request_stop(p->machine, MACHINE_STOP_INIT_FAILED, (int)arg,
				     "nook-init failed in the guest: %s", strerror((int)arg));
		break;
	default:
		break;
	}
}

int boot_port_register(struct boot_port *p, struct machine *m, int ready_fd)
{
	p->machine = m;
	p->ready_fd = ready_fd;
	atomic_store(&p->t_userspace, 0);
	atomic_store(&p->t_ready, 0);
	atomic_store(&p->t_program, 0);
	atomic_store(&p->t_exit, 0);
	struct io_handler h = {.write = boot_port_write, .opaque = p};
	return io_bus_register(&m->pio, NOOK_PORT, 4, &h);
}
