#include "vm/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vm/guest_config.h"

/* Where device i lives and what nook-init does with it (host byte order). */
struct net_plan {
	enum nook_net_mode mode;
	uint32_t network, netmask, prefix;
	uint32_t guest, gateway, dns;
};

static const struct vm_net hijack_net = {.kind = VM_NET_USER};

static size_t device_count(const nook_vm_config *cfg)
{
	return cfg->nnet ? cfg->nnet : cfg->inet_hijack ? 1 : 0;
}

static const struct vm_net *device_config(const nook_vm_config *cfg, size_t i)
{
	return cfg->nnet ? &cfg->net[i] : &hijack_net;
}

static uint32_t prefix_mask(unsigned prefix)
{
	return prefix ? ~0u << (32 - prefix) : 0;
}

static void plan_device(const nook_vm_config *cfg, size_t i, struct net_plan *p)
{
	const struct vm_net *net = device_config(cfg, i);
	bool user = net->kind == VM_NET_USER;
	bool given_ip = i == 0 && cfg->has_net_ip;
	*p = (struct net_plan){.prefix = VM_NET_DEFAULT_PREFIX};
	if (net->has_segment) {
		/* Its own address on a segment: no route, no DNS. */
		p->mode = NOOK_NET_STATIC;
		p->network = ntohl(net->segment.network.s_addr);
		p->prefix = net->segment.prefix;
		p->netmask = prefix_mask(p->prefix);
		p->guest = ntohl(net->segment_ip.s_addr);
		return;
	}
	if (i == 0) {
		vm_net_first_subnet(cfg, &p->network, &p->prefix);
	} else {
		/* Later user-mode devices each get a /24 of their own. */
		p->network = VM_NET_DEFAULT_NETWORK + (uint32_t)(user ? i << 8 : 0);
	}
	p->netmask = prefix_mask(p->prefix);
	if (user) {
		p->mode = NOOK_NET_STATIC;
		p->gateway = p->network + VM_NET_GATEWAY_HOST;
		p->dns = p->network + VM_NET_DNS_HOST;
		p->guest = given_ip ? ntohl(cfg->net_ip.s_addr) : p->network + VM_NET_GUEST_HOST;
	} else if (given_ip) {
		/* An address on a network nook does not run: its first host is
		 * the conventional gateway. */
		p->mode = NOOK_NET_STATIC;
		p->guest = ntohl(cfg->net_ip.s_addr);
		p->gateway = p->network + 1;
	} else {
		bool dhcp = net->kind == VM_NET_UNIXSTREAM_FD || net->kind == VM_NET_UNIXSTREAM_PATH ||
			    net->kind == VM_NET_UNIXGRAM_FD || net->kind == VM_NET_UNIXGRAM_PATH;
		p->mode = dhcp ? NOOK_NET_DHCP : NOOK_NET_UP;
	}
	/* Only the first device routes by default. */
	if (i > 0)
		p->gateway = p->dns = 0;
}

/* The host's loopback services are the guest's only when granted. */
static bool allow_host_loopback(const nook_vm_config *cfg)
{
	return cfg->net_allow_host_loopback ||
	       (cfg->net_scope_set ? cfg->net_scope : NOOK_NETWORK_SCOPE_ANY) == NOOK_NETWORK_SCOPE_ANY;
}

