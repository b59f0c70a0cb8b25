/* The VM's network: one virtio-net device per configured backend (or the
 * inet-hijack default), their scope filter and addresses, and what
 * nook-init is told to configure. */
#ifndef NOOK_VM_NET_H
#define NOOK_VM_NET_H

#include "backends/net/filter.h"
#include "guest/protocol.h"
#include "devices/virtio/net.h"
#include "vm/config.h"
#include "util/bytes.h"

struct vm_net_devices {
	struct virtio_net *devs;
	size_t n, ninit; /* planned, initialised */
	struct net_filter_port *ports;
	struct nook_record_net *records; /* one per device, for nook-init */
};

/* Hands out a device's MMIO window and IRQ (vm.c's next_virtio_slot). */
typedef int (*vm_net_slot_fn)(void *ctx, const struct virtio_mmio_device *dev, uint64_t *base,
			      uint32_t *irq, nook_error **err);

/* Opens every backend (a TAP name that does not exist, a socket nobody
 * listens on or a published port in use fail here, before the guest
 * starts) and creates the devices. */
int vm_net_create(struct vm_net_devices *d, const nook_vm_config *cfg, struct machine *m,
		  struct event_loop *loop, vm_net_slot_fn slot, void *ctx, nook_error **err);
void vm_net_destroy(struct vm_net_devices *d);
/* Adds the NOOK_TAG_NET records for nook-init. */
int vm_net_encode_guest_config(const struct vm_net_devices *d, struct bytes *config);

#endif
