/* The PC odds and ends a Linux guest touches: the i8042's reset line (the
 * guest's reboot ends the VM), the CMOS real-time clock (the guest's wall
 * clock), and the POST diagnostic port. */
#ifndef NOOK_DEVICES_LEGACY_H
#define NOOK_DEVICES_LEGACY_H

#include <pthread.h>
#include <stdint.h>

#include "kvm/kvm.h"
#include "util/state.h"

struct legacy_devices {
	struct machine *machine;
	pthread_mutex_t lock;
	uint8_t cmos_index;
};

int legacy_devices_register(struct legacy_devices *d, struct machine *m);
void legacy_devices_destroy(struct legacy_devices *d);

/* Snapshot: the CMOS index register, section "legacy" (version 1); the
 * clock itself is the host's. */
int legacy_devices_save(struct legacy_devices *d, struct bytes *out);
int legacy_devices_restore(struct legacy_devices *d, const void *state, size_t len);

#endif
