/* A 16550A UART at the COM1 ports, for the kernel log. Output only: the
 * program's stdio goes through virtio-console. */
#ifndef NOOK_DEVICES_SERIAL_H
#define NOOK_DEVICES_SERIAL_H

#include <pthread.h>
#include <stdint.h>

#include "kvm/bus.h"
#include "util/state.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_PORTS 8

struct serial {
	pthread_mutex_t lock;
	int out_fd; /* -1: discard */
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
};

void serial_init(struct serial *s, int out_fd);
void serial_destroy(struct serial *s);
struct io_handler serial_io_handler(struct serial *s);

/* Snapshot: the UART's registers, section "serial" (version 1). */
int serial_save(struct serial *s, struct bytes *out);
int serial_restore(struct serial *s, const void *state, size_t len);

#endif
