/* The split irqchip's IOAPIC (devices/ioapic.c) driven like a hostile
 * guest, through the machine's MMIO bus as a vCPU's exits reach it, on a
 * real KVM machine with a split irqchip: indices past the table, short and
 * unaligned accesses, read-only bits, redirection entries with vectors
 * below 16, forbidden delivery modes and destinations no vCPU has. What
 * KVM really delivers is read back from the local APIC's IRR (KVM_GET_LAPIC):
 * an edge through the irqfd, one dropped while masked and raised again at
 * unmask, a level pin raised again at its vector's EOI, none for a pin
 * with no route. Then the snapshot section, and hostile ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "devices/ioapic.h"
#include "util/state.h"
#include "x86/cpu.h"
#include "x86/layout.h"
#include "x86/machine.h"

#define MASKED (1u << 16)
#define LEVEL (1u << 15)
#define APIC_SVR 0xf0
#define APIC_IRR 0x200

struct fixture {
	struct machine m;
	struct ioapic io;
	bool started;
	int fd[IOAPIC_PINS];
	bool asserted[IOAPIC_PINS];
};
static struct fixture fx;

static bool line_asserted(void *opaque)
{
	return *(bool *)opaque;
}

static int setup(void **state)
{
	memset(&fx, 0, sizeof(fx));
	machine_init(&fx.m);
	for (int i = 0; i < IOAPIC_PINS; i++)
		fx.fd[i] = -1;
	nook_error *err = NULL;
	if (x86_machine_create_split(&fx.m, 4 << 20, kvm_host_is_pvm(), IOAPIC_PINS, &err) < 0 ||
	    ioapic_init(&fx.io, &fx.m, LAYOUT_IOAPIC, &err) < 0 ||
	    machine_create_vcpus(&fx.m, 1, &err) < 0 || x86_setup_vcpus(&fx.m, &err) < 0) {
		nook_error_free(err);
		machine_destroy(&fx.m);
		return 0; /* each test skips */
	}
	/* Software-enable the local APIC, which accepts nothing before. */
	struct kvm_lapic_state lapic;
	assert_int_equal(ioctl(fx.m.vcpus[0].fd, KVM_GET_LAPIC, &lapic), 0);
	uint32_t svr = 0x1ff;
	memcpy(lapic.regs + APIC_SVR, &svr, 4);
	assert_int_equal(ioctl(fx.m.vcpus[0].fd, KVM_SET_LAPIC, &lapic), 0);
	fx.started = true;
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	if (!fx.started)
		return 0;
	machine_destroy(&fx.m);
	ioapic_destroy(&fx.io);
	for (int i = 0; i < IOAPIC_PINS; i++)
		if (fx.fd[i] >= 0)
			close(fx.fd[i]);
	return 0;
}

static void need_kvm(void)
{
	if (!fx.started)
		skip();
}

/* A guest access of `len` bytes at `offset` in the IOAPIC's window. */
static void mmio(uint64_t offset, uint32_t *v, uint32_t len, bool write)
{
	uint8_t data[8] = {0};
	if (write)
		memcpy(data, v, len < 4 ? len : 4);
	assert_true(io_bus_access(&fx.m.mmio, LAYOUT_IOAPIC + offset, data, len, write));
	if (!write)
		memcpy(v, data, 4);
}

static void reg_write(uint32_t index, uint32_t v)
{
	mmio(IOAPIC_IOREGSEL, &index, 4, true);
	mmio(IOAPIC_IOWIN, &v, 4, true);
}

static uint32_t reg_read(uint32_t index)
{
	uint32_t v;
	mmio(IOAPIC_IOREGSEL, &index, 4, true);
	mmio(IOAPIC_IOWIN, &v, 4, false);
	return v;
}

static void set_pin(uint32_t pin, uint32_t low, uint32_t high)
{
	reg_write(IOAPIC_REG_REDIR + 2 * pin + 1, high);
	reg_write(IOAPIC_REG_REDIR + 2 * pin, low);
}

