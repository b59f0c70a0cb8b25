/* The vCPU thread: KVM_RUN and dispatch of the exits that reach user space. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "kvm/kvm.h"

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	/* String I/O repeats the access `count` times over consecutive data. */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		io_bus_access(&v->machine->pio, run->io.port, data, run->io.size, is_write);
}

static void handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		machine_request_stop(v->machine, MACHINE_STOP_SHUTDOWN, 0, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		machine_request_stop(v->machine, MACHINE_STOP_RESET, 0, "guest rebooted");
		break;
	default:
		machine_request_stop(v->machine, MACHINE_STOP_ERROR, 0, "guest system event %u",
				     v->run->system_event.type);
	}
}

static enum vcpu_exit_kind exit_kind(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_IO:
		return VCPU_EXIT_IO;
	case KVM_EXIT_MMIO:
		return VCPU_EXIT_MMIO;
	case KVM_EXIT_INTR:
		return VCPU_EXIT_INTR;
	default:
		return VCPU_EXIT_OTHER;
	}
}

/* Only this vCPU's thread writes its counters: no locked add needed. */
static void count_exit(struct vcpu *v, uint32_t reason)
{
	atomic_uint_least64_t *c = &v->exits[exit_kind(reason)];
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

static uint64_t thread_cpu_ns(clockid_t clock)
{
	struct timespec ts;
	if (clock_gettime(clock, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vcpu_cpu_ns(struct vcpu *v)
{
	clockid_t clock;
	if (!atomic_load(&v->ended) && atomic_load(&v->thread_started) &&
	    pthread_getcpuclockid(v->thread, &clock) == 0) {
		uint64_t ns = thread_cpu_ns(clock);
		/* 0: the thread ended meanwhile and left its total. */
		if (ns)
			return ns;
	}
	return atomic_load(&v->cpu_ns_at_end);
}

/* Returns false when the vCPU must stop running. */
static bool handle_exit(struct vcpu *v)
{
	struct machine *m = v->machine;
	struct kvm_run *run = v->run;
	char detail[1024];

	if (m->metrics)
		count_exit(v, run->exit_reason);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		io_bus_access(&m->mmio, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
			      run->mmio.is_write);
		return true;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel local APIC; here it means "halted for good". */
		machine_request_stop(m, MACHINE_STOP_SHUTDOWN, 0, "guest halted");
		return false;
	case KVM_EXIT_SHUTDOWN:
		machine_request_stop(m, MACHINE_STOP_TRIPLE_FAULT, 0,
				     "guest triple fault (vCPU %d)", v->id);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(v);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		if (m->describe_internal_error)
			m->describe_internal_error(v, detail, sizeof(detail));
		else
			snprintf(detail, sizeof(detail), "KVM internal error %u on vCPU %d",
				 run->internal.suberror, v->id);
		machine_request_stop(m, MACHINE_STOP_ERROR, 0, "%s", detail);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		machine_request_stop(m, MACHINE_STOP_ERROR, 0,
				     "KVM entry failed on vCPU %d: hardware reason 0x%llx", v->id,
				     (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_IOAPIC_EOI:
		/* Only with a user irqchip: KVM asks for the vectors it routes
		 * as level-triggered. */
		if (m->user_irqchip)
			m->user_irqchip->eoi(m->user_irqchip, run->eoi.vector);
		return true;
	default:
		machine_request_stop(m, MACHINE_STOP_ERROR, 0, "unexpected KVM exit %u on vCPU %d",
				     run->exit_reason, v->id);
		return false;
	}
}

void vcpu_park(struct vcpu *v)
{
	struct machine *m = v->machine;
	/* With immediate_exit set, KVM_RUN completes the I/O the last exit
	 * left pending (an OUT's instruction pointer moves on) and returns
	 * at once: the state read while parked is then the guest's whole. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	ioctl(v->fd, KVM_RUN, 0);
	pthread_mutex_lock(&m->pause_lock);
	m->paused++;
	pthread_cond_broadcast(&m->pause_cond);
	while (atomic_load(&m->pause_requested) && !machine_stopping(m))
		pthread_cond_wait(&m->pause_cond, &m->pause_lock);
	m->paused--;
	pthread_mutex_unlock(&m->pause_lock);
	/* Cleared, then checked again: a stop between the two has set it
	 * anew, one before the check is seen by it. */
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	if (machine_stopping(m))
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

void *vcpu_thread_main(void *arg)
{
	struct vcpu *v = arg;
	struct machine *m = v->machine;
	uint64_t none = 0;
	if (v->id == 0)
		atomic_compare_exchange_strong(&m->t_first_run, &none, monotonic_ns());
	/* A pause asked and resumed before this thread ran left its kick
	 * behind (every KVM_RUN would return at once); the loop's checks see
	 * a pause or stop that still holds. */
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	while (!machine_stopping(m)) {
		if (atomic_load(&m->pause_requested)) {
			vcpu_park(v);
			continue;
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR && m->metrics)
				count_exit(v, KVM_EXIT_INTR);
			if (errno == EINTR || errno == EAGAIN)
				continue;
			machine_request_stop(m, MACHINE_STOP_ERROR, 0, "KVM_RUN on vCPU %d: %s", v->id,
					     strerror(errno));
			break;
		}
		if (!handle_exit(v))
			break;
	}
	atomic_store(&v->cpu_ns_at_end, thread_cpu_ns(CLOCK_THREAD_CPUTIME_ID));
	atomic_store(&v->ended, true);
	return NULL;
}
