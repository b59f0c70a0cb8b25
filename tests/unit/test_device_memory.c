/* Device memory (kvm/memory.h, DAX windows) on a real KVM machine: the
 * sizes a machine is told before it is created are registered with RAM
 * and handed out in order, a size that differs from the reservation is
 * refused, and more is added after them. Every region lies 1 GiB aligned
 * above RAM, is PROT_NONE, is out of guest_memory_ptr()'s reach and is a
 * KVM memslot (an overlapping slot is refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "x86/cpu.h"
#include "x86/machine.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static struct machine m;

/* A machine with 512 MiB of RAM told of `n` device regions; false (the
 * test skips) without KVM. */
static bool create(const uint64_t *sizes, size_t n)
{
	machine_init(&m);
	m.device_memory_sizes = sizes;
	m.ndevice_memory_sizes = n;
	nook_error *err = NULL;
	if (x86_machine_create(&m, 512 * MIB, kvm_host_is_pvm(), &err) < 0) {
		nook_error_free(err);
		machine_destroy(&m);
		return false;
	}
	return true;
}

/* The permissions /proc/self/maps shows for the mapping holding p. */
static void assert_prot_none(const void *p)
{
	FILE *f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	char line[512], perms[8] = "";
	uintptr_t a = (uintptr_t)p;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char pr[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, pr) == 3 && a >= lo && a < hi) {
			snprintf(perms, sizeof(perms), "%s", pr);
			break;
		}
	}
	fclose(f);
	assert_string_equal(perms, "---p");
}

/* Another memslot over [gpa, gpa + 2 MiB) is refused: KVM has one there. */
static void assert_registered(uint64_t gpa)
{
	struct kvm_userspace_memory_region r = {
		.slot = 200, .guest_phys_addr = gpa, .memory_size = 2 * MIB,
		.userspace_addr = (uint64_t)(uintptr_t)m.mem.regions[0].hva,
	};
	assert_int_equal(ioctl(m.vm_fd, KVM_SET_USER_MEMORY_REGION, &r), -1);
	assert_int_equal(errno, EEXIST);
}

static void test_reserved_in_order_then_added(void **state)
{
	static const uint64_t sizes[] = {4 * MIB, 2 * MIB};
	if (!create(sizes, 2))
		skip();
	/* Registered at creation, before anything asks. */
	assert_int_equal(m.mem.ndevices, 2);
	assert_registered(4 * GIB);
	assert_registered(5 * GIB);

	nook_error *err = NULL;
	struct guest_region a, b, c;
	assert_int_equal(machine_add_device_memory(&m, 4 * MIB, &a, &err), 0);
	assert_int_equal(machine_add_device_memory(&m, 2 * MIB, &b, &err), 0);
	assert_true(a.gpa == 4 * GIB && a.size == 4 * MIB && a.hva == m.mem.devices[0].hva);
	assert_true(b.gpa == 5 * GIB && b.size == 2 * MIB && b.hva == m.mem.devices[1].hva);
	/* Beyond the reservation: added now, after the others. */
	assert_int_equal(machine_add_device_memory(&m, 2 * MIB, &c, &err), 0);
	assert_int_equal(m.mem.ndevices, 3);
	assert_true(c.gpa == 6 * GIB && c.size == 2 * MIB);
	assert_registered(6 * GIB);
	const struct guest_region *all[] = {&a, &b, &c};
	for (int i = 0; i < 3; i++) {
		assert_prot_none(all[i]->hva);
		assert_null(guest_memory_ptr(&m.mem, all[i]->gpa, 4096));
	}
	machine_destroy(&m);
}

static void test_size_other_than_reserved(void **state)
{
	static const uint64_t sizes[] = {4 * MIB};
	if (!create(sizes, 1))
		skip();
	nook_error *err = NULL;
	struct guest_region r;
	assert_int_equal(machine_add_device_memory(&m, 2 * MIB, &r, &err), -EINVAL);
	assert_non_null(strstr(nook_error_message(err), "2097152 bytes asked, 4194304 reserved"));
	nook_error_free(err);
	machine_destroy(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reserved_in_order_then_added),
		cmocka_unit_test(test_size_other_than_reserved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
