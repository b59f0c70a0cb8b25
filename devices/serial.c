#include "devices/serial.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Register offsets and bits (National Semiconductor 16550A data sheet). */
enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define LCR_DLAB 0x80
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IIR_NO_INTERRUPT 0x01
#define IIR_FIFO_ENABLED 0xc0
#define MCR_LOOP 0x10
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_DCD 0x80

void serial_init(struct serial *s, int out_fd)
{
	*s = (struct serial){.out_fd = out_fd};
	pthread_mutex_init(&s->lock, NULL);
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
}

static void serial_write_out(struct serial *s, uint8_t c)
{
	if (s->out_fd < 0)
		return;
	while (write(s->out_fd, &c, 1) < 0 && errno == EINTR)
		;
}

static uint8_t serial_read_reg(struct serial *s, uint64_t reg)
{
	switch (reg) {
	case RBR_THR:
		return s->lcr & LCR_DLAB ? s->dll : 0;
	case IER:
		return s->lcr & LCR_DLAB ? s->dlm : s->ier;
	case IIR_FCR:
		return IIR_NO_INTERRUPT | (s->fcr & 1 ? IIR_FIFO_ENABLED : 0);
	case LCR:
		return s->lcr;
	case MCR:
		return s->mcr;
	case LSR:
		return LSR_THRE | LSR_TEMT; /* always ready to send, never data */
	case MSR:
		/* In loopback the modem inputs mirror the outputs (the kernel's
		 * probe checks this); otherwise a connected, ready line. */
		if (s->mcr & MCR_LOOP)
			return (uint8_t)(((s->mcr & 0x01) << 5) | ((s->mcr & 0x02) << 3) |
					 ((s->mcr & 0x04) << 4) | ((s->mcr & 0x08) << 4));
		return MSR_DCD | MSR_DSR | MSR_CTS;
	case SCR:
		return s->scr;
	default:
		return 0xff;
	}
}

static void serial_write_reg(struct serial *s, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case RBR_THR:
		if (s->lcr & LCR_DLAB)
			s->dll = v;
		else if (!(s->mcr & MCR_LOOP))
			serial_write_out(s, v);
		break;
	case IER:
		if (s->lcr & LCR_DLAB)
			s->dlm = v;
		else
			s->ier = v & 0x0f;
		break;
	case IIR_FCR:
		s->fcr = v;
		break;
	case LCR:
		s->lcr = v;
		break;
	case MCR:
		s->mcr = v & 0x1f;
		break;
	case SCR:
		s->scr = v;
		break;
	default:
		break;
	}
}

static void serial_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = serial_read_reg(s, offset + i);
	pthread_mutex_unlock(&s->lock);
}

static void serial_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct serial *s = opaque;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++)
		serial_write_reg(s, offset + i, data[i]);
	pthread_mutex_unlock(&s->lock);
}

struct io_handler serial_io_handler(struct serial *s)
{
	return (struct io_handler){.read = serial_read, .write = serial_write, .opaque = s};
}

/* The registers, in the snapshot file's layout. */
struct serial_state {
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr, pad;
};

int serial_save(struct serial *s, struct bytes *out)
{
	pthread_mutex_lock(&s->lock);
	struct serial_state st = {s->ier, s->lcr, s->mcr, s->scr, s->dll, s->dlm, s->fcr, 0};
	pthread_mutex_unlock(&s->lock);
	return state_put(out, "serial", 1, &st, sizeof(st));
}

int serial_restore(struct serial *s, const void *state, size_t len)
{
	struct serial_state st;
	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, state, sizeof(st));
	pthread_mutex_lock(&s->lock);
	s->ier = st.ier;
	s->lcr = st.lcr;
	s->mcr = st.mcr;
	s->scr = st.scr;
	s->dll = st.dll;
	s->dlm = st.dlm;
	s->fcr = st.fcr;
	pthread_mutex_unlock(&s->lock);
	return 0;
}
