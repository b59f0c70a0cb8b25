/* User-mode networking as vm/net.c assembles it: the scope filter in front
 * of the real libslirp, against real sockets on the host's loopback. Every
 * frame here is addressed to the gateway, which libslirp maps to
 * 127.0.0.1, or comes from a published port: nothing leaves the machine.
 *   - a loopback service is out of reach through the gateway unless the
 *     host loopback is granted (or the scope is any), for UDP and TCP;
 *   - a published port answers its clients both ways in every scope, and
 *     the guest cannot use it to reach any other loopback port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/net/backend.h"
#include "backends/net/filter.h"
#include "tests/net/frames.h"

/* How long a frame that should not arrive is waited for. */
#define SILENCE_MS 300
#define ARRIVAL_MS 3000

struct user_net {
	struct net_filter filter;
	struct net_filter_port fports[4];
	struct net_backend *backend;
	uint8_t *buf;
};

/* The guest sends f: through the filter, then the backend. Whether the
 * filter let it through. */
static bool guest_send(struct user_net *u, const uint8_t *f, size_t len)
{
	if (!net_filter_allows(&u->filter, f, len))
		return false;
	assert_int_equal(frame_send(u->backend, f, len), 1);
	return true;
}

/* Waits for an IPv4 TCP/UDP frame for the guest to `port` (of protocol
 * proto); false after ARRIVAL_MS. */
static bool guest_wait(struct user_net *u, uint8_t proto, uint16_t port, struct frame_ip *p)
{
	for (int waited = 0; waited < ARRIVAL_MS; waited += 50) {
		ssize_t n;
		while ((n = u->backend->ops->recv(u->backend, u->buf, NET_FRAME_MAX)) > 0) {
			/* What the device does with every frame for the guest. */
			net_filter_note_inbound(&u->filter, u->buf, (size_t)n);
			if (frame_parse(u->buf, (size_t)n, p) && p->proto == proto && p->dport == port)
				return true;
		}
		assert_int_equal(n, -EAGAIN);
		struct pollfd pfd = {.fd = u->backend->poll_fd, .events = POLLIN};
		poll(&pfd, 1, 50);
	}
	return false;
}

static bool is_arp_reply(const uint8_t *f, size_t len)
{
	return len >= 42 && frame_get16(f + 12) == 0x0806 && frame_get16(f + 20) == 2;
}

/* User-mode networking with the scope and grant of `nook run --scope S
 * [--allow-host-loopback] [-p ...]`. */
static struct user_net *user_net_open(enum nook_network_scope scope, bool grant,
				      const struct nook_port_pair *ports, size_t nports)
{
	struct user_net *u = calloc(1, sizeof(*u));
	u->buf = malloc(NET_FRAME_MAX);
	assert_true(nports <= 4);
	for (size_t i = 0; i < nports; i++)
		u->fports[i] = (struct net_filter_port){ports[i].guest_port, ports[i].protocol};
	/* As vm/net.c decides: scope any grants the host loopback too. */
	bool allow = grant || scope == NOOK_NETWORK_SCOPE_ANY;
	u->filter = (struct net_filter){
		.scope = scope, .network = FRAME_NETWORK, .netmask = FRAME_NETMASK,
		.gateway = FRAME_GATEWAY, .dns = FRAME_DNS, .guest = FRAME_GUEST,
		.ports = u->fports, .nports = nports, .gateway_is_host_loopback = true,
		.allow_host_loopback = allow,
	};
	memcpy(u->filter.mac, frame_guest_mac, 6);
	struct net_slirp_config cfg = {
		.network = FRAME_NETWORK, .netmask = FRAME_NETMASK, .gateway = FRAME_GATEWAY,
		.dns = FRAME_DNS, .guest = FRAME_GUEST, .ports = ports, .nports = nports,
		.allow_host_loopback = allow,
	};
	nook_error *err = NULL;
	if (net_slirp_open(&cfg, &u->backend, &err) < 0)
		fail_msg("%s", nook_error_message(err));
	/* The guest's first ARP request tells libslirp where the guest is. */
	size_t len = frame_arp(u->buf, frame_guest_mac, 1, frame_guest_mac, FRAME_GUEST,
			       FRAME_GATEWAY);
	assert_true(guest_send(u, u->buf, len));
	ssize_t n = 0;
	for (int tries = 0; tries < 60 && !is_arp_reply(u->buf, (size_t)n); tries++) {
		struct pollfd pfd = {.fd = u->backend->poll_fd, .events = POLLIN};
		poll(&pfd, 1, 50);
		n = u->backend->ops->recv(u->backend, u->buf, NET_FRAME_MAX);
	}
	assert_true(is_arp_reply(u->buf, (size_t)n));
	return u;
}

