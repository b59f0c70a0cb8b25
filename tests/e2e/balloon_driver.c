/* The balloon end to end, through the public API, in one boot (TAP lines
 * without numbers, which test_e2e_balloon.sh numbers):
 *   balloon_driver SHARE_DIR ALLOC_MIB INFLATE_MIB [off]
 * The guest reads SHARE_DIR/alloc (ALLOC_MIB of it) into its page cache,
 * which the host fills: the VMM's resident memory grows. The guest then
 * drops its caches; with the balloon its kernel reports the freed memory
 * and the VMM's resident memory must fall back by a large part of what it
 * grew (before/peak/after are printed). Then the host inflates the balloon
 * by INFLATE_MIB (nook_vm_set_balloon_mib): the guest's MemFree must drop
 * by about that much, and the statistics must be plausible. "off" runs the
 * same guest without a balloon, for the comparison. Every wait has a
 * deadline; nothing here is a timed assertion. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nook/vm.h>

#include "driver_tap.h"

static const char guest_script[] =
	"echo @ready; read x\n"
	"cat /data/alloc >/dev/null\n"
	"echo @alloc; read x\n"
	"echo 3 >/proc/sys/vm/drop_caches\n"
	"cat /proc/buddyinfo\n"
	"echo @freed; read x\n"
	"cat /proc/meminfo\n"
	"echo @mem0; read x\n"
	"cat /proc/meminfo\n"
	"echo @mem1; read x\n"
	"echo @end\n";

static int out_fd, in_fd; /* the guest's stdout (read end), stdin (write end) */
static nook_vm *vm;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* This process's resident memory in KiB: the VMM, guest RAM included. */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* The guest's output since the last marker, and the next marker. */
static char text[65536];
static size_t text_len;

