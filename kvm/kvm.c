#include "kvm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/thread.h"


bool kvm_host_is_pvm(void)
{
	struct stat st;
	return stat("/sys/module/kvm_pvm", &st) == 0;
}

static int open_kvm(nook_error **err)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "/dev/kvm: %s%s", strerror(errno),
				      errno == ENOENT ? " (is KVM available and the kvm module loaded?)"
				      : errno == EACCES ? " (is this user in the kvm group?)"
							 : "");
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		close(fd);
		return error_set(err, ENOTSUP, "/dev/kvm: API version %d, expected %d", version,
				      KVM_API_VERSION);
	}
	return fd;
}

int kvm_max_vcpus(nook_error **err)
{
	int fd = open_kvm(err);
	if (fd < 0)
		return fd;
	int n = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (n <= 0)
		n = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	close(fd);
	return n > 0 ? n : 4;
}

int machine_vm_ioctl(struct machine *m, unsigned long req, void *arg, const char *name,
		     nook_error **err)
{
	if (ioctl(m->vm_fd, req, arg) < 0)
		return error_set(err, errno, "%s: %s", name, strerror(errno));
	return 0;
}

void machine_init(struct machine *m)
{
	memset(m, 0, sizeof(*m));
	m->kvm_fd = m->vm_fd = m->stop_fd = -1;
	pthread_mutex_init(&m->stop_lock, NULL);
	pthread_mutex_init(&m->pause_lock, NULL);
	pthread_cond_init(&m->pause_cond, NULL);
}

int machine_create(struct machine *m, bool pvm, nook_error **err)
{
	m->pvm = pvm;
	m->kvm_fd = open_kvm(err);
	if (m->kvm_fd < 0)
		return m->kvm_fd;
	m->run_size = ioctl(m->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (m->run_size <= 0)
		return error_set(err, errno, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	m->vm_fd = ioctl(m->kvm_fd, KVM_CREATE_VM, 0);
	if (m->vm_fd < 0)
		return error_set(err, errno, "KVM_CREATE_VM: %s", strerror(errno));
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0)
		return error_set(err, errno, "eventfd: %s", strerror(errno));
	return 0;
}

int machine_add_memory(struct machine *m, uint64_t gpa, uint64_t size, nook_error **err)
{
	return guest_memory_add(&m->mem, m->vm_fd, gpa, size, err);
}

int machine_reserve_device_memory(struct machine *m, nook_error **err)
{
	struct guest_region unused;
	int r = 0;
	for (size_t i = 0; r == 0 && i < m->ndevice_memory_sizes; i++)
		r = guest_memory_add_device(&m->mem, m->vm_fd, m->device_memory_sizes[i], &unused,
					    err);
	return r;
}

int machine_add_device_memory(struct machine *m, uint64_t size, struct guest_region *out,
			      nook_error **err)
{
	if (m->device_memory_taken < m->mem.ndevices) {
		const struct guest_region *d = &m->mem.devices[m->device_memory_taken];
		if (d->size != size)
			return error_set(err, EINVAL,
					 "device memory: %llu bytes asked, %llu reserved",
					 (unsigned long long)size, (unsigned long long)d->size);
		*out = *d;
	} else {
		int r = guest_memory_add_device(&m->mem, m->vm_fd, size, out, err);
		if (r < 0)
			return r;
	}
	m->device_memory_taken++;
	return 0;
}

static void kick_handler(int sig)
{
	(void)sig;
}

/* The signal that interrupts KVM_RUN on a vCPU thread. */
static int kick_signal(void)
{
	return SIGRTMIN + 7;
}

int machine_create_vcpus(struct machine *m, int n, nook_error **err)
{
	m->vcpus = calloc((size_t)n, sizeof(*m->vcpus));
	if (!m->vcpus)
		return error_set(err, ENOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		struct vcpu *v = &m->vcpus[i];
		v->machine = m;
		v->id = i;
		v->fd = ioctl(m->vm_fd, KVM_CREATE_VCPU, i);
		if (v->fd < 0)
			return error_set(err, errno, "KVM_CREATE_VCPU %d: %s", i, strerror(errno));
		m->nvcpus = i + 1;
		v->run = mmap(NULL, (size_t)m->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			return error_set(err, errno, "mmap vCPU %d: %s", i, strerror(errno));
		}
	}
	return 0;
}

int machine_start_vcpus(struct machine *m, nook_error **err)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	sigemptyset(&sa.sa_mask);
	sigaction(kick_signal(), &sa, NULL);
	for (int i = 0; i < m->nvcpus; i++) {
		struct vcpu *v = &m->vcpus[i];
		char name[32];
		snprintf(name, sizeof(name), "vcpu-%d", i);
		int r = thread_start(&v->thread, THREAD_ROLE_VCPU, name, m->confine, vcpu_thread_main, v);
		if (r < 0) {
			machine_request_stop(m, MACHINE_STOP_ERROR, 0, "cannot start vCPU thread");
			return error_set(err, -r, "vCPU %d: thread: %s", i, strerror(-r));
		}
		/* A stop that came while the thread started (and perhaps already
		 * blocked in KVM_RUN, as an AP waiting for its SIPI does) did not
		 * signal it: kick it here. The stop sets its reason under the
		 * lock before it kicks, so one of the two sees the other. */
		pthread_mutex_lock(&m->stop_lock);
		v->thread_started = true;
		bool stopping = machine_stopping(m);
		pthread_mutex_unlock(&m->stop_lock);
		if (stopping)
			pthread_kill(v->thread, kick_signal());
	}
	return 0;
}