static void user_net_close(struct user_net *u)
{
	net_backend_destroy(u->backend);
	free(u->buf);
	free(u);
}

/* A non-blocking socket bound to 127.0.0.1 (listening, for TCP). */
static int loopback_socket(int type, uint16_t *port)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(FRAME_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A loopback port nobody uses right now. */
static uint16_t free_port(int type)
{
	uint16_t port;
	close(loopback_socket(type, &port));
	return port;
}

static bool readable_within(int fd, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	return poll(&pfd, 1, ms) == 1;
}

static size_t udp(uint8_t *f, uint16_t sport, uint32_t dst, uint16_t dport, const char *text)
{
	return frame_ipv4(f, &(struct frame_ip){.proto = 17, .src = FRAME_GUEST, .dst = dst,
						.sport = sport, .dport = dport,
						.data = (const uint8_t *)text, .len = strlen(text)});
}

static size_t tcp(uint8_t *f, uint16_t sport, uint16_t dport, uint8_t flags, uint32_t seq,
		  uint32_t ack, const char *text)
{
	return frame_ipv4(f, &(struct frame_ip){.proto = 6, .src = FRAME_GUEST, .dst = FRAME_GATEWAY,
						.sport = sport, .dport = dport, .tcp_flags = flags,
						.seq = seq, .ack = ack, .data = (const uint8_t *)text,
						.len = text ? strlen(text) : 0});
}

/* A UDP and a TCP service on 127.0.0.1: reached through the gateway
 * exactly when the host loopback is granted or the scope is any. */
static void test_host_loopback_grant(void **state)
{
	static const struct {
		enum nook_network_scope scope;
		bool grant, reach;
	} cases[] = {
		{NOOK_NETWORK_SCOPE_NONE, false, false},  {NOOK_NETWORK_SCOPE_GROUP, false, false},
		{NOOK_NETWORK_SCOPE_PUBLIC, false, false}, {NOOK_NETWORK_SCOPE_ANY, false, true},
		{NOOK_NETWORK_SCOPE_NONE, true, true},    {NOOK_NETWORK_SCOPE_GROUP, true, true},
		{NOOK_NETWORK_SCOPE_PUBLIC, true, true},  {NOOK_NETWORK_SCOPE_ANY, true, true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint16_t uport, tport;
		int us = loopback_socket(SOCK_DGRAM, &uport), ts = loopback_socket(SOCK_STREAM, &tport);
		struct user_net *u = user_net_open(cases[i].scope, cases[i].grant, NULL, 0);
		uint8_t f[256];
		guest_send(u, f, udp(f, 40000, FRAME_GATEWAY, uport, "to-loopback"));
		guest_send(u, f, tcp(f, 40001, tport, TCP_SYN, 1, 0, NULL));
		int wait = cases[i].reach ? ARRIVAL_MS : SILENCE_MS;
		bool udp_got = readable_within(us, wait), tcp_got = readable_within(ts, wait);
		if (udp_got != cases[i].reach || tcp_got != cases[i].reach)
			fail_msg("scope %s, grant %d: UDP %s, TCP %s the loopback service",
				 nook_network_scope_name(cases[i].scope), cases[i].grant,
				 udp_got ? "reached" : "did not reach",
				 tcp_got ? "reached" : "did not reach");
		user_net_close(u);
		close(us);
		close(ts);
	}
}

static const enum nook_network_scope checked_scopes[] = {
	NOOK_NETWORK_SCOPE_NONE, NOOK_NETWORK_SCOPE_GROUP, NOOK_NETWORK_SCOPE_PUBLIC};

/* A published UDP port answers its client, in every scope; datagrams from
 * it to any other loopback port go nowhere. */
static void test_published_udp(void **state)
{
	for (size_t s = 0; s < sizeof(checked_scopes) / sizeof(checked_scopes[0]); s++) {
		uint16_t other_port, client_port;
		int other = loopback_socket(SOCK_DGRAM, &other_port);
		int client = loopback_socket(SOCK_DGRAM, &client_port);
		struct nook_port_pair port = {.host_ip.s_addr = htonl(FRAME_LOOPBACK),
					      .host_port = free_port(SOCK_DGRAM), .guest_port = 5353,
					      .protocol = NOOK_PORT_PROTOCOL_UDP};
		struct user_net *u = user_net_open(checked_scopes[s], false, &port, 1);
		uint8_t f[256];
		guest_send(u, f, udp(f, 5353, FRAME_GATEWAY, other_port, "not-a-reply"));
		if (readable_within(other, SILENCE_MS))
			fail_msg("scope %s: a published UDP port reached another loopback port",
				 nook_network_scope_name(checked_scopes[s]));

		struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port.host_port),
					 .sin_addr.s_addr = htonl(FRAME_LOOPBACK)};
		assert_int_equal(sendto(client, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)), 4);
		struct frame_ip in;
		assert_true(guest_wait(u, 17, 5353, &in));
		/* The host's loopback client appears as the gateway. */
		assert_int_equal(in.src, FRAME_GATEWAY);
		assert_int_equal(in.sport, client_port);
		assert_memory_equal(in.data, "ping", 4);
		if (!guest_send(u, f, udp(f, 5353, FRAME_GATEWAY, in.sport, "pong")))
			fail_msg("scope %s: the reply was filtered", nook_network_scope_name(checked_scopes[s]));
		char got[16] = {0};
		assert_true(readable_within(client, ARRIVAL_MS));
		assert_int_equal(recv(client, got, sizeof(got), 0), 4);
		assert_string_equal(got, "pong");
		/* The client's flow opens nothing else. */
		guest_send(u, f, udp(f, 5353, FRAME_GATEWAY, other_port, "not-a-reply"));
		assert_false(readable_within(other, SILENCE_MS));
		user_net_close(u);
		close(other);
		close(client);
	}
}

