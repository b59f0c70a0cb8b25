/* Tier-2 test payloads: freestanding kernel-mode code that exercises the
 * VMM directly. The kernel command line's "payload=NAME" picks the test;
 * results go to the serial port and the exit status to nook's port. */
#include <stddef.h>
#include <stdint.h>

#include "guest/protocol.h"

#define SERIAL 0x3f8
#define VIRTIO_BASE 0xd0000000UL
#define LAPIC 0xfee00000UL

void payload_main(const uint8_t *boot_params);
extern const uint8_t ap_trampoline[], ap_trampoline_end[];

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t mmio_read(uintptr_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void mmio_write(uintptr_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static void puts_serial(const char *s)
{
	while (*s) {
		while (!(inb(SERIAL + 5) & 0x20))
			;
		outb(SERIAL, (uint8_t)*s++);
	}
}

static void put_hex(const char *label, uint64_t v)
{
	char buf[19] = "0x";
	for (int i = 0; i < 16; i++)
		buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
	buf[18] = 0;
	puts_serial(label);
	puts_serial(buf);
	puts_serial("\n");
}

static _Noreturn void report(unsigned status)
{
	outl(NOOK_PORT, NOOK_PORT_VALUE(NOOK_EVENT_EXIT_STATUS, status));
	for (;;)
		__asm__ volatile("cli; hlt");
}

static int starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

/* The value of "payload=" on the command line. */
static const char *payload_name(const uint8_t *bp)
{
	const char *cmdline = (const char *)(uintptr_t)*(const uint32_t *)(bp + 0x228);
	for (const char *p = cmdline; *p; p++)
		if ((p == cmdline || p[-1] == ' ') && starts_with(p, "payload="))
			return p + 8;
	return "";
}

static int is(const char *name, const char *want)
{
	while (*want)
		if (*name++ != *want++)
			return 0;
	return *name == 0 || *name == ' ';
}

/* e820 from boot_params: the RAM the VMM gave us, and whether all of it is
 * really there (writable and readable at its first and last byte). */
static void test_memory(const uint8_t *bp)
{
	uint8_t n = bp[0x1e8];
	uint64_t total = 0, top = 0;
	for (int i = 0; i < n; i++) {
		const uint8_t *e = bp + 0x2d0 + 20 * i;
		uint64_t addr = *(const uint64_t *)e, size = *(const uint64_t *)(e + 8);
		uint32_t type = *(const uint32_t *)(e + 16);
		if (type != 1)
			continue;
		total += size;
		if (addr + size > top)
			top = addr + size;
		volatile uint8_t *last = (volatile uint8_t *)(uintptr_t)(addr + size - 1);
		*last = 0x5a;
		if (*last != 0x5a)
			report(2);
	}
	put_hex("e820-entries=", n);
	put_hex("ram-bytes=", total);
	put_hex("ram-top=", top);
	/* Unbacked addresses in the device hole read as all ones. */
	put_hex("hole=", mmio_read(0xc0000000UL));
	report(0);
}

static void test_mmio(void)
{
	put_hex("magic=", mmio_read(VIRTIO_BASE + 0x000));
	put_hex("version=", mmio_read(VIRTIO_BASE + 0x004));
	put_hex("device-id=", mmio_read(VIRTIO_BASE + 0x008));
	put_hex("no-device=", mmio_read(VIRTIO_BASE + 0x100000));
	report(0);
}

/* A split virtqueue at fixed addresses below the payload. */
#define Q_DESC 0x100000UL
#define Q_AVAIL 0x101000UL
#define Q_USED 0x102000UL
#define Q_DATA 0x103000UL
#define Q_SIZE 8
#define STDOUT_TX_QUEUE 5 /* port 1 ("nook.stdout") transmit queue */

static void virtio_setup_queue(unsigned index)
{
	for (uintptr_t p = Q_DESC; p < Q_DATA + 0x1000; p += 8)
		*(volatile uint64_t *)p = 0;
	mmio_write(VIRTIO_BASE + 0x070, 0);     /* reset */
	mmio_write(VIRTIO_BASE + 0x070, 1 | 2); /* ACKNOWLEDGE | DRIVER */
	mmio_write(VIRTIO_BASE + 0x024, 1);     /* driver features, high word */
	mmio_write(VIRTIO_BASE + 0x020, 1);     /* VIRTIO_F_VERSION_1 */
	mmio_write(VIRTIO_BASE + 0x070, 1 | 2 | 8);
	mmio_write(VIRTIO_BASE + 0x030, index);
	mmio_write(VIRTIO_BASE + 0x038, Q_SIZE);
	mmio_write(VIRTIO_BASE + 0x080, (uint32_t)Q_DESC);
	mmio_write(VIRTIO_BASE + 0x090, (uint32_t)Q_AVAIL);
	mmio_write(VIRTIO_BASE + 0x0a0, (uint32_t)Q_USED);
	mmio_write(VIRTIO_BASE + 0x044, 1);
	mmio_write(VIRTIO_BASE + 0x070, 1 | 2 | 8 | 4); /* DRIVER_OK */
}

static void virtio_submit(unsigned index, uint64_t addr, uint32_t len)
{
	volatile uint64_t *d = (volatile uint64_t *)Q_DESC;
	d[0] = addr;
	d[1] = len; /* len, flags 0, next 0 */
	volatile uint16_t *avail = (volatile uint16_t *)Q_AVAIL;
	avail[2] = 0;  /* ring[0] = descriptor 0 */
	__asm__ volatile("mfence" ::: "memory");
	avail[1] = 1;  /* idx */
	__asm__ volatile("mfence" ::: "memory");
	mmio_write(VIRTIO_BASE + 0x050, index);
}

static int wait_used(void)
{
	volatile uint16_t *used = (volatile uint16_t *)Q_USED;
	for (long i = 0; i < 20000000; i++)
		if (used[1] == 1)
			return 1;
	return 0;
}

/* Writes through the console's stdout port: the host must see the bytes
 * on the program's stdout, return the buffer and raise the interrupt. */
static void test_virtq(void)
{
	static const char msg[] = "hello from a virtqueue\n";
	char *data = (char *)Q_DATA;
	virtio_setup_queue(STDOUT_TX_QUEUE);
	for (size_t i = 0; i < sizeof(msg) - 1; i++)
		data[i] = msg[i];
	virtio_submit(STDOUT_TX_QUEUE, Q_DATA, sizeof(msg) - 1);
	if (!wait_used())
		report(3);
	put_hex("isr=", mmio_read(VIRTIO_BASE + 0x060));
	report(0);
}

/* A descriptor pointing outside guest memory: the device must refuse it
 * and ask for a reset, and never complete it. */
static void test_virtq_hostile(void)
{
	virtio_setup_queue(STDOUT_TX_QUEUE);
	virtio_submit(STDOUT_TX_QUEUE, 0x7ffff000000UL, 4096);
	for (long i = 0; i < 20000000; i++) {
		if (mmio_read(VIRTIO_BASE + 0x070) & 0x40) {
			volatile uint16_t *used = (volatile uint16_t *)Q_USED;
			put_hex("used-idx=", used[1]);
			report(0);
		}
	}
	report(4);
}

/* INIT and startup IPIs to APIC id 1, which runs the real-mode trampoline. */
static void test_smp(void)
{
	volatile uint8_t *flag = (volatile uint8_t *)0x7f00;
	uint8_t *dst = (uint8_t *)0x8000;
	*flag = 0;
	for (const uint8_t *p = ap_trampoline; p < ap_trampoline_end; p++)
		*dst++ = *p;
	mmio_write(LAPIC + 0x310, 1u << 24);
	mmio_write(LAPIC + 0x300, 0x4500); /* INIT */
	mmio_write(LAPIC + 0x310, 1u << 24);
	mmio_write(LAPIC + 0x300, 0x4600 | 0x08); /* STARTUP at 0x8000 */
	for (long i = 0; i < 50000000; i++)
		if (*flag == 0xa5)
			report(0);
	report(5);
}

static void test_triple_fault(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty = {0, 0};
	__asm__ volatile("lidt %0; ud2" : : "m"(empty));
}

/* An instruction PVM hosts cannot emulate in guest kernel mode. */
void payload_unemulated(void);
__asm__(".globl payload_unemulated\n"
	"payload_unemulated:\n"
	"	nop\n"
	"	popcnt %rax, %rax\n"
	"	ret\n");

void payload_main(const uint8_t *bp)
{
	const char *name = payload_name(bp);
	puts_serial("payload: ");
	puts_serial(name);
	puts_serial("\n");
	if (is(name, "exit"))
		report(42);
	if (is(name, "memory"))
		test_memory(bp);
	if (is(name, "mmio"))
		test_mmio();
	if (is(name, "virtq"))
		test_virtq();
	if (is(name, "virtq-hostile"))
		test_virtq_hostile();
	if (is(name, "smp"))
		test_smp();
	if (is(name, "triple-fault"))
		test_triple_fault();
	if (is(name, "reset"))
		outb(0x64, 0xfe);
	if (is(name, "unemulated"))
		payload_unemulated();
	if (is(name, "halt"))
		for (;;)
			__asm__ volatile("cli; hlt");
	report(99);
}
