/* Frame generator for bench/net: UDP frames from a would-be guest
 * (10.0.2.15) to the user-mode network's gateway (10.0.2.2, the host's
 * loopback), counted as datagrams arriving on a host UDP socket. Frames go
 * out NET_SEND_BATCH at a time, as the virtio-net device hands over what
 * the guest queued.
 *   net_frames nook COUNT SIZE       nook's libslirp backend, in process, each
 *                                    frame through the scope filter first
 *   net_frames stream PATH COUNT SIZE  the same frames over a unix stream
 *                                    socket (4-byte big-endian lengths), e.g.
 *                                    to QEMU's -netdev user through a hub
 * SIZE is the UDP payload, at most 1472 bytes (one Ethernet MTU).
 * Prints: delivered=N seconds=S cpu=C (this process's CPU seconds). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backends/net/backend.h"
#include "backends/net/filter.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static size_t udp_frame(uint8_t *f, size_t payload, uint16_t dport)
{
	size_t ip_len = 20 + 8 + payload;
	memset(f, 0, 14 + ip_len);
	memcpy(f, (const uint8_t[]){0x52, 0x55, 0x0a, 0x00, 0x02, 0x02}, 6);
	memcpy(f + 6, (const uint8_t[]){0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x01}, 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(ip_len >> 8), ip[3] = (uint8_t)ip_len;
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, (const uint8_t[]){10, 0, 2, 15, 10, 0, 2, 2}, 8);
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8), ip[11] = (uint8_t)~sum;
	uint8_t *udp = ip + 20;
	udp[0] = 0x9c, udp[1] = 0x40;
	udp[2] = (uint8_t)(dport >> 8), udp[3] = (uint8_t)dport;
	udp[4] = (uint8_t)((8 + payload) >> 8), udp[5] = (uint8_t)(8 + payload);
	return 14 + ip_len;
}

/* Counts what has arrived at the sink; `last` is when something last did. */
static void drain(int sink, long *delivered, double *last)
{
	uint8_t buf[2048];
	long before = *delivered;
	while (recv(sink, buf, sizeof(buf), 0) > 0)
		(*delivered)++;
	if (*delivered != before)
		*last = now();
}

static int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool nook = argc == 4 && strcmp(argv[1], "nook") == 0;
	if (!nook && !(argc == 5 && strcmp(argv[1], "stream") == 0)) {
		fprintf(stderr, "usage: net_frames nook COUNT SIZE | stream PATH COUNT SIZE\n");
		return 2;
	}
	long count = atol(argv[nook ? 2 : 3]);
	size_t size = (size_t)atol(argv[nook ? 3 : 4]);
	if (size > 1472)
		return fprintf(stderr, "net_frames: SIZE is at most 1472\n"), 2;
	/* The sink: host loopback, a big buffer so it is not what drops. */
	int sink = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	int rcvbuf = 8 << 20;
	setsockopt(sink, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t sl = sizeof(sa);
	if (bind(sink, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(sink, (struct sockaddr *)&sa, &sl) < 0)
		return perror("sink"), 1;
	static uint8_t frame[2048], stream[NET_SEND_BATCH * (4 + sizeof(frame))];
	size_t len = udp_frame(frame, size, ntohs(sa.sin_port));
	struct net_backend *b = NULL;
	int fd = -1;
	/* As `nook run --net user --allow-host-loopback` sets them up: the
	 * sink is on the host's loopback, behind the gateway. */
	struct net_filter filter = {.scope = NOOK_NETWORK_SCOPE_GROUP, .network = 0x0a000200,
				    .netmask = 0xffffff00, .gateway = 0x0a000202, .dns = 0x0a000203,
				    .guest = 0x0a00020f, .mac = {0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x01},
				    .gateway_is_host_loopback = true, .allow_host_loopback = true};
	if (nook) {
		struct net_slirp_config cfg = {.network = 0x0a000200, .netmask = 0xffffff00,
					       .gateway = 0x0a000202, .dns = 0x0a000203,
					       .guest = 0x0a00020f, .allow_host_loopback = true};
		nook_error *err = NULL;
		if (net_slirp_open(&cfg, &b, &err) < 0)
			return fprintf(stderr, "%s\n", nook_error_message(err)), 1;
	} else {
		struct sockaddr_un un = {.sun_family = AF_UNIX};
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", argv[2]);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0)
			return perror("connect"), 1;
		/* A batch of frames, each after its length, written at once. */
		for (unsigned k = 0; k < NET_SEND_BATCH; k++) {
			uint8_t *p = stream + k * (4 + len);
			p[0] = (uint8_t)(len >> 24), p[1] = (uint8_t)(len >> 16);
			p[2] = (uint8_t)(len >> 8), p[3] = (uint8_t)len;
			memcpy(p + 4, frame, len);
		}
	}
	long delivered = 0;
	double t0 = now(), c0 = cpu_seconds(), last = t0;
	for (long i = 0; i < count;) {
		unsigned n = count - i < NET_SEND_BATCH ? (unsigned)(count - i) : NET_SEND_BATCH;
		if (nook) {
			/* As the device does with what the guest queued: each frame
			 * through the filter, then all of them to the backend. */
			struct iovec batch[NET_SEND_BATCH];
			for (unsigned k = 0; k < n; k++) {
				if (!net_filter_allows(&filter, frame, len))
					return fprintf(stderr, "filtered\n"), 1;
				batch[k] = (struct iovec){frame, len};
			}
			int sent = b->ops->send(b, batch, n);
			if (sent == -EAGAIN) {
				/* The ring to the slirp thread is full (the device would
				 * drop the frames): give the thread time to work, a
				 * fraction of what the ring holds, without waking often. */
				usleep(500);
				continue;
			}
			if (sent < 0)
				return fprintf(stderr, "send: %s\n", strerror(-sent)), 1;
			n = (unsigned)sent;
		} else if (write_all(fd, stream, n * (4 + len)) < 0) {
			return perror("write"), 1;
		}
		i += n;
		drain(sink, &delivered, &last);
	}
	/* Collect the stragglers until nothing arrives for 200 ms. */
	for (;;) {
		drain(sink, &delivered, &last);
		if (delivered >= count || now() - last > 0.2)
			break;
		struct pollfd p = {.fd = sink, .events = POLLIN};
		poll(&p, 1, 20);
	}
	double secs = last - t0;
	printf("delivered=%ld seconds=%.4f cpu=%.4f\n", delivered, secs, cpu_seconds() - c0);
	net_backend_destroy(b);
	return 0;
}
