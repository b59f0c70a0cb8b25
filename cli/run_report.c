/* What nook run prints about a VM: boot phases, metrics, and the progress
 * of a first boot. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
/* " name=X ms" for the phase from a to b, when both happened. */
static void print_phase(const char *name, double a, double b)
{
	if (a >= 0 && b >= 0)
		fprintf(stderr, " %s=%.1f ms", name, b - a);
}

void print_boot_times(const nook_vm *vm, uint64_t t_main)
{
	static const char *const kinds[] = {
		[NOOK_VM_BOOT_COLD] = "cold",
		[NOOK_VM_BOOT_COLD_SNAPSHOT] = "cold+snapshot",
		[NOOK_VM_BOOT_RESTORED] = "restored",
	};
	struct nook_boot_times t;
	nook_vm_get_boot_times(vm, &t);
	double vmm = t.first_run_ns ? (double)(t.first_run_ns - t_main) / 1e6 : -1;
	/* From main(): the phases count from nook_vm_build(). */
	double offset = vmm - t.first_kvm_run_ms;
	fprintf(stderr, "nook: boot-time: boot=%s vmm-start=%.2f ms", kinds[nook_vm_get_boot_kind(vm)],
		vmm);
	print_phase("kernel", t.first_kvm_run_ms, t.userspace_ms);
	print_phase("ready", t.userspace_ms, t.ready_ms);
	print_phase("snapshot", t.ready_ms, t.config_ms);
	print_phase("init", t.config_ms, t.program_ms);
	print_phase("program", t.program_ms, t.exit_ms);
	if (t.exit_ms >= 0)
		fprintf(stderr, " total=%.1f ms", t.exit_ms + offset);
	fprintf(stderr, " first-kvm-run-ns=%" PRIu64 "\n", t.first_run_ns);
}

void print_metrics(nook_vm *vm)
{
	static const char *const exit_kinds[] = {"io", "mmio", "intr", "other"};
	struct nook_vm_metrics *m;
	nook_error *err = NULL;
	if (nook_vm_get_metrics(vm, &m, &err) < 0) {
		fprintf(stderr, "nook: stats: %s\n", nook_error_message(err));
		nook_error_free(err);
		return;
	}
	for (size_t i = 0; i < m->nvcpus; i++) {
		fprintf(stderr, "nook: stats: vcpu %zu cpu=%.3f s exits:", i,
			(double)m->vcpus[i].cpu_ns / 1e9);
		for (int k = 0; k < NOOK_EXIT_KINDS; k++)
			fprintf(stderr, " %s=%" PRIu64, exit_kinds[k], m->vcpus[i].exits[k]);
		fputc('\n', stderr);
	}
	for (size_t i = 0; i < m->ndevices; i++) {
		const struct nook_device_metrics *d = &m->devices[i];
		fprintf(stderr,
			"nook: stats: %s requests=%" PRIu64 " bytes-from-guest=%" PRIu64
			" bytes-to-guest=%" PRIu64 " notifications=%" PRIu64 " interrupts=%" PRIu64 "%s",
			d->name, d->requests, d->bytes_from_guest, d->bytes_to_guest,
			d->notifications, d->interrupts, d->needs_reset ? " needs-reset" : "");
		if (strncmp(d->name, "net ", 4) == 0)
			fprintf(stderr,
				" frames-from-guest=%" PRIu64 " frames-to-guest=%" PRIu64
				" filtered=%" PRIu64 " dropped=%" PRIu64,
				d->frames_from_guest, d->frames_to_guest, d->frames_filtered,
				d->frames_dropped);
		fputc('\n', stderr);
	}
	fprintf(stderr, "nook: stats: fuse");
	for (unsigned op = 0; op < NOOK_FUSE_OPCODE_SLOTS; op++) {
		if (!m->fuse_ops[op])
			continue;
		const char *name = nook_fuse_opcode_name(op);
		if (name)
			fprintf(stderr, " %s=%" PRIu64, name, m->fuse_ops[op]);
		else
			fprintf(stderr, " op%u=%" PRIu64, op, m->fuse_ops[op]);
	}
	fputc('\n', stderr);
	nook_vm_metrics_free(m);
}

/* On a terminal, the first run of a machine shape says what takes so long
 * until its snapshot is saved. */
struct boot_progress {
	const nook_vm *vm;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	pthread_t thread;
};

static void *boot_progress_thread(void *arg)
{
	struct boot_progress *p = arg;
	uint64_t start = monotonic_now_ns();
	struct nook_boot_times t;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		nook_vm_get_boot_times(p->vm, &t);
		if (p->done || t.config_ms >= 0)
			break;
		fprintf(stderr, "\rnook: first run of this machine: booting the kernel to save a "
			"snapshot for later runs... %.0f s",
			(double)(monotonic_now_ns() - start) / 1e9);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&p->cond, &p->lock, &until);
	}
	pthread_mutex_unlock(&p->lock);
	fprintf(stderr, "\r\033[K");
	if (t.config_ms >= 0)
		fprintf(stderr, "nook: snapshot saved after %.0f s of boot; later runs start from it\n",
			(double)(monotonic_now_ns() - start) / 1e9);
	return NULL;
}

struct boot_progress *boot_progress_start(const nook_vm *vm)
{
	if (nook_vm_get_boot_kind(vm) != NOOK_VM_BOOT_COLD_SNAPSHOT || !isatty(STDERR_FILENO))
		return NULL;
	struct boot_progress *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	*p = (struct boot_progress){.vm = vm, .lock = PTHREAD_MUTEX_INITIALIZER,
				    .cond = PTHREAD_COND_INITIALIZER};
	if (pthread_create(&p->thread, NULL, boot_progress_thread, p) != 0) {
		free(p);
		return NULL;
	}
	return p;
}

void boot_progress_stop(struct boot_progress *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->done = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	free(p);
}