static bool next_marker(const char *want, double timeout_s)
{
	double deadline = now_s() + timeout_s;
	text_len = 0;
	static char pending[65536];
	static size_t npending;
	for (;;) {
		char *nl;
		while ((nl = memchr(pending, '\n', npending))) {
			size_t len = (size_t)(nl - pending) + 1;
			bool marker = pending[0] == '@';
			bool hit = marker && len - 2 == strlen(want) && !memcmp(pending + 1, want, len - 2);
			if (!marker && text_len + len < sizeof(text)) {
				memcpy(text + text_len, pending, len);
				text_len += len;
				text[text_len] = 0;
			}
			memmove(pending, pending + len, npending - len);
			npending -= len;
			if (hit)
				return true;
		}
		double left = deadline - now_s();
		struct pollfd p = {.fd = out_fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			break;
		ssize_t n = read(out_fd, pending + npending, sizeof(pending) - 1 - npending);
		if (n <= 0)
			break;
		npending += (size_t)n;
	}
	printf("# no @%s from the guest within %.0f s; its output:\n", want, timeout_s);
	fwrite(text, 1, text_len, stdout);
	return false;
}

static void go_on(void)
{
	if (write(in_fd, "\n", 1) != 1)
		printf("# cannot write to the guest's stdin\n");
}

static long meminfo_kib(const char *key)
{
	const char *p = strstr(text, key);
	long v = -1;
	if (p)
		sscanf(p + strlen(key), ": %ld kB", &v);
	return v;
}

static void print_stats(const struct nook_balloon_stats *s)
{
	printf("# stats: target %" PRIu64 " MiB, actual %" PRIu64 " MiB, total %" PRIu64
	       " B, free %" PRIu64 " B, available %" PRIu64 " B, caches %" PRIu64
	       " B, swap in/out %" PRIu64 "/%" PRIu64 ", faults major/minor %" PRIu64 "/%" PRIu64
	       ", age %" PRId64 " ms, released %" PRIu64 " B, refused %" PRIu64 "\n",
	       s->target_mib, s->actual_mib, s->total_memory, s->free_memory,
	       s->available_memory, s->disk_caches, s->swap_in, s->swap_out, s->major_faults,
	       s->minor_faults, s->age_ms, s->released_bytes, s->refused);
}

/* The balloon device's traffic: when the guest stops answering, these say
 * which side stopped hearing the other. False when it needs a reset (the
 * guest broke its protocol) or there are no metrics. */
static bool print_device(void)
{
	struct nook_vm_metrics *m;
	nook_error *err = NULL;
	if (nook_vm_get_metrics(vm, &m, &err) < 0) {
		printf("# metrics: %s\n", nook_error_message(err));
		nook_error_free(err);
		return false;
	}
	bool healthy = false;
	for (size_t i = 0; i < m->ndevices; i++) {
		const struct nook_device_metrics *d = &m->devices[i];
		if (strcmp(d->name, "balloon"))
			continue;
		printf("# balloon device: %" PRIu64 " requests, %" PRIu64 " notifications, %" PRIu64
		       " interrupts%s\n",
		       d->requests, d->notifications, d->interrupts,
		       d->needs_reset ? ", needs a reset" : "");
		healthy = !d->needs_reset;
	}
	nook_vm_metrics_free(m);
	return healthy;
}

static uint64_t released(void)
{
	struct nook_balloon_stats s;
	return nook_vm_get_balloon_stats(vm, &s) == 0 ? s.released_bytes : 0;
}

/* Waits until the guest has reported what was free when the balloon came
 * (all of its free memory, a few seconds after the balloon appears), so
 * that it does not overlap what is measured next. */
static void settle(void)
{
	double t0 = now_s();
	uint64_t last = released();
	do {
		sleep(4);
	} while (released() != last && (last = released(), now_s() - t0 < 120));
	printf("# first reports: %" PRIu64 " MiB released in %.0f s\n", last >> 20, now_s() - t0);
}

static int run(const char *share, long alloc_mib, long inflate_mib, bool balloon)
{
	const uint64_t memory_mib = 512;
	int to_guest[2], from_guest[2];
	if (pipe(to_guest) < 0 || pipe(from_guest) < 0)
		return 125;
	out_fd = from_guest[0];
	in_fd = to_guest[1];
	nook_vm_config *cfg = nook_vm_config_new();
	nook_vm_config_set_memory_mib(cfg, memory_mib);
	nook_vm_config_set_balloon(cfg, balloon);
	nook_vm_config_set_stdio(cfg, to_guest[0], from_guest[1], 2);
	nook_vm_config_add_fs_volume(cfg, share, "/data", true);
	nook_vm_config_set_exec_path(cfg, "/bin/sh");
	nook_vm_config_add_arg(cfg, "-c");
	nook_vm_config_add_arg(cfg, guest_script);
	nook_vm_config_set_log(cfg, NOOK_LOG_INFO, NULL, NULL);
	if (getenv("BALLOON_CONSOLE")) /* the kernel log, for debugging */
		nook_vm_config_set_console_output(cfg, getenv("BALLOON_CONSOLE"));
	if (!(vm = driver_start(cfg)))
		return 125;
	nook_error *err = NULL;
	int r;
	struct nook_balloon_stats s;
	bool ok = next_marker("ready", 600);
	check(ok, "the guest reached its script");
	if (!balloon) {
		check(nook_vm_set_balloon_mib(vm, 1) == -ENODEV, "no balloon: set -> -ENODEV");
		check(nook_vm_get_balloon_stats(vm, &s) == -ENODEV, "no balloon: stats -> -ENODEV");
	}
	if (balloon)
		settle();
	long before = rss_kib(), peak = -1, after = -1;
	uint64_t released0 = released();
	go_on();
	ok = ok && next_marker("alloc", 60 + 30.0 * (double)alloc_mib);
	peak = rss_kib();
	check(ok && peak - before > alloc_mib * 1024 / 2,
	      "reading %ld MiB into the guest's page cache grew the VMM's RSS by %ld KiB", alloc_mib,
	      peak - before);
	go_on();
	ok = ok && next_marker("freed", 300);
	printf("# the guest's free blocks by order after dropping its caches:\n# %s", text);
	/* Free page reporting runs every 2 s in the guest: give it time,
	 * and stop early once most of the growth is back. */
	double t0 = now_s();
	while (ok && now_s() - t0 < (balloon ? 60 : 20)) {
		after = rss_kib();
		if (balloon && peak - after > (peak - before) * 3 / 4)
			break;
		usleep(500000);
	}
	printf("# balloon %s, %ld MiB: VMM RSS before %ld KiB, peak %ld KiB, after %ld KiB "
	       "(%.1f s after the guest freed it; %" PRIu64 " KiB released meanwhile)\n",
	       balloon ? "on" : "off", alloc_mib, before, peak, after, now_s() - t0,
	       (released() - released0) >> 10);
	if (balloon) {
		check(ok && peak - after >= (peak - before) / 2,
		      "free page reporting gave back %ld of %ld KiB", peak - after, peak - before);
		check(nook_vm_get_balloon_stats(vm, &s) == 0 && s.released_bytes > 0,
		      "the host released pages");
	}
	go_on();
	ok = ok && next_marker("mem0", 120);
	long free0 = meminfo_kib("MemFree"), total = meminfo_kib("MemTotal");
	if (balloon && ok) {
		check(nook_vm_set_balloon_mib(vm, memory_mib + 1) == -EINVAL,
		      "a target beyond guest memory -> -EINVAL");
		check(nook_vm_set_balloon_mib(vm, (uint64_t)inflate_mib) == 0, "inflate to %ld MiB",
		      inflate_mib);
		double t1 = now_s();
		while (now_s() - t1 < 60 + 10.0 * (double)inflate_mib &&
		       nook_vm_get_balloon_stats(vm, &s) == 0 && s.actual_mib < (uint64_t)inflate_mib)
			usleep(200000);
		check(s.actual_mib == (uint64_t)inflate_mib,
		      "the guest inflated the balloon to %" PRIu64 " MiB (%.1f s)", s.actual_mib,
		      now_s() - t1);
		check(print_device(), "the balloon device works (metrics, no reset needed)");
	}
	go_on();
	ok = ok && next_marker("mem1", 120);
	long free1 = meminfo_kib("MemFree");
	printf("# guest MemTotal %ld KiB, MemFree %ld KiB before the inflate, %ld KiB after\n",
	       total, free0, free1);
	if (balloon) {
		check(ok && free0 - free1 >= inflate_mib * 1024 * 3 / 4,
		      "the guest's MemFree dropped by %ld KiB with a %ld MiB balloon", free0 - free1,
		      inflate_mib);
		/* Fresh numbers: the next report after the inflate. */
		usleep(2500000);
		r = nook_vm_get_balloon_stats(vm, &s);
		print_stats(&s);
		check(r == 0 && s.total_memory != NOOK_BALLOON_STAT_NONE &&
			      s.total_memory > memory_mib * 1024 * 1024 * 8 / 10 &&
			      s.total_memory <= memory_mib * 1024 * 1024,
		      "stats: total memory plausible (%" PRIu64 " MiB of %" PRIu64 ")",
		      s.total_memory >> 20, memory_mib);
		check(s.free_memory <= s.total_memory && s.available_memory <= s.total_memory &&
			      s.disk_caches <= s.total_memory,
		      "stats: free, available and caches within the total");
		check(llabs((long long)(s.free_memory >> 10) - free1) < 64 * 1024,
		      "stats: free memory (%" PRIu64 " KiB) near the guest's MemFree (%ld KiB)",
		      s.free_memory >> 10, free1);
		/* A kernel without VM_EVENT_COUNTERS (the built-in one) does
		 * not count them. */
		check(s.minor_faults == NOOK_BALLOON_STAT_NONE || s.minor_faults > 0,
		      "stats: minor faults absent or counted");
		/* Reports come every second; a slow guest kernel may be late,
		 * but not by ten of them. */
		check(s.age_ms >= 0 && s.age_ms < 10000, "stats: fresh (age %" PRId64 " ms)",
		      s.age_ms);
		check(s.target_mib == (uint64_t)inflate_mib, "stats: the target");
		check(nook_vm_set_balloon_mib(vm, 0) == 0, "deflate");
	}
	go_on();
	ok = ok && next_marker("end", 120);
	if (!ok)
		nook_vm_stop(vm, SIGKILL, 0);
	r = nook_vm_wait(vm, &err);
	check(r == 0, "the guest program exited 0 (%d%s%s)", r, r < 0 ? ": " : "",
	      r < 0 ? nook_error_message(err) : "");
	nook_error_free(err);
	nook_vm_free(vm);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: balloon_driver SHARE_DIR ALLOC_MIB INFLATE_MIB [off]\n");
		return 125;
	}
	signal(SIGPIPE, SIG_IGN);
	return run(argv[1], atol(argv[2]), atol(argv[3]), !(argc > 4 && !strcmp(argv[4], "off")));
}
