/* The network backends against real peers, frame by frame: libslirp
 * answers DHCP and ARP, a real passt process hands out an address over
 * the unixstream framing, the framing itself over a socket pair, unixgram
 * with the VFKT greeting, and an existing TAP interface (as root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/net/backend.h"
#include "tests/net/frames.h"

static const uint8_t guest_mac[6] = {0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x01};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void ip_checksum(uint8_t *ip)
{
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(ip + 10, (uint16_t)~sum);
}

/* A DHCPDISCOVER from guest_mac, broadcast. */
static size_t dhcp_discover(uint8_t *f)
{
	size_t udp_len = 8 + 240 + 4;
	memset(f, 0, 14 + 20 + udp_len);
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14, *udp = ip + 20, *bootp = udp + 8;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + udp_len));
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	ip_checksum(ip);
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)udp_len);
	bootp[0] = 1; /* BOOTREQUEST */
	bootp[1] = 1;
	bootp[2] = 6;
	bootp[4] = 0x12; /* xid */
	put16(bootp + 10, 0x8000); /* reply by broadcast */
	memcpy(bootp + 28, guest_mac, 6);
	bootp[236] = 0x63, bootp[237] = 0x82, bootp[238] = 0x53, bootp[239] = 0x63;
	bootp[240] = 53, bootp[241] = 1, bootp[242] = 1; /* DISCOVER */
	bootp[243] = 255;
	return 14 + 20 + udp_len;
}

/* Waits up to 5 s for a frame accepted by `match`; returns its length. */
static ssize_t wait_frame(struct net_backend *b, uint8_t *buf, bool (*match)(const uint8_t *, size_t))
{
	for (int tries = 0; tries < 50; tries++) {
		ssize_t n;
		while ((n = b->ops->recv(b, buf, NET_FRAME_MAX)) > 0)
			if (match(buf, (size_t)n))
				return n;
		if (n != -EAGAIN)
			return n;
		struct pollfd p = {.fd = b->poll_fd, .events = POLLIN};
		poll(&p, 1, 100);
	}
	return -ETIMEDOUT;
}

static bool is_dhcp_offer(const uint8_t *f, size_t len)
{
	return len >= 14 + 20 + 8 + 240 && f[12] == 0x08 && f[13] == 0 && f[14 + 9] == 17 &&
	       f[14 + 20] == 0 && f[14 + 21] == 67 && f[14 + 28] == 2;
}

static uint32_t offered_address(const uint8_t *f)
{
	return get32(f + 14 + 28 + 16); /* yiaddr */
}

static bool is_arp_reply(const uint8_t *f, size_t len)
{
	return len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2;
}

static void test_slirp_dhcp_and_arp(void **state)
{
	struct net_slirp_config cfg = {
		.network = 0x0a000200, .netmask = 0xffffff00, .gateway = 0x0a000202,
		.dns = 0x0a000203, .guest = 0x0a00020f,
	};
	struct net_backend *b;
	nook_error *err = NULL;
	assert_int_equal(net_slirp_open(&cfg, &b, &err), 0);
	assert_true(b->checksums_valid);
	uint8_t *buf = malloc(NET_FRAME_MAX);
	size_t len = dhcp_discover(buf);
	assert_int_equal(frame_send(b, buf, len), 1);
	assert_true(wait_frame(b, buf, is_dhcp_offer) > 0);
	assert_int_equal(offered_address(buf), 0x0a00020f);

	/* Who has 10.0.2.2? */
	memset(buf, 0, 42);
	memset(buf, 0xff, 6);
	memcpy(buf + 6, guest_mac, 6);
	put16(buf + 12, 0x0806);
	uint8_t *arp = buf + 14;
	put16(arp, 1);
	put16(arp + 2, 0x0800);
	arp[4] = 6, arp[5] = 4;
	put16(arp + 6, 1);
	memcpy(arp + 8, guest_mac, 6);
	memcpy(arp + 14, (const uint8_t[]){10, 0, 2, 15}, 4);
	memcpy(arp + 24, (const uint8_t[]){10, 0, 2, 2}, 4);
	assert_int_equal(frame_send(b, buf, 42), 1);
	assert_true(wait_frame(b, buf, is_arp_reply) > 0);
	assert_int_equal(get32(buf + 14 + 14), 0x0a000202);
	free(buf);
	net_backend_destroy(b);
}