/* A published TCP port: a host client's connection carries data both
 * ways, in every scope. */
static void test_published_tcp(void **state)
{
	for (size_t s = 0; s < sizeof(checked_scopes) / sizeof(checked_scopes[0]); s++) {
		struct nook_port_pair port = {.host_ip.s_addr = htonl(FRAME_LOOPBACK),
					      .host_port = free_port(SOCK_STREAM), .guest_port = 8080,
					      .protocol = NOOK_PORT_PROTOCOL_TCP};
		struct user_net *u = user_net_open(checked_scopes[s], false, &port, 1);
		int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port.host_port),
					 .sin_addr.s_addr = htonl(FRAME_LOOPBACK)};
		assert_int_equal(connect(client, (struct sockaddr *)&to, sizeof(to)), 0);
		assert_int_equal(send(client, "from-host", 9, 0), 9);

		/* The guest's side of the handshake. */
		struct frame_ip in;
		assert_true(guest_wait(u, 6, 8080, &in));
		assert_int_equal(in.tcp_flags & (TCP_SYN | TCP_ACK), TCP_SYN);
		uint16_t peer = in.sport;
		uint32_t my_seq = 1000, peer_next = in.seq + 1;
		uint8_t f[256];
		if (!guest_send(u, f, tcp(f, 8080, peer, TCP_SYN | TCP_ACK, my_seq, peer_next, NULL)))
			fail_msg("scope %s: SYN-ACK filtered", nook_network_scope_name(checked_scopes[s]));
		my_seq++;
		char data[32] = {0};
		size_t have = 0;
		while (have < 9 && guest_wait(u, 6, 8080, &in)) {
			if (in.len && in.seq == peer_next && have + in.len < sizeof(data)) {
				memcpy(data + have, in.data, in.len);
				have += in.len;
				peer_next += (uint32_t)in.len;
			}
		}
		assert_string_equal(data, "from-host");
		if (!guest_send(u, f, tcp(f, 8080, peer, TCP_PSH | TCP_ACK, my_seq, peer_next,
					  "from-guest")))
			fail_msg("scope %s: data filtered", nook_network_scope_name(checked_scopes[s]));
		char got[16] = {0};
		assert_true(readable_within(client, ARRIVAL_MS));
		assert_int_equal(recv(client, got, sizeof(got), 0), 10);
		assert_string_equal(got, "from-guest");
		close(client);
		user_net_close(u);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_loopback_grant),
		cmocka_unit_test(test_published_udp),
		cmocka_unit_test(test_published_tcp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
