/* nook_vm_get_metrics(): the counters of the vCPUs (kvm/vcpu.c), of every
 * virtio device's queues (devices/virtio/queue.c), of the file servers
 * (backends/fs) and of the network devices, gathered into one copy. */
#include <errno.h>
#include <linux/virtio_config.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "vm/vm.h"

_Static_assert((int)NOOK_EXIT_KINDS == (int)VCPU_EXIT_KINDS, "exit kinds differ");
_Static_assert(NOOK_FUSE_OPCODE_SLOTS == FS_SERVER_OPCODE_SLOTS, "FUSE opcode slots differ");

/* The device's name in the metrics: its kind and which one it is. */
static void device_name(const struct nook_vm *vm, const struct virtio_mmio_device *dev,
			struct nook_device_metrics *out)
{
	for (size_t i = 0; i < vm->nshares; i++)
		if (dev == &vm->shares[i].dev.mmio) {
			/* Tags and ids fill their arrays without a NUL at
			 * their longest. */
			snprintf(out->name, sizeof(out->name), "fs %.*s",
				 (int)sizeof(vm->shares[i].dev.tag), vm->shares[i].dev.tag);
			return;
		}
	for (size_t i = 0; i < vm->ndisks; i++)
		if (dev == &vm->disks[i].mmio) {
			snprintf(out->name, sizeof(out->name), "blk %.*s",
				 (int)sizeof(vm->disks[i].id), vm->disks[i].id);
			return;
		}
	for (size_t i = 0; i < vm->net.ninit; i++)
		if (dev == &vm->net.devs[i].mmio) {
			struct virtio_net *n = &vm->net.devs[i];
			snprintf(out->name, sizeof(out->name), "net %zu", i);
			pthread_mutex_lock(&n->mmio.lock);
			out->frames_from_guest = n->stats.tx_frames;
			out->frames_to_guest = n->stats.rx_frames;
			out->frames_filtered = n->stats.tx_filtered;
			out->frames_dropped = n->stats.tx_dropped + n->stats.rx_dropped;
			pthread_mutex_unlock(&n->mmio.lock);
			return;
		}
	snprintf(out->name, sizeof(out->name), "%s%s", dev->ops->name,
		 dev == &vm->ports.dev.mmio ? " ports" : "");
}

int nook_vm_get_metrics(nook_vm *vm, struct nook_vm_metrics **out, nook_error **err)
{
	*out = NULL;
	if (!vm->machine.metrics)
		return error_set(err, ENODEV, "metrics: the VM was built with metrics off");
	struct nook_vm_metrics *m = calloc(1, sizeof(*m));
	size_t nvcpus = (size_t)vm->machine.nvcpus;
	if (m) {
		m->vcpus = calloc(nvcpus ? nvcpus : 1, sizeof(*m->vcpus));
		m->devices = calloc(vm->nslots ? vm->nslots : 1, sizeof(*m->devices));
	}
	if (!m || !m->vcpus || !m->devices) {
		nook_vm_metrics_free(m);
		return error_set(err, ENOMEM, "metrics: out of memory");
	}
	m->nvcpus = nvcpus;
	for (size_t i = 0; i < nvcpus; i++) {
		struct vcpu *v = &vm->machine.vcpus[i];
		m->vcpus[i].cpu_ns = vcpu_cpu_ns(v);
		for (int k = 0; k < VCPU_EXIT_KINDS; k++)
			m->vcpus[i].exits[k] = atomic_load_explicit(&v->exits[k], memory_order_relaxed);
	}
	for (unsigned i = 0; i < vm->nslots; i++) {
		struct virtio_mmio_device *dev = vm->slots[i];
		if (!dev || !dev->ops)
			continue;
		struct nook_device_metrics *d = &m->devices[m->ndevices++];
		device_name(vm, dev, d);
		d->requests = atomic_load_explicit(&dev->counters.chains, memory_order_relaxed);
		d->bytes_from_guest =
			atomic_load_explicit(&dev->counters.bytes_from_guest, memory_order_relaxed);
		d->bytes_to_guest =
			atomic_load_explicit(&dev->counters.bytes_to_guest, memory_order_relaxed);
		d->notifications =
			atomic_load_explicit(&dev->counters.notifications, memory_order_relaxed);
		d->interrupts = atomic_load_explicit(&dev->counters.interrupts, memory_order_relaxed);
		pthread_mutex_lock(&dev->lock);
		d->needs_reset = dev->status & VIRTIO_CONFIG_S_NEEDS_RESET;
		pthread_mutex_unlock(&dev->lock);
	}
	for (int i = 0; i < NOOK_FUSE_OPCODE_SLOTS; i++)
		m->fuse_ops[i] = atomic_load_explicit(&vm->fuse_ops[i], memory_order_relaxed);
	*out = m;
	return 0;
}

const char *nook_fuse_opcode_name(unsigned opcode)
{
	return fs_server_opcode_name(opcode);
}

void nook_vm_metrics_free(struct nook_vm_metrics *metrics)
{
	if (!metrics)
		return;
	free(metrics->vcpus);
	free(metrics->devices);
	free(metrics);
}