static void test_slirp_port_in_use(void **state)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
	struct nook_port_pair port = {.host_ip = sa.sin_addr, .host_port = ntohs(sa.sin_port),
				      .guest_port = 80};
	struct net_slirp_config cfg = {
		.network = 0x0a000200, .netmask = 0xffffff00, .gateway = 0x0a000202,
		.dns = 0x0a000203, .guest = 0x0a00020f, .ports = &port, .nports = 1,
	};
	struct net_backend *b = NULL;
	nook_error *err = NULL;
	assert_int_equal(net_slirp_open(&cfg, &b, &err), -EADDRINUSE);
	assert_null(b);
	char want[64];
	snprintf(want, sizeof(want), "published port 127.0.0.1:%u/tcp", port.host_port);
	assert_non_null(strstr(nook_error_message(err), want));
	nook_error_free(err);
	close(s);
}

static void test_passt_dhcp(void **state)
{
	if (system("command -v passt >/dev/null 2>&1") != 0)
		skip();
	char dir[] = "/tmp/nook-passt-XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	/* Started as root, passt turns into nobody before creating its socket. */
	chmod(dir, 0777);
	snprintf(path, sizeof(path), "%s/sock", dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execlp("passt", "passt", "-f", "-1", "-s", path, (char *)NULL);
		_exit(127);
	}
	struct stat st;
	for (int i = 0; i < 100 && stat(path, &st) != 0; i++)
		usleep(50000);
	struct net_backend *b;
	nook_error *err = NULL;
	int r = net_unixstream_open(-1, path, &b, &err);
	if (r < 0)
		fail_msg("%s", nook_error_message(err));
	uint8_t *buf = malloc(NET_FRAME_MAX);
	size_t len = dhcp_discover(buf);
	assert_int_equal(frame_send(b, buf, len), 1);
	ssize_t n = wait_frame(b, buf, is_dhcp_offer);
	assert_true(n > 0);
	assert_int_not_equal(offered_address(buf), 0);
	free(buf);
	net_backend_destroy(b);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	unlink(path);
	rmdir(dir);
}

static void test_unixstream_framing(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct net_backend *b;
	assert_int_equal(net_unixstream_open(sv[0], NULL, &b, NULL), 0);
	uint8_t frame[60], buf[256];
	memset(frame, 0xab, sizeof(frame));
	assert_int_equal(frame_send(b, frame, sizeof(frame)), 1);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 64);
	assert_int_equal(get32(buf), 60);
	assert_memory_equal(buf + 4, frame, 60);
	/* A batch: every frame after its own length, in order. */
	uint8_t f2[20], f3[14];
	memset(f2, 2, sizeof(f2));
	memset(f3, 3, sizeof(f3));
	struct iovec batch[3] = {{frame, 60}, {f2, 20}, {f3, 14}};
	assert_int_equal(b->ops->send(b, batch, 3), 3);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 64 + 24 + 18);
	assert_int_equal(get32(buf + 64), 20);
	assert_int_equal(buf[64 + 4 + 19], 2);
	assert_int_equal(get32(buf + 88), 14);
	assert_int_equal(buf[88 + 4 + 13], 3);

	/* Two whole frames and the start of a third in one write. */
	uint8_t *big = calloc(1, NET_FRAME_MAX);
	uint8_t in[4 + 20 + 4 + 30 + 4 + 10] = {0, 0, 0, 20};
	in[4] = 1;
	in[24 + 3] = 30;
	in[28] = 2;
	in[58 + 3] = 40; /* announces 40, only 10 follow */
	assert_int_equal(write(sv[1], in, sizeof(in)), (ssize_t)sizeof(in));
	assert_int_equal(b->ops->recv(b, big, NET_FRAME_MAX), 20);
	assert_int_equal(big[0], 1);
	assert_int_equal(b->ops->recv(b, big, NET_FRAME_MAX), 30);
	assert_int_equal(big[0], 2);
	assert_int_equal(b->ops->recv(b, big, NET_FRAME_MAX), -EAGAIN);
	uint8_t rest[30] = {0};
	assert_int_equal(write(sv[1], rest, sizeof(rest)), 30);
	assert_int_equal(b->ops->recv(b, big, NET_FRAME_MAX), 40);
	/* A length beyond any frame breaks the framing. */
	uint8_t bad[4] = {0, 0x10, 0, 0};
	assert_int_equal(write(sv[1], bad, 4), 4);
	assert_int_equal(b->ops->recv(b, big, NET_FRAME_MAX), -EPROTO);
	net_backend_destroy(b);
	close(sv[0]);

	/* The peer going away ends the backend. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(net_unixstream_open(sv[0], NULL, &b, NULL), 0);
	close(sv[1]);
	assert_int_equal(b->ops->recv(b, big, NET_FRAME_MAX), -EPIPE);
	assert_true(frame_send(b, frame, sizeof(frame)) < 0);
	net_backend_destroy(b);
	close(sv[0]);
	free(big);

	nook_error *err = NULL;
	assert_int_equal(net_unixstream_open(-1, "/nonexistent/passt.sock", &b, &err), -ENOENT);
	assert_non_null(strstr(nook_error_message(err), "nothing listens there"));
	nook_error_free(err);
}

struct stream_reader {
	int fd;
	unsigned frames;
	bool intact;
};

/* Starts reading late, then parses the stream to its end. */
static void *read_stream(void *opaque)
{
	struct stream_reader *r = opaque;
	usleep(200000);
	static uint8_t buf[1 << 16];
	size_t have = 0;
	ssize_t n;
	r->intact = true;
	while ((n = read(r->fd, buf + have, sizeof(buf) - have)) > 0) {
		have += (size_t)n;
		size_t at = 0;
		while (have - at >= 4 && have - at >= 4 + get32(buf + at)) {
			uint32_t len = get32(buf + at);
			r->intact &= len == 1000 && buf[at + 4] == buf[at + 4 + len - 1];
			r->frames++;
			at += 4 + len;
		}
		memmove(buf, buf + at, have - at);
		have -= at;
	}
	r->intact &= have == 0;
	return NULL;
}