bool machine_stopping(const struct machine *m)
{
	return atomic_load(&m->stop_reason) != MACHINE_RUNNING;
}

/* Makes every vCPU leave KVM_RUN soon. */
static void kick_vcpus(struct machine *m)
{
	for (int i = 0; i < m->nvcpus; i++) {
		struct vcpu *v = &m->vcpus[i];
		if (v->run)
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (v->thread_started && !pthread_equal(v->thread, pthread_self()))
			pthread_kill(v->thread, kick_signal());
	}
}

void machine_request_stop(struct machine *m, enum machine_stop_reason reason, int arg,
			  const char *fmt, ...)
{
	pthread_mutex_lock(&m->stop_lock);
	if (atomic_load(&m->stop_reason) != MACHINE_RUNNING) {
		pthread_mutex_unlock(&m->stop_lock);
		return;
	}
	m->stop_arg = arg;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(&m->stop_message, fmt, ap) < 0)
			m->stop_message = NULL;
		va_end(ap);
	}
	atomic_store(&m->stop_reason, reason);
	pthread_mutex_unlock(&m->stop_lock);

	kick_vcpus(m);
	uint64_t one = 1;
	if (write(m->stop_fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow from one write per stop. */
	}
	/* Parked vCPUs must see the stop too. */
	pthread_mutex_lock(&m->pause_lock);
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
}

int machine_pause(struct machine *m)
{
	pthread_mutex_lock(&m->pause_lock);
	atomic_store(&m->pause_requested, true);
	pthread_mutex_unlock(&m->pause_lock);
	kick_vcpus(m);
	int started = 0;
	for (int i = 0; i < m->nvcpus; i++)
		started += m->vcpus[i].thread_started;
	pthread_mutex_lock(&m->pause_lock);
	while (m->paused < started && !machine_stopping(m))
		pthread_cond_wait(&m->pause_cond, &m->pause_lock);
	int r = machine_stopping(m) ? -ECANCELED : 0;
	pthread_mutex_unlock(&m->pause_lock);
	return r;
}

void machine_resume(struct machine *m)
{
	pthread_mutex_lock(&m->pause_lock);
	atomic_store(&m->pause_requested, false);
	pthread_cond_broadcast(&m->pause_cond);
	pthread_mutex_unlock(&m->pause_lock);
}

void machine_destroy(struct machine *m)
{
	if (m->vcpus) {
		machine_request_stop(m, MACHINE_STOP_REQUESTED, 0, NULL);
		for (int i = 0; i < m->nvcpus; i++) {
			struct vcpu *v = &m->vcpus[i];
			if (v->thread_started)
				pthread_join(v->thread, NULL);
			if (v->run)
				munmap(v->run, (size_t)m->run_size);
			if (v->fd >= 0)
				close(v->fd);
		}
		free(m->vcpus);
		m->vcpus = NULL;
	}
	guest_memory_destroy(&m->mem);
	if (m->vm_fd >= 0)
		close(m->vm_fd);
	if (m->kvm_fd >= 0)
		close(m->kvm_fd);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	free(m->stop_message);
	free(m->system_map_path);
	pthread_mutex_destroy(&m->stop_lock);
	pthread_mutex_destroy(&m->pause_lock);
	pthread_cond_destroy(&m->pause_cond);
	m->vm_fd = m->kvm_fd = m->stop_fd = -1;
}

int machine_connect_irq(struct machine *m, uint32_t gsi, const struct irq_line *line)
{
	struct kvm_irqfd irqfd = {.fd = (uint32_t)line->fd, .gsi = gsi};
	if (ioctl(m->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	return m->user_irqchip ? m->user_irqchip->connect(m->user_irqchip, gsi, line) : 0;
}

int machine_add_ioeventfd(struct machine *m, int fd, uint64_t addr, uint32_t len, bool match,
			  uint64_t datamatch)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = match ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0,
	};
	return ioctl(m->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}