static void put_be32(uint8_t out[4], uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

static void encode_record(const uint8_t mac[6], const struct net_plan *p,
			  struct nook_record_net *rec)
{
	bool fixed = p->mode == NOOK_NET_STATIC;
	*rec = (struct nook_record_net){.mode = (uint8_t)p->mode, .prefix = (uint8_t)p->prefix};
	memcpy(rec->mac, mac, 6);
	put_be32(rec->addr, fixed ? p->guest : 0);
	put_be32(rec->gateway, fixed ? p->gateway : 0);
	put_be32(rec->dns, fixed ? p->dns : 0);
}

static int open_backend(const nook_vm_config *cfg, const struct vm_net *net,
			const struct net_plan *p, bool first, struct net_backend **b, nook_error **err)
{
	switch (net->kind) {
	case VM_NET_USER: {
		struct net_slirp_config sc = {
			.network = p->network, .netmask = p->netmask, .gateway = p->network + VM_NET_GATEWAY_HOST,
			.dns = p->network + VM_NET_DNS_HOST, .guest = p->guest,
			/* Published ports reach the sandbox's address, on the first
			 * user-mode device. */
			.ports = first ? cfg->net_ports : NULL, .nports = first ? cfg->nnet_ports : 0,
			.allow_host_loopback = allow_host_loopback(cfg),
			.confine = cfg->confine,
		};
		return net_slirp_open(&sc, b, err);
	}
	case VM_NET_TAP:
		return net_tap_open(net->path, b, err);
	case VM_NET_VDE:
		return net_vde_open(net->path, b, err);
	case VM_NET_UNIXSTREAM_FD:
	case VM_NET_UNIXSTREAM_PATH:
		return net_unixstream_open(net->kind == VM_NET_UNIXSTREAM_FD ? net->fd : -1, net->path,
					   b, err);
	case VM_NET_UNIXGRAM_FD:
	case VM_NET_UNIXGRAM_PATH:
		return net_unixgram_open(net->kind == VM_NET_UNIXGRAM_FD ? net->fd : -1, net->path,
					 net->vfkit_magic, b, err);
	case VM_NET_CUSTOM:
		return net_custom_open(&net->backend, net->opaque, b, err);
	}
	return error_set(err, EINVAL, "net: unknown backend %d", (int)net->kind);
}

int vm_net_create(struct vm_net_devices *d, const nook_vm_config *cfg, struct machine *m,
		  struct event_loop *loop, vm_net_slot_fn slot, void *ctx, nook_error **err)
{
	d->n = device_count(cfg);
	if (!d->n)
		return 0;
	d->devs = calloc(d->n, sizeof(*d->devs));
	d->records = calloc(d->n, sizeof(*d->records));
	d->ports = calloc(cfg->nnet_ports + 1, sizeof(*d->ports));
	if (!d->devs || !d->records || !d->ports)
		return error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < cfg->nnet_ports; i++)
		d->ports[i] = (struct net_filter_port){cfg->net_ports[i].guest_port,
						       cfg->net_ports[i].protocol};
	bool first_user = true;
	for (size_t i = 0; i < d->n; i++) {
		const struct vm_net *net = device_config(cfg, i);
		struct net_plan p;
		plan_device(cfg, i, &p);
		uint8_t mac[6];
		if (net->has_mac) {
			memcpy(mac, net->mac, 6);
		} else {
			/* Random, unicast, locally administered. */
			if (getrandom(mac, sizeof(mac), 0) != sizeof(mac))
				return error_set(err, EIO, "net: no random MAC address");
			mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);
		}
		encode_record(mac, &p, &d->records[i]);
		struct net_backend *b;
		bool user = net->kind == VM_NET_USER, published = user && first_user;
		int r = open_backend(cfg, net, &p, published, &b, err);
		if (r < 0)
			return r;
		first_user &= !user;
		struct net_filter f = {
			/* A segment's frames stay in it. */
			.scope = net->has_segment ? NOOK_NETWORK_SCOPE_GROUP
				 : cfg->net_scope_set ? cfg->net_scope : NOOK_NETWORK_SCOPE_ANY,
			.network = p.network, .netmask = p.netmask,
			.gateway = user ? p.network + VM_NET_GATEWAY_HOST : p.gateway,
			.dns = user ? p.network + VM_NET_DNS_HOST : p.dns,
			.guest = p.mode == NOOK_NET_STATIC ? p.guest : 0,
			/* Only the device whose backend publishes them has ports. */
			.ports = published ? d->ports : NULL, .nports = published ? cfg->nnet_ports : 0,
			.gateway_is_host_loopback = user,
			.allow_host_loopback = allow_host_loopback(cfg),
		};
		memcpy(f.mac, mac, 6);
		uint64_t base;
		uint32_t irq;
		r = slot(ctx, &d->devs[i].mmio, &base, &irq, err);
		if (r < 0) {
			net_backend_destroy(b);
			return r;
		}
		d->ninit = i + 1;
		r = virtio_net_init(&d->devs[i], m, loop, mac, b, &f, base, irq, err);
		if (r < 0)
			return r;
	}
	return 0;
}

void vm_net_destroy(struct vm_net_devices *d)
{
	for (size_t i = 0; i < d->ninit; i++)
		virtio_net_destroy(&d->devs[i]);
	free(d->devs);
	free(d->records);
	free(d->ports);
	*d = (struct vm_net_devices){0};
}

int vm_net_encode_guest_config(const struct vm_net_devices *d, struct bytes *config)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < d->n; i++)
		r = guest_config_add_net(config, &d->records[i]);
	return r;
}