static void connect_pin(uint32_t pin)
{
	fx.fd[pin] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(fx.fd[pin] >= 0);
	const struct irq_line line = {.fd = fx.fd[pin], .asserted = line_asserted,
				      .opaque = &fx.asserted[pin]};
	assert_int_equal(machine_connect_irq(&fx.m, pin, &line), 0);
}

static void raise_line(uint32_t pin)
{
	uint64_t one = 1;
	assert_int_equal(write(fx.fd[pin], &one, sizeof(one)), sizeof(one));
}

static bool irr(uint8_t vector)
{
	struct kvm_lapic_state lapic;
	assert_int_equal(ioctl(fx.m.vcpus[0].fd, KVM_GET_LAPIC, &lapic), 0);
	uint32_t word;
	memcpy(&word, lapic.regs + APIC_IRR + (vector / 32) * 0x10, 4);
	return word & (1u << (vector % 32));
}

/* KVM may inject an irqfd's interrupt from a work queue: wait a little. */
static bool irr_soon(uint8_t vector)
{
	for (int i = 0; i < 200; i++) {
		if (irr(vector))
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
	}
	return false;
}

static void test_registers(void **state)
{
	need_kvm();
	assert_int_equal(reg_read(IOAPIC_REG_VERSION), (IOAPIC_PINS - 1) << 16 | 0x11);
	reg_write(IOAPIC_REG_VERSION, 0);
	assert_int_equal(reg_read(IOAPIC_REG_VERSION), (IOAPIC_PINS - 1) << 16 | 0x11);
	/* Only the ID bits are writable; arbitration reads the ID. */
	reg_write(IOAPIC_REG_ID, 0xffffffff);
	assert_int_equal(reg_read(IOAPIC_REG_ID), 0x0f000000);
	reg_write(IOAPIC_REG_ARBITRATION, 0);
	assert_int_equal(reg_read(IOAPIC_REG_ARBITRATION), 0x0f000000);
	/* Every pin starts masked. */
	for (uint32_t pin = 0; pin < IOAPIC_PINS; pin++) {
		assert_int_equal(reg_read(IOAPIC_REG_REDIR + 2 * pin), MASKED);
		assert_int_equal(reg_read(IOAPIC_REG_REDIR + 2 * pin + 1), 0);
	}
}

static void test_hostile_indices(void **state)
{
	need_kvm();
	set_pin(IOAPIC_PINS - 1, 0x40 | MASKED, 0x01000000);
	/* Past the table: reads 0, writes change nothing anywhere. */
	for (uint32_t index = IOAPIC_REG_REDIR + 2 * IOAPIC_PINS; index <= 0xff; index++) {
		reg_write(index, 0xffffffff);
		assert_int_equal(reg_read(index), 0);
	}
	for (uint32_t index = 3; index < IOAPIC_REG_REDIR; index++) {
		reg_write(index, 0xffffffff);
		assert_int_equal(reg_read(index), 0);
	}
	assert_int_equal(reg_read(IOAPIC_REG_REDIR + 2 * (IOAPIC_PINS - 1)), 0x40 | MASKED);
	assert_int_equal(reg_read(IOAPIC_REG_REDIR + 2 * (IOAPIC_PINS - 1) + 1), 0x01000000);
	/* IOREGSEL keeps 8 bits: 0x110 selects 0x10, pin 0's low half. */
	uint32_t v = 0x110;
	mmio(IOAPIC_IOREGSEL, &v, 4, true);
	mmio(IOAPIC_IOREGSEL, &v, 4, false);
	assert_int_equal(v, 0x10);
	mmio(IOAPIC_IOWIN, &v, 4, false);
	assert_int_equal(v, MASKED);
	/* Short, long and unaligned accesses, and other offsets, are ignored
	 * and read as zeros. */
	const uint64_t offsets[] = {IOAPIC_IOREGSEL, IOAPIC_IOWIN, 0x01, 0x04, 0x11, 0x20, 0x40,
				    IOAPIC_WINDOW - 8};
	const uint32_t lens[] = {1, 2, 8};
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
			uint32_t w = 0xffffffff, r = 0x12345678;
			mmio(offsets[i], &w, lens[j], true);
			mmio(offsets[i], &r, lens[j], false);
			assert_int_equal(r & ((1ull << (8 * (lens[j] < 4 ? lens[j] : 4))) - 1), 0);
		}
		if (offsets[i] != IOAPIC_IOREGSEL && offsets[i] != IOAPIC_IOWIN) {
			uint32_t w = 0xffffffff, r = 1;
			mmio(offsets[i], &w, 4, true);
			mmio(offsets[i], &r, 4, false);
			assert_int_equal(r, 0);
		}
	}
	v = 0x10;
	mmio(IOAPIC_IOREGSEL, &v, 4, true);
	mmio(IOAPIC_IOWIN, &v, 4, false);
	assert_int_equal(v, MASKED);
	assert_int_equal(fx.io.route_error, 0);
}

