#include "devices/ioapic.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/state.h"

/* An 82093AA (version 0x11, no EOI register), as KVM's own IOAPIC. */
#define IOAPIC_VERSION 0x11
#define IOAPIC_ID_MASK 0x0f000000u

/* Redirection entry fields. */
#define RTE_VECTOR 0xffULL
#define RTE_DELIVERY_SHIFT 8
#define RTE_DEST_LOGICAL (1ULL << 11)
#define RTE_LEVEL (1ULL << 15)
#define RTE_MASKED (1ULL << 16)
#define RTE_DEST_SHIFT 56
/* What the guest may write: vector, delivery and destination mode,
 * polarity, trigger, mask; destination. Delivery status and remote IRR
 * are read-only. */
#define RTE_WRITABLE_LOW 0x1afffULL
#define RTE_WRITABLE_HIGH 0xff000000ULL

enum { DELIVERY_FIXED = 0, DELIVERY_LOWEST = 1, DELIVERY_NMI = 4 };

/* MSI address and data (Intel SDM 11.11). */
#define MSI_ADDRESS 0xfee00000u
#define MSI_ADDR_DEST_SHIFT 12
#define MSI_ADDR_LOGICAL (1u << 2)
#define MSI_DATA_LEVEL_ASSERT (1u << 14)
#define MSI_DATA_LEVEL (1u << 15)

static int pin_delivery(uint64_t rte)
{
	return (int)((rte >> RTE_DELIVERY_SHIFT) & 7);
}

static bool routed(uint64_t rte)
{
	int mode = pin_delivery(rte);
	if (rte & RTE_MASKED)
		return false;
	if (mode == DELIVERY_NMI)
		return true;
	return (mode == DELIVERY_FIXED || mode == DELIVERY_LOWEST) && (rte & RTE_VECTOR) >= 16;
}

/* The MSI KVM sends for a pin programmed with `rte`. */
static struct kvm_irq_routing_entry msi_route(uint32_t pin, uint64_t rte)
{
	int mode = pin_delivery(rte);
	/* NMIs are edge-triggered whatever the entry says. */
	bool level = (rte & RTE_LEVEL) && mode != DELIVERY_NMI;
	uint32_t data = (uint32_t)(rte & RTE_VECTOR) | (uint32_t)mode << RTE_DELIVERY_SHIFT;
	if (level)
		data |= MSI_DATA_LEVEL | MSI_DATA_LEVEL_ASSERT;
	return (struct kvm_irq_routing_entry){
		.gsi = pin,
		.type = KVM_IRQ_ROUTING_MSI,
		.u.msi = {
			.address_lo = MSI_ADDRESS |
				      (uint32_t)(rte >> RTE_DEST_SHIFT) << MSI_ADDR_DEST_SHIFT |
				      ((rte & RTE_DEST_LOGICAL) ? MSI_ADDR_LOGICAL : 0),
			.data = data,
		},
	};
}

static bool asserted(const struct ioapic *io, uint32_t pin)
{
	const struct irq_line *l = &io->lines[pin];
	return l->fd >= 0 && l->asserted && l->asserted(l->opaque);
}

static void raise_pin(const struct ioapic *io, uint32_t pin)
{
	uint64_t one = 1;
	if (write(io->lines[pin].fd, &one, sizeof(one)) < 0) {
		/* A saturated counter: the interrupt is pending anyway. */
	}
}

/* Hands KVM the routes of every routed pin. Lock held. */
static int apply_routes(struct ioapic *io)
{
	uint32_t n = 0;
	for (uint32_t pin = 0; pin < IOAPIC_PINS; pin++)
		if (routed(io->redir[pin]))
			io->routes.e[n++] = msi_route(pin, io->redir[pin]);
	io->routes.h.nr = n;
	io->routes.h.flags = 0;
	int r = ioctl(io->machine->vm_fd, KVM_SET_GSI_ROUTING, &io->routes) < 0 ? -errno : 0;
	if (r < 0)
		io->route_error = r;
	return r;
}

/* A guest write of one half of pin `pin`'s entry. Lock held. */
static void write_entry(struct ioapic *io, uint32_t pin, bool high, uint32_t v)
{
	uint64_t old = io->redir[pin], rte = old;
	if (high)
		rte = (rte & 0xffffffffULL) | ((uint64_t)(v & RTE_WRITABLE_HIGH) << 32);
	else
		rte = (rte & ~0xffffffffULL) | (v & RTE_WRITABLE_LOW);
	io->redir[pin] = rte;
	bool was = routed(old), now = routed(rte);
	if (!was && !now)
		return;
	if (was && now) {
		struct kvm_irq_routing_entry a = msi_route(pin, old), b = msi_route(pin, rte);
		if (memcmp(&a, &b, sizeof(a)) == 0)
			return;
	}
	if (apply_routes(io) == 0 && !was && now && asserted(io, pin))
		raise_pin(io, pin);
}

static uint32_t read_register(const struct ioapic *io, uint32_t index)
{
	switch (index) {
	case IOAPIC_REG_ID:
	case IOAPIC_REG_ARBITRATION:
		return io->id;
	case IOAPIC_REG_VERSION:
		return (uint32_t)(IOAPIC_PINS - 1) << 16 | IOAPIC_VERSION;
	default:
		if (index >= IOAPIC_REG_REDIR && index < IOAPIC_REG_REDIR + 2 * IOAPIC_PINS) {
			uint64_t rte = io->redir[(index - IOAPIC_REG_REDIR) / 2];
			return (uint32_t)((index & 1) ? rte >> 32 : rte);
		}
		return 0;
	}
}