/* A full stream: whole frames are taken or dropped, never half of one. */
static void test_unixstream_full(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	int small = 4096;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	struct net_backend *b;
	assert_int_equal(net_unixstream_open(sv[0], NULL, &b, NULL), 0);
	struct stream_reader r = {.fd = sv[1]};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, read_stream, &r), 0);
	static uint8_t frames[NET_SEND_BATCH][1000];
	struct iovec batch[NET_SEND_BATCH];
	unsigned taken = 0, short_batches = 0;
	for (int round = 0; round < 200; round++) {
		for (unsigned i = 0; i < NET_SEND_BATCH; i++) {
			memset(frames[i], (int)(round + i), sizeof(frames[i]));
			batch[i] = (struct iovec){frames[i], sizeof(frames[i])};
		}
		int sent = b->ops->send(b, batch, NET_SEND_BATCH);
		assert_true(sent == -EAGAIN || (sent > 0 && sent <= NET_SEND_BATCH));
		taken += sent > 0 ? (unsigned)sent : 0;
		short_batches += sent != NET_SEND_BATCH;
	}
	shutdown(sv[0], SHUT_WR);
	pthread_join(t, NULL);
	assert_true(short_batches > 0);
	assert_true(r.intact);
	assert_int_equal(r.frames, taken);
	net_backend_destroy(b);
	close(sv[0]);
	close(sv[1]);
}