static void test_hostile_entries(void **state)
{
	need_kvm();
	struct kvm_irq_routing_entry e;
	/* Read-only bits (delivery status, remote IRR) and reserved high
	 * bits do not stick. */
	set_pin(1, 0xffffffff, 0xffffffff);
	assert_int_equal(reg_read(IOAPIC_REG_REDIR + 2), 0x1afff);
	assert_int_equal(reg_read(IOAPIC_REG_REDIR + 3), 0xff000000);
	/* Vectors 0..15 get no route, unmasked or not. */
	for (uint32_t vector = 0; vector < 16; vector++) {
		set_pin(2, vector, 0);
		assert_false(ioapic_route(&fx.io, 2, &e));
	}
	/* Delivery modes other than fixed, lowest priority and NMI: none. */
	const uint32_t forbidden[] = {2, 3, 5, 6, 7};
	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		set_pin(3, 0x40 | forbidden[i] << 8, 0);
		assert_false(ioapic_route(&fx.io, 3, &e));
	}
	/* NMI: routed, edge whatever the entry says. */
	set_pin(3, 0x40 | 4 << 8 | LEVEL, 0);
	assert_true(ioapic_route(&fx.io, 3, &e));
	assert_int_equal(e.type, KVM_IRQ_ROUTING_MSI);
	assert_int_equal(e.u.msi.data, 0x40 | 4 << 8);
	/* Fixed, logical destination 0xff, level: the MSI says all of it. */
	set_pin(4, 0x41 | 1 << 11 | LEVEL, 0xff000000);
	assert_true(ioapic_route(&fx.io, 4, &e));
	assert_int_equal(e.gsi, 4);
	assert_int_equal(e.u.msi.address_lo, 0xfee00000 | 0xff << 12 | 1 << 2);
	assert_int_equal(e.u.msi.data, 0x41 | 1 << 15 | 1 << 14);
	/* A destination no vCPU has, every pin at once: KVM takes it all. */
	for (uint32_t pin = 0; pin < IOAPIC_PINS; pin++)
		set_pin(pin, 0x30 + pin, 0xfe000000);
	for (uint32_t pin = 0; pin < IOAPIC_PINS; pin++)
		assert_true(ioapic_route(&fx.io, pin, &e));
	assert_false(ioapic_route(&fx.io, IOAPIC_PINS, &e));
	assert_int_equal(fx.io.route_error, 0);
	/* Lines past the pins cannot be connected. */
	int fd = eventfd(0, EFD_CLOEXEC);
	const struct irq_line line = {.fd = fd};
	assert_int_equal(machine_connect_irq(&fx.m, IOAPIC_PINS, &line), -EINVAL);
	close(fd);
}

