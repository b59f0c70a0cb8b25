/* User-mode networking through libslirp. libslirp is not thread-safe, so
 * it lives on a thread of its own, which owns every call into it; frames
 * cross between the device and that thread through two rings in memory
 * (ring.h): a copy per frame, a wakeup only when a ring was empty. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <slirp/libslirp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "backends/net/backend.h"
#include "backends/net/ring.h"
#include "util/thread.h"

struct slirp_timer {
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms; /* -1: not armed */
	struct slirp_timer *next;
};

/* Each way: room for a few milliseconds of libslirp's work in small
 * frames, and for two of the largest. */
#define RING_SIZE (256 * 1024)
/* Frames the slirp thread takes from the device per round, so that a
 * guest sending without pause does not starve libslirp's sockets and
 * timers. */
#define INPUT_PER_ROUND 128

struct slirp_backend {
	struct net_backend base;
	struct net_ring to_slirp, to_device;
	Slirp *slirp;
	int stop_fd;
	pthread_t thread;
	bool thread_started;
	struct slirp_timer *timers;
	struct pollfd *pfds;
	size_t npfds, cap_pfds;
	/* Host byte order; replies from published UDP ports to the gateway
	 * are readdressed when the host loopback is closed. */
	uint32_t guest, gateway;
	bool host_loopback_closed;
	uint16_t *udp_ports;
	size_t nudp_ports;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ssize_t slirp_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_backend *s = opaque;
	/* A full ring drops the frame, as a full NIC would. */
	net_ring_push(&s->to_device, &(struct iovec){(void *)buf, len}, 1);
	return (ssize_t)len;
}

static void slirp_guest_error(const char *msg, void *opaque)
{
	/* The guest's problem only (a malformed packet); nothing to report. */
}

static int64_t slirp_clock_ns(void *opaque)
{
	return now_ms() * 1000000;
}

static void *slirp_timer_new(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct slirp_backend *s = opaque;
	struct slirp_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	*t = (struct slirp_timer){.id = id, .cb_opaque = cb_opaque, .expire_ms = -1,
				  .next = s->timers};
	s->timers = t;
	return t;
}

static void slirp_timer_free(void *timer, void *opaque)
{
	struct slirp_backend *s = opaque;
	for (struct slirp_timer **p = &s->timers; *p; p = &(*p)->next)
		if (*p == timer) {
			*p = ((struct slirp_timer *)timer)->next;
			free(timer);
			return;
		}
}

static void slirp_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

static void slirp_no_op_fd(int fd, void *opaque)
{
}

static void slirp_notify(void *opaque)
{
	/* Every call into libslirp happens on its own thread, which refills
	 * its poll set each round. */
}

static const SlirpCb slirp_callbacks = {
	.send_packet = slirp_send_packet,
	.guest_error = slirp_guest_error,
	.clock_get_ns = slirp_clock_ns,
	.timer_free = slirp_timer_free,
	.timer_mod = slirp_timer_mod,
	.register_poll_fd = slirp_no_op_fd,
	.unregister_poll_fd = slirp_no_op_fd,
	.notify = slirp_notify,
	.timer_new_opaque = slirp_timer_new,
};

static int slirp_add_poll(int fd, int events, void *opaque)
{
	struct slirp_backend *s = opaque;
	if (s->npfds == s->cap_pfds) {
		size_t cap = s->cap_pfds ? 2 * s->cap_pfds : 16;
		struct pollfd *p = realloc(s->pfds, cap * sizeof(*p));
		if (!p)
			return -1;
		s->pfds = p;
		s->cap_pfds = cap;
	}
	short ev = 0;
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	s->pfds[s->npfds] = (struct pollfd){.fd = fd, .events = ev};
	return (int)s->npfds++;
}

