#include "vm/console_ports.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The guest keeps a page for each entry of a port's receive queue: 64
 * (256 KiB a port) against the implicit console's 256. */
#define QUEUE_SIZE 64

static int raw_mode(struct vm_console_host *h, const struct vm_console_port *p, nook_error **err)
{
	struct termios raw;
	if (tcgetattr(p->in_fd, &h->saved) < 0)
		return error_set(err, errno, "console port \"%s\": terminal fd %d: %s", p->name,
				 p->in_fd, strerror(errno));
	raw = h->saved;
	cfmakeraw(&raw);
	if (tcsetattr(p->in_fd, TCSANOW, &raw) < 0)
		return error_set(err, errno, "console port \"%s\": raw mode on fd %d: %s", p->name,
				 p->in_fd, strerror(errno));
	h->tty_fd = p->in_fd;
	return 0;
}

int vm_console_ports_create(struct vm_console_ports *cp, const nook_vm_config *cfg,
			    struct machine *m, struct event_loop *loop, uint64_t base,
			    uint32_t irq, nook_error **err)
{
	struct virtio_console_port_config *ports = calloc(cfg->nports, sizeof(*ports));
	int *custom_fds = malloc(cfg->nports * sizeof(*custom_fds));
	cp->hosts = calloc(cfg->nports, sizeof(*cp->hosts));
	int r = ports && custom_fds && cp->hosts ? 0 : error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < cfg->nports; i++)
		custom_fds[i] = -1;
	for (size_t i = 0; r == 0 && i < cfg->nports; i++) {
		const struct vm_console_port *p = &cfg->ports[i];
		struct vm_console_host *h = &cp->hosts[i];
		h->tty_fd = -1;
		cp->nhosts = i + 1;
		ports[i] = (struct virtio_console_port_config){
			.name = p->name, .in_fd = p->in_fd, .out_fd = p->out_fd,
			.end_on_close = p->kind != VM_PORT_TTY};
		if (p->kind == VM_PORT_TTY)
			r = raw_mode(h, p, err);
		else if (p->kind == VM_PORT_CUSTOM &&
			 (r = console_custom_create(&p->backend, p->opaque, p->name, &custom_fds[i],
						    &h->custom, err)) == 0) {
			/* Without a read callback the port has no input, as an
			 * output file's: an input at end of file would close
			 * the port for the guest's writes too. */
			ports[i].in_fd = p->backend.read ? custom_fds[i] : -1;
			ports[i].out_fd = p->backend.write ? custom_fds[i] : -1;
		}
	}
	if (r == 0) {
		cp->dev_created = true;
		r = virtio_console_init(&cp->dev, m, loop, ports, (int)cfg->nports, QUEUE_SIZE, base,
					irq, err);
	}
	/* The device works on copies of its own. */
	for (size_t i = 0; custom_fds && i < cfg->nports; i++)
		if (custom_fds[i] >= 0)
			close(custom_fds[i]);
	free(custom_fds);
	free(ports);
	return r;
}

int vm_console_ports_start(struct vm_console_ports *cp, bool confine, nook_error **err)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < cp->nhosts; i++)
		if (cp->hosts[i].custom)
			r = console_custom_start(cp->hosts[i].custom, confine, err);
	return r;
}

void vm_console_ports_destroy(struct vm_console_ports *cp)
{
	if (cp->dev_created)
		virtio_console_destroy(&cp->dev);
	cp->dev_created = false;
	/* In reverse: a terminal given twice gets its first state back. */
	for (size_t i = cp->nhosts; i-- > 0;) {
		struct vm_console_host *h = &cp->hosts[i];
		console_custom_stop(h->custom);
		if (h->tty_fd >= 0)
			tcsetattr(h->tty_fd, TCSANOW, &h->saved);
	}
	free(cp->hosts);
	cp->hosts = NULL;
	cp->nhosts = 0;
}