static void test_delivery(void **state)
{
	need_kvm();
	for (uint32_t pin = 30; pin < 36; pin++)
		connect_pin(pin);
	/* Edge, fixed, to vCPU 0. */
	set_pin(30, 0x50, 0);
	assert_false(irr(0x50));
	raise_line(30);
	assert_true(irr_soon(0x50));
	/* Masked: the edge is dropped... */
	set_pin(31, 0x51 | MASKED, 0);
	raise_line(31);
	nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	assert_false(irr(0x51));
	/* ...but the device still waits, so unmasking raises it. */
	fx.asserted[31] = true;
	set_pin(31, 0x51, 0);
	assert_true(irr_soon(0x51));
	/* Unmasking a pin whose device does not wait raises nothing. */
	set_pin(32, 0x52 | MASKED, 0);
	set_pin(32, 0x52, 0);
	nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	assert_false(irr(0x52));
	/* Level: the EOI of its vector raises it again while asserted. */
	set_pin(33, 0x62 | LEVEL, 0);
	fx.m.user_irqchip->eoi(fx.m.user_irqchip, 0x62);
	nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	assert_false(irr(0x62));
	fx.asserted[33] = true;
	fx.m.user_irqchip->eoi(fx.m.user_irqchip, 0x62);
	assert_true(irr_soon(0x62));
	/* An edge pin is not raised by an EOI, nor is another vector's. */
	set_pin(34, 0x63, 0);
	fx.asserted[34] = true;
	fx.m.user_irqchip->eoi(fx.m.user_irqchip, 0x63);
	fx.m.user_irqchip->eoi(fx.m.user_irqchip, 0x99);
	nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	assert_false(irr(0x63));
	/* A vector below 16 has no route: nothing arrives, nothing breaks. */
	set_pin(35, 0x05, 0);
	raise_line(35);
	nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	assert_false(irr(0x05));
	/* An EOI exit's vector may be any byte. */
	for (int v = 0; v < 256; v++)
		fx.m.user_irqchip->eoi(fx.m.user_irqchip, (uint8_t)v);
	assert_int_equal(fx.io.route_error, 0);
}

static void test_snapshot(void **state)
{
	need_kvm();
	struct kvm_irq_routing_entry e;
	set_pin(7, 0x47, 0x00000000);
	set_pin(40, 0x48 | LEVEL, 0x01000000);
	reg_write(IOAPIC_REG_ID, 0x03000000);
	struct bytes b = {0};
	assert_int_equal(ioapic_save(&fx.io, &b), 0);
	struct state_section s;
	assert_int_equal(state_check(b.data, b.len), 0);
	assert_int_equal(state_find(b.data, b.len, "ioapic", &s), 0);
	assert_int_equal(s.version, 1);
	set_pin(7, MASKED, 0);
	set_pin(40, MASKED, 0);
	reg_write(IOAPIC_REG_ID, 0);
	assert_int_equal(ioapic_restore(&fx.io, s.data, s.len), 0);
	assert_int_equal(reg_read(IOAPIC_REG_ID), 0x03000000);
	assert_true(ioapic_route(&fx.io, 7, &e));
	assert_int_equal(e.u.msi.data, 0x47);
	assert_true(ioapic_route(&fx.io, 40, &e));
	assert_int_equal(e.u.msi.address_lo, 0xfee00000 | 1 << 12);
	/* Hostile sections: short, long, another pin count, a nonzero pad;
	 * read-only bits in the entries are dropped. */
	uint8_t *copy = malloc(s.len + 8);
	assert_non_null(copy);
	memcpy(copy, s.data, s.len);
	assert_int_equal(ioapic_restore(&fx.io, copy, s.len - 1), -EINVAL);
	assert_int_equal(ioapic_restore(&fx.io, copy, s.len + 8), -EINVAL);
	uint32_t pins = 24;
	memcpy(copy, &pins, 4);
	assert_int_equal(ioapic_restore(&fx.io, copy, s.len), -EINVAL);
	memcpy(copy, s.data, s.len);
	copy[12] = 1;
	assert_int_equal(ioapic_restore(&fx.io, copy, s.len), -EINVAL);
	memcpy(copy, s.data, s.len);
	uint64_t rte = 0xffffffffffffffffULL;
	memcpy(copy + 16 + 8 * 9, &rte, 8);
	assert_int_equal(ioapic_restore(&fx.io, copy, s.len), 0);
	assert_int_equal(reg_read(IOAPIC_REG_REDIR + 18), 0x1afff);
	assert_int_equal(reg_read(IOAPIC_REG_REDIR + 19), 0xff000000);
	free(copy);
	bytes_free(&b);
	assert_int_equal(fx.io.route_error, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_indices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