static void test_unixgram_vfkit(void **state)
{
	char dir[] = "/tmp/nook-gram-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/gv.sock", dir);
	int srv = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(srv, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct net_backend *b;
	assert_int_equal(net_unixgram_open(-1, sa.sun_path, true, &b, NULL), 0);
	uint8_t buf[256], frame[60];
	struct sockaddr_un from;
	socklen_t fl = sizeof(from);
	assert_int_equal(recvfrom(srv, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl), 4);
	assert_memory_equal(buf, "VFKT", 4);
	memset(frame, 0x5a, sizeof(frame));
	assert_int_equal(frame_send(b, frame, sizeof(frame)), 1);
	assert_int_equal(recv(srv, buf, sizeof(buf), 0), 60);
	/* A batch: one datagram per frame. */
	struct iovec batch[3] = {{frame, 60}, {frame, 30}, {frame, 14}};
	assert_int_equal(b->ops->send(b, batch, 3), 3);
	assert_int_equal(recv(srv, buf, sizeof(buf), 0), 60);
	assert_int_equal(recv(srv, buf, sizeof(buf), 0), 30);
	assert_int_equal(recv(srv, buf, sizeof(buf), 0), 14);
	/* The peer answers to the address the backend sent from. */
	assert_int_equal(sendto(srv, frame, 42, 0, (struct sockaddr *)&from, fl), 42);
	struct pollfd p = {.fd = b->poll_fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(b->ops->recv(b, buf, sizeof(buf)), 42);
	assert_int_equal(b->ops->recv(b, buf, sizeof(buf)), -EAGAIN);
	net_backend_destroy(b);
	close(srv);
	nook_error *err = NULL;
	assert_true(net_unixgram_open(-1, sa.sun_path, false, &b, &err) < 0);
	assert_non_null(strstr(nook_error_message(err), "nothing listens there"));
	nook_error_free(err);
	unlink(sa.sun_path);
	rmdir(dir);
}

/* Both unix socket backends connect through one helper: the same errors,
 * each naming the backend and the path. */
static void test_unix_connect_errors(void **state)
{
	char longpath[200];
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;
	struct net_backend *b;
	nook_error *err = NULL;
	assert_int_equal(net_unixstream_open(-1, longpath, &b, &err), -ENAMETOOLONG);
	assert_non_null(strstr(nook_error_message(err), "net unixstream \"/xxx"));
	assert_non_null(strstr(nook_error_message(err), "path too long"));
	nook_error_free(err);
	err = NULL;
	assert_int_equal(net_unixgram_open(-1, longpath, false, &b, &err), -ENAMETOOLONG);
	assert_non_null(strstr(nook_error_message(err), "net unixgram \"/xxx"));
	nook_error_free(err);

	/* A datagram backend pointed at a stream listener: the step that failed. */
	char dir[] = "/tmp/nook-unix-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stream.sock", dir);
	int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(srv, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(srv, 1), 0);
	err = NULL;
	assert_int_equal(net_unixgram_open(-1, sa.sun_path, false, &b, &err), -EPROTOTYPE);
	char want[sizeof(sa.sun_path) + 32];
	snprintf(want, sizeof(want), "net unixgram \"%s\": connect: ", sa.sun_path);
	assert_non_null(strstr(nook_error_message(err), want));
	nook_error_free(err);
	assert_int_equal(net_unixstream_open(-1, sa.sun_path, &b, NULL), 0);
	net_backend_destroy(b);
	close(srv);
	unlink(sa.sun_path);
	rmdir(dir);
}

static void test_tap(void **state)
{
	struct net_backend *b;
	nook_error *err = NULL;
	assert_int_equal(net_tap_open("nooknosuch0", &b, &err), -ENODEV);
	assert_non_null(strstr(nook_error_message(err), "no such network interface"));
	nook_error_free(err);
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0 ||
	    system("ip tuntap add dev nooktest0 mode tap 2>/dev/null") != 0)
		skip();
	/* A TAP interface that is down refuses frames (EIO). */
	int r = system("ip link set nooktest0 up") == 0 ? net_tap_open("nooktest0", &b, &err) : -1;
	if (r == 0) {
		uint8_t frame[60] = {0};
		memset(frame, 0xff, 6);
		memcpy(frame + 6, guest_mac, 6);
		frame[12] = 0x08, frame[13] = 0x06;
		assert_int_equal(frame_send(b, frame, sizeof(frame)), 1);
		/* The host may already be sending (IPv6 router solicitations). */
		ssize_t n = b->ops->recv(b, frame, sizeof(frame));
		assert_true(n == -EAGAIN || n > 0);
		net_backend_destroy(b);
	}
	assert_int_equal(system("ip link del nooktest0"), 0);
	if (r < 0)
		fail_msg("%s", err ? nook_error_message(err) : "ip link set up failed");
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slirp_dhcp_and_arp),
		cmocka_unit_test(test_slirp_port_in_use),
		cmocka_unit_test(test_passt_dhcp),
		cmocka_unit_test(test_unixstream_framing),
		cmocka_unit_test(test_unixstream_full),
		cmocka_unit_test(test_unixgram_vfkit),
		cmocka_unit_test(test_unix_connect_errors),
		cmocka_unit_test(test_tap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