static void write_register(struct ioapic *io, uint32_t index, uint32_t v)
{
	if (index == IOAPIC_REG_ID)
		io->id = v & IOAPIC_ID_MASK;
	else if (index >= IOAPIC_REG_REDIR && index < IOAPIC_REG_REDIR + 2 * IOAPIC_PINS)
		write_entry(io, (index - IOAPIC_REG_REDIR) / 2, index & 1, v);
	/* The version and arbitration registers are read-only. */
}

/* Only aligned 32-bit accesses to IOREGSEL and IOWIN mean anything. */
static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct ioapic *io = opaque;
	memset(data, 0, len);
	if (len != 4)
		return;
	pthread_mutex_lock(&io->lock);
	if (offset == IOAPIC_IOREGSEL)
		io_data_put(data, 4, io->index);
	else if (offset == IOAPIC_IOWIN)
		io_data_put(data, 4, read_register(io, io->index));
	pthread_mutex_unlock(&io->lock);
}

static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct ioapic *io = opaque;
	if (len != 4)
		return;
	uint32_t v = (uint32_t)io_data_get(data, 4);
	pthread_mutex_lock(&io->lock);
	if (offset == IOAPIC_IOREGSEL)
		io->index = v & 0xff;
	else if (offset == IOAPIC_IOWIN)
		write_register(io, io->index, v);
	pthread_mutex_unlock(&io->lock);
}

static int chip_connect(struct user_irqchip *chip, uint32_t gsi, const struct irq_line *line)
{
	struct ioapic *io = (struct ioapic *)chip;
	if (gsi >= IOAPIC_PINS)
		return -EINVAL;
	pthread_mutex_lock(&io->lock);
	io->lines[gsi] = *line;
	pthread_mutex_unlock(&io->lock);
	return 0;
}

/* A vCPU's EOI of `vector`: a level-triggered pin on it whose device still
 * waits is raised again. */
static void chip_eoi(struct user_irqchip *chip, uint8_t vector)
{
	struct ioapic *io = (struct ioapic *)chip;
	pthread_mutex_lock(&io->lock);
	for (uint32_t pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t rte = io->redir[pin];
		if (routed(rte) && (rte & RTE_LEVEL) && pin_delivery(rte) != DELIVERY_NMI &&
		    (rte & RTE_VECTOR) == vector && asserted(io, pin))
			raise_pin(io, pin);
	}
	pthread_mutex_unlock(&io->lock);
}

int ioapic_init(struct ioapic *io, struct machine *m, uint64_t base, nook_error **err)
{
	memset(io, 0, sizeof(*io));
	io->chip = (struct user_irqchip){.pins = IOAPIC_PINS, .connect = chip_connect,
					 .eoi = chip_eoi};
	io->machine = m;
	pthread_mutex_init(&io->lock, NULL);
	for (uint32_t pin = 0; pin < IOAPIC_PINS; pin++) {
		io->redir[pin] = RTE_MASKED;
		io->lines[pin].fd = -1;
	}
	struct io_handler h = {.read = mmio_read, .write = mmio_write, .opaque = io};
	int r = io_bus_register(&m->mmio, base, IOAPIC_WINDOW, &h);
	if (r < 0)
		return error_set(err, -r, "IOAPIC window 0x%llx: %s", (unsigned long long)base,
				 strerror(-r));
	m->user_irqchip = &io->chip;
	return 0;
}

void ioapic_destroy(struct ioapic *io)
{
	pthread_mutex_destroy(&io->lock);
}

bool ioapic_route(struct ioapic *io, uint32_t pin, struct kvm_irq_routing_entry *out)
{
	pthread_mutex_lock(&io->lock);
	bool r = pin < IOAPIC_PINS && routed(io->redir[pin]);
	if (r)
		*out = msi_route(pin, io->redir[pin]);
	pthread_mutex_unlock(&io->lock);
	return r;
}

struct ioapic_state {
	uint32_t pins, id, index, zero;
	uint64_t redir[IOAPIC_PINS];
};

int ioapic_save(struct ioapic *io, struct bytes *out)
{
	struct ioapic_state st = {.pins = IOAPIC_PINS};
	pthread_mutex_lock(&io->lock);
	st.id = io->id;
	st.index = io->index;
	memcpy(st.redir, io->redir, sizeof(st.redir));
	pthread_mutex_unlock(&io->lock);
	return state_put(out, "ioapic", 1, &st, sizeof(st));
}

int ioapic_restore(struct ioapic *io, const void *state, size_t len)
{
	struct ioapic_state st;
	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, state, sizeof(st));
	if (st.pins != IOAPIC_PINS || st.zero != 0)
		return -EINVAL;
	pthread_mutex_lock(&io->lock);
	io->id = st.id & IOAPIC_ID_MASK;
	io->index = st.index & 0xff;
	for (uint32_t pin = 0; pin < IOAPIC_PINS; pin++)
		io->redir[pin] = st.redir[pin] & (RTE_WRITABLE_LOW | RTE_WRITABLE_HIGH << 32);
	int r = apply_routes(io);
	pthread_mutex_unlock(&io->lock);
	return r;
}