static int slirp_get_revents(int idx, void *opaque)
{
	struct slirp_backend *s = opaque;
	if (idx < 0 || (size_t)idx >= s->npfds)
		return 0;
	short r = s->pfds[idx].revents;
	return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
	       ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
	       ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

static void run_timers(struct slirp_backend *s)
{
	int64_t now = now_ms();
	/* A timer callback may re-arm or free timers: restart after each. */
	for (bool fired = true; fired;) {
		fired = false;
		for (struct slirp_timer *t = s->timers; t; t = t->next)
			if (t->expire_ms >= 0 && t->expire_ms <= now) {
				t->expire_ms = -1;
				slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
				fired = true;
				break;
			}
	}
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Updates the ones' complement checksum at `field` for a 32-bit word of
 * what it covers changing from `from` to `to` (RFC 1624). */
static void checksum_replace32(uint8_t *field, uint32_t from, uint32_t to)
{
	uint32_t sum = (uint16_t)~get16(field) + (uint16_t)~(from >> 16) + (uint16_t)~from +
		       (to >> 16) + (to & 0xffff);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(field, (uint16_t)~sum);
}

/* libslirp told to keep the guest off the host's loopback refuses every
 * datagram to the gateway, also the replies of a published UDP port to
 * its clients on the host's loopback (which appear as the gateway): it
 * cannot tell them apart (podman#4586). The scope filter can
 * (net_filter_note_inbound) and lets only those through, so here a
 * datagram from a published UDP port to the gateway goes to 127.0.0.1,
 * which libslirp leaves as it is. Unfragmented datagrams only: the
 * filter passes no later fragment to the gateway. */
static void readdress_published_reply(struct slirp_backend *s, uint8_t *f, size_t len)
{
	if (!s->host_loopback_closed || len < 14 + 20 + 8 || get16(f + 12) != 0x0800)
		return;
	uint8_t *ip = f + 14;
	size_t ihl = (size_t)(ip[0] & 0xf) * 4;
	if ((ip[0] >> 4) != 4 || ihl < 20 || len < 14 + ihl + 8 || ip[9] != 17 ||
	    (get16(ip + 6) & 0x3fff) != 0 || get32(ip + 12) != s->guest ||
	    get32(ip + 16) != s->gateway)
		return;
	uint8_t *udp = ip + ihl;
	bool published = false;
	for (size_t i = 0; i < s->nudp_ports; i++)
		published |= s->udp_ports[i] == get16(udp);
	if (!published)
		return;
	const uint32_t loopback = 0x7f000001;
	checksum_replace32(ip + 10, s->gateway, loopback);
	/* The pseudo-header holds the address too; 0 means "no checksum". */
	if (get16(udp + 6)) {
		checksum_replace32(udp + 6, s->gateway, loopback);
		if (!get16(udp + 6))
			put16(udp + 6, 0xffff);
	}
	put16(ip + 16, loopback >> 16);
	put16(ip + 18, loopback & 0xffff);
}

/* Hands libslirp what the device sent: whether frames are left. */
static bool input_frames(struct slirp_backend *s)
{
	uint8_t *frame;
	size_t len;
	for (int i = 0; i < INPUT_PER_ROUND; i++) {
		if (!(frame = net_ring_peek(&s->to_slirp, &len)))
			return false;
		readdress_published_reply(s, frame, len);
		slirp_input(s->slirp, frame, (int)len);
		net_ring_consume(&s->to_slirp);
	}
	return true;
}

static void *slirp_thread(void *opaque)
{
	struct slirp_backend *s = opaque;
	bool more_input = false;
	for (;;) {
		s->npfds = 0;
		slirp_add_poll(s->to_slirp.event_fd, SLIRP_POLL_IN, s);
		slirp_add_poll(s->stop_fd, SLIRP_POLL_IN, s);
		uint32_t timeout = more_input ? 0 : UINT32_MAX;
		slirp_pollfds_fill(s->slirp, &timeout, slirp_add_poll, s);
		int64_t now = now_ms();
		for (struct slirp_timer *t = s->timers; t; t = t->next) {
			int64_t due = t->expire_ms < now ? 0 : t->expire_ms - now;
			if (t->expire_ms >= 0 && due < (int64_t)timeout)
				timeout = (uint32_t)due;
		}
		int r = poll(s->pfds, s->npfds, timeout == UINT32_MAX ? -1 : (int)timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (s->pfds[1].revents)
			break;
		more_input = input_frames(s);
		run_timers(s);
		slirp_pollfds_poll(s->slirp, r < 0, slirp_get_revents, s);
	}
	return NULL;
}

static int slirp_backend_send(struct net_backend *b, const struct iovec *frames, unsigned n)
{
	struct slirp_backend *s = (struct slirp_backend *)b;
	unsigned taken = net_ring_push(&s->to_slirp, frames, n);
	return taken ? (int)taken : -EAGAIN;
}

static ssize_t slirp_backend_recv(struct net_backend *b, void *buf, size_t size)
{
	struct slirp_backend *s = (struct slirp_backend *)b;
	size_t len;
	const uint8_t *frame = net_ring_peek(&s->to_device, &len);
	if (!frame)
		return -EAGAIN;
	/* libslirp's frames are at most its MTU: a shorter buffer truncates. */
	if (len > size)
		len = size;
	memcpy(buf, frame, len);
	net_ring_consume(&s->to_device);
	return (ssize_t)len;
}

static void slirp_backend_destroy(struct net_backend *b)
{
	struct slirp_backend *s = (struct slirp_backend *)b;
	if (s->thread_started) {
		uint64_t one = 1;
		if (write(s->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(s->thread, NULL);
	}
	if (s->slirp)
		slirp_cleanup(s->slirp);
	while (s->timers)
		slirp_timer_free(s->timers, s);
	free(s->pfds);
	free(s->udp_ports);
	net_ring_destroy(&s->to_slirp);
	net_ring_destroy(&s->to_device);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	free(s);
}

static const struct net_backend_ops slirp_backend_ops = {
	.send = slirp_backend_send,
	.recv = slirp_backend_recv,
	.destroy = slirp_backend_destroy,
};

static struct in_addr in(uint32_t host_order)
{
	return (struct in_addr){.s_addr = htonl(host_order)};
}

int net_slirp_open(const struct net_slirp_config *cfg, struct net_backend **out, nook_error **err)
{
	*out = NULL;
	struct slirp_backend *s = calloc(1, sizeof(*s));
	if (!s)
		return error_set(err, ENOMEM, "out of memory");
	s->to_slirp.event_fd = s->to_device.event_fd = -1;
	int r = net_ring_init(&s->to_slirp, RING_SIZE);
	if (r == 0)
		r = net_ring_init(&s->to_device, RING_SIZE);
	if (r < 0)
		error_set(err, -r, "net user: %s", strerror(-r));
	s->base = (struct net_backend){.ops = &slirp_backend_ops, .name = "user",
				       .poll_fd = s->to_device.event_fd, .checksums_valid = true};
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (r == 0 && s->stop_fd < 0)
		r = error_set(err, errno, "net user: eventfd: %s", strerror(errno));
	s->guest = cfg->guest;
	s->gateway = cfg->gateway;
	s->host_loopback_closed = !cfg->allow_host_loopback;
	s->udp_ports = calloc(cfg->nports + 1, sizeof(*s->udp_ports));
	if (r == 0 && !s->udp_ports)
		r = error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; s->udp_ports && i < cfg->nports; i++)
		if (cfg->ports[i].protocol == NOOK_PORT_PROTOCOL_UDP)
			s->udp_ports[s->nudp_ports++] = cfg->ports[i].guest_port;
	SlirpConfig sc = {
		.version = 4,
		.in_enabled = true,
		.vnetwork = in(cfg->network),
		.vnetmask = in(cfg->netmask),
		.vhost = in(cfg->gateway),
		.vdhcp_start = in(cfg->guest),
		.vnameserver = in(cfg->dns),
		.vhostname = "nook",
		.disable_host_loopback = !cfg->allow_host_loopback,
	};
	if (r == 0 && !(s->slirp = slirp_new(&sc, &slirp_callbacks, s)))
		r = error_set(err, EINVAL, "net user: libslirp refused the network configuration");
	for (size_t i = 0; r == 0 && i < cfg->nports; i++) {
		const struct nook_port_pair *p = &cfg->ports[i];
		bool udp = p->protocol == NOOK_PORT_PROTOCOL_UDP;
		/* libslirp binds the host socket here, so a port in use fails now,
		 * before the guest starts. */
		if (slirp_add_hostfwd(s->slirp, udp, p->host_ip, p->host_port, in(cfg->guest),
				      p->guest_port) < 0) {
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &p->host_ip, ip, sizeof(ip));
			r = error_set(err, EADDRINUSE,
					   "published port %s:%u/%s: cannot listen on the host "
					   "(address in use or not local)",
					   ip, p->host_port, udp ? "udp" : "tcp");
		}
	}
	if (r == 0 && (r = thread_start(&s->thread, THREAD_ROLE_NET_SLIRP, "slirp", cfg->confine,
				     slirp_thread, s)) < 0)
		error_set(err, -r, "net user: cannot start its thread: %s", strerror(-r));
	s->thread_started = r == 0;
	if (r < 0) {
		slirp_backend_destroy(&s->base);
		return r;
	}
	*out = &s->base;
	return 0;
}
