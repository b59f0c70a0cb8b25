#include "guest/init/init_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/protocol.h"

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* What the buffer is: a CONFIG message or an agent's EXEC request. */
enum kind { KIND_RUN, KIND_EXEC };

struct counts {
	enum kind kind;
	size_t args, envs, rlimits, lowers, mounts, nets, slots, ports, string_bytes, entropy_bytes;
	bool exec_path, workdir, root, root_upper, root_lowers, clock, entropy, hostname, agent, user,
		tty;
};

/* The records of an EXEC request; a CONFIG has all but the last two. */
static bool tag_allowed(enum kind kind, uint32_t tag)
{
	bool exec_tag = tag == NOOK_TAG_EXEC_PATH || tag == NOOK_TAG_ARG || tag == NOOK_TAG_ENV ||
			tag == NOOK_TAG_WORKDIR || tag == NOOK_TAG_RLIMIT || tag == NOOK_TAG_USER;
	bool exec_only = tag == NOOK_TAG_TTY;
	return kind == KIND_EXEC ? exec_tag || exec_only : !exec_only;
}

static int check_mount(const unsigned char *val, uint32_t len, size_t off, struct counts *n,
		       char *err, size_t errlen)
{
	struct nook_record_mount m;

	if (len < sizeof(m))
		return fail(err, errlen, "record at offset %zu: mount of %u bytes", off, len);
	memcpy(&m, val, sizeof(m));
	if (m.flags & ~(NOOK_MOUNT_READ_ONLY | NOOK_MOUNT_FILE | NOOK_MOUNT_DAX))
		return fail(err, errlen, "record at offset %zu: unknown mount flags 0x%x", off, m.flags);
	if (m.tag_len == 0 || m.tag_len >= len - sizeof(m))
		return fail(err, errlen, "record at offset %zu: mount tag length %u", off, m.tag_len);
	if (memchr(val + sizeof(m), '\0', len - sizeof(m)))
		return fail(err, errlen, "record at offset %zu: string contains a NUL byte", off);
	if (val[sizeof(m) + m.tag_len] != '/')
		return fail(err, errlen, "record at offset %zu: mount path is not absolute", off);
	n->mounts++;
	n->string_bytes += len - sizeof(m) + 2;
	return 0;
}

/* A record whose value has a fixed layout: exactly `size` bytes. */
static int check_size(uint32_t len, size_t size, size_t off, const char *what, char *err,
		      size_t errlen)
{
	if (len != size)
		return fail(err, errlen, "record at offset %zu: %s of %u bytes, expected %zu", off,
			    what, len, size);
	return 0;
}

/* A fixed-layout record that may come once. */
static int check_once(bool *seen, uint32_t len, size_t size, size_t off, const char *what,
		      char *err, size_t errlen)
{
	int r = check_size(len, size, off, what, err, errlen);

	if (r < 0)
		return r;
	if (*seen)
		return fail(err, errlen, "record at offset %zu: second %s", off, what);
	*seen = true;
	return 0;
}

/* Checks one record and adds it to `n`. */
static int check_record(uint32_t tag, const unsigned char *val, uint32_t len, size_t off,
			struct counts *n, char *err, size_t errlen)
{
	bool *once = NULL;
	const char *what = NULL;
	int r;

	if (tag_allowed(n->kind == KIND_RUN ? KIND_EXEC : KIND_RUN, tag) &&
	    !tag_allowed(n->kind, tag))
		return fail(err, errlen, "record at offset %zu: tag %u does not belong in %s", off,
			    tag, n->kind == KIND_EXEC ? "an exec request" : "a run configuration");
	switch (tag) {
	case NOOK_TAG_EXEC_PATH:
		once = &n->exec_path;
		what = "exec path";
		break;
	case NOOK_TAG_WORKDIR:
		once = &n->workdir;
		what = "workdir";
		break;
	case NOOK_TAG_HOSTNAME:
		once = &n->hostname;
		what = "hostname";
		break;
	case NOOK_TAG_USER:
		if (len > NOOK_USER_NAME_MAX)
			return fail(err, errlen, "record at offset %zu: user of more than %d bytes", off,
				    NOOK_USER_NAME_MAX);
		once = &n->user;
		what = "user";
		break;
	case NOOK_TAG_ARG:
		n->args++;
		break;
	case NOOK_TAG_ENV: {
		const unsigned char *eq = memchr(val, '=', len);

		if (!eq || eq == val)
			return fail(err, errlen, "record at offset %zu: env entry is not KEY=VALUE", off);
		n->envs++;
		break;
	}
	case NOOK_TAG_ROOT:
		once = &n->root;
		what = "root";
		break;
	case NOOK_TAG_ROOT_UPPER:
		once = &n->root_upper;
		what = "root upper";
		break;
	case NOOK_TAG_ROOT_LOWERS:
		once = &n->root_lowers;
		what = "root lowers tag";
		break;
	case NOOK_TAG_ROOT_LOWER:
		n->lowers++;
		/* A directory of the lowers' device, nothing above it. */
		if (len == 0 || memchr(val, '/', len) || (len <= 2 && val[0] == '.' &&
							 (len == 1 || val[1] == '.')))
			return fail(err, errlen, "record at offset %zu: bad root lower name", off);
		break;
	case NOOK_TAG_MOUNT:
		return check_mount(val, len, off, n, err, errlen);
	case NOOK_TAG_PORT:
		/* It names a link in /dev/virtio-ports. */
		if (len == 0 || len >= NOOK_PORT_NAME_MAX || memchr(val, '/', len) ||
		    (len <= 2 && val[0] == '.' && (len == 1 || val[1] == '.')))
			return fail(err, errlen, "record at offset %zu: port name is not a file name", off);
		n->ports++;
		break;
	case NOOK_TAG_NET: {
		struct nook_record_net net;

		if ((r = check_size(len, sizeof(net), off, "network interface", err, errlen)) < 0)
			return r;
		memcpy(&net, val, sizeof(net));
		if (net.mode > NOOK_NET_DHCP || net.prefix > 32)
			return fail(err, errlen, "record at offset %zu: malformed network interface", off);
		n->nets++;
		return 0;
	}
	case NOOK_TAG_RLIMIT:
		if ((r = check_size(len, sizeof(struct nook_record_rlimit), off, "rlimit", err,
				    errlen)) < 0)
			return r;
		n->rlimits++;
		return 0;
	case NOOK_TAG_CLOCK: {
		struct nook_record_clock c;

		if ((r = check_size(len, sizeof(c), off, "clock", err, errlen)) < 0)
			return r;
		memcpy(&c, val, sizeof(c));
		if (n->clock || c.sec < 0 || c.nsec >= 1000000000u)
			return fail(err, errlen, "record at offset %zu: second or malformed clock", off);
		n->clock = true;
		return 0;
	}
	case NOOK_TAG_ENTROPY:
		if (n->entropy || len < NOOK_ENTROPY_MIN)
			return fail(err, errlen, "record at offset %zu: second entropy record, or fewer "
				    "than %d bytes", off, NOOK_ENTROPY_MIN);
		n->entropy = true;
		n->entropy_bytes = len;
		return 0;
	case NOOK_TAG_SLOT:
		if ((r = check_size(len, sizeof(uint32_t), off, "slot", err, errlen)) < 0)
			return r;
		n->slots++;
		return 0;
	case NOOK_TAG_AGENT: {
		uint32_t port;

		if ((r = check_once(&n->agent, len, sizeof(port), off, "agent port", err, errlen)) < 0)
			return r;
		memcpy(&port, val, sizeof(port));
		if (port == 0 || port == UINT32_MAX)
			return fail(err, errlen, "record at offset %zu: agent port %u", off, port);
		return 0;
	}
	case NOOK_TAG_TTY:
		return check_once(&n->tty, len, sizeof(struct nook_record_tty), off, "tty", err,
				  errlen);
	default:
		return fail(err, errlen, "record at offset %zu: unknown tag %u", off, tag);
	}

	if (memchr(val, '\0', len))
		return fail(err, errlen, "record at offset %zu: string contains a NUL byte", off);
	if (once) {
		if (*once)
			return fail(err, errlen, "record at offset %zu: second %s", off, what);
		if (len == 0)
			return fail(err, errlen, "record at offset %zu: empty %s", off, what);
		*once = true;
	}
	n->string_bytes += (size_t)len + 1;
	return 0;
}

/* Validates the whole buffer and counts what the parsed config needs. */
static int check_all(const unsigned char *p, size_t len, struct counts *n, char *err, size_t errlen)
{
	size_t off = 0;

	while (off < len) {
		struct nook_record_header h;

		if (len - off < sizeof(h))
			return fail(err, errlen, "record at offset %zu: truncated header", off);
		memcpy(&h, p + off, sizeof(h));
		if (h.length > len - off - sizeof(h))
			return fail(err, errlen, "record at offset %zu: length %u goes past the end (%zu bytes)",
				    off, h.length, len);
		int r = check_record(h.tag, p + off + sizeof(h), h.length, off, n, err, errlen);
		if (r < 0)
			return r;
		off += sizeof(h) + (size_t)h.length;
	}
	if (n->kind == KIND_EXEC) {
		if (!n->exec_path)
			return fail(err, errlen, "no exec path");
		return 0;
	}
	if (!n->exec_path && (n->args || n->envs || n->workdir || n->rlimits || n->user))
		return fail(err, errlen, "arguments, environment, workdir, rlimits or user without an "
			    "exec path");
	if (!n->clock || !n->entropy)
		return fail(err, errlen, "no clock or no entropy");
	if (n->root && (n->lowers || n->root_upper))
		return fail(err, errlen, "both a root and an overlay root");
	if (n->root_upper && !n->lowers)
		return fail(err, errlen, "an overlay root without lower layers");
	if (!n->lowers != !n->root_lowers)
		return fail(err, errlen, "root lower layers without their device, or a device without them");
	return 0;
}

static int parse(enum kind kind, const void *buf, size_t len, struct init_config *out,
		 char *err, size_t errlen)
{
	const unsigned char *p = buf;
	struct counts n = { .kind = kind };

	/* Keeps the size computations below far from overflowing: every record
	 * is at least 8 bytes, so each count is at most len / 8. */
	if (len > SIZE_MAX / 4)
		return fail(err, errlen, "config of %zu bytes is too large", len);
	int r = check_all(p, len, &n, err, errlen);
	if (r < 0)
		return r;

	/* One allocation: argv, env, lower and port pointer arrays, rlimits,
	 * mounts, nets, slots, entropy, then strings. */
	size_t nptrs = (n.args + 2) + (n.envs + 1) + n.lowers + n.ports;
	size_t rl_off = nptrs * sizeof(char *);
	size_t mnt_off = rl_off + n.rlimits * sizeof(struct init_rlimit);
	size_t net_off = mnt_off + n.mounts * sizeof(struct init_mount);
	size_t slot_off = net_off + n.nets * sizeof(struct init_net);
	size_t ent_off = slot_off + n.slots * sizeof(uint32_t);
	size_t str_off = ent_off + n.entropy_bytes;
	char *mem = malloc(str_off + n.string_bytes);
	if (!mem) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}

	struct init_config cfg = {
		.argv = (char **)mem,
		.argc = 1,
		.env = (char **)mem + n.args + 2,
		.root_lowers = (char **)mem + n.args + 2 + n.envs + 1,
		.ports = (char **)mem + n.args + 2 + n.envs + 1 + n.lowers,
		.rlimits = (struct init_rlimit *)(mem + rl_off),
		.mounts = (struct init_mount *)(mem + mnt_off),
		.nets = (struct init_net *)(mem + net_off),
		.slots = (uint32_t *)(mem + slot_off),
		.entropy = (unsigned char *)(mem + ent_off),
		.mem = mem,
	};
	char *s = mem + str_off;
	for (size_t off = 0; off < len;) {
		struct nook_record_header h;

		memcpy(&h, p + off, sizeof(h));
		const unsigned char *val = p + off + sizeof(h);
		off += sizeof(h) + (size_t)h.length;
		switch (h.tag) {
		case NOOK_TAG_RLIMIT: {
			struct nook_record_rlimit rl;

			memcpy(&rl, val, sizeof(rl));
			cfg.rlimits[cfg.nrlimits++] = (struct init_rlimit){
				.resource = rl.resource, .soft = rl.soft, .hard = rl.hard,
			};
			continue;
		}
		case NOOK_TAG_NET: {
			struct nook_record_net rec;
			struct init_net *net = &cfg.nets[cfg.nnets++];

			memcpy(&rec, val, sizeof(rec));
			memcpy(net->mac, rec.mac, 6);
			net->mode = rec.mode;
			net->prefix = rec.prefix;
			memcpy(&net->addr, rec.addr, 4);
			memcpy(&net->gateway, rec.gateway, 4);
			memcpy(&net->dns, rec.dns, 4);
			continue;
		}
		case NOOK_TAG_MOUNT: {
			struct nook_record_mount rec;
			struct init_mount *m = &cfg.mounts[cfg.nmounts++];

			memcpy(&rec, val, sizeof(rec));
			size_t path_len = h.length - sizeof(rec) - rec.tag_len;
			m->flags = rec.flags;
			m->tag = s;
			memcpy(s, val + sizeof(rec), rec.tag_len);
			s += rec.tag_len;
			*s++ = '\0';
			m->path = s;
			memcpy(s, val + sizeof(rec) + rec.tag_len, path_len);
			s += path_len;
			*s++ = '\0';
			continue;
		}
		case NOOK_TAG_CLOCK: {
			struct nook_record_clock c;

			memcpy(&c, val, sizeof(c));
			cfg.clock_sec = c.sec;
			cfg.clock_nsec = c.nsec;
			continue;
		}
		case NOOK_TAG_ENTROPY:
			memcpy(cfg.entropy, val, h.length);
			cfg.entropy_len = h.length;
			continue;
		case NOOK_TAG_SLOT:
			memcpy(&cfg.slots[cfg.nslots++], val, sizeof(uint32_t));
			continue;
		case NOOK_TAG_AGENT:
			memcpy(&cfg.agent_port, val, sizeof(cfg.agent_port));
			continue;
		case NOOK_TAG_TTY: {
			struct nook_record_tty t;

			memcpy(&t, val, sizeof(t));
			cfg.tty = true;
			cfg.rows = t.rows;
			cfg.cols = t.cols;
			continue;
		}
		default:
			break;
		}
		memcpy(s, val, h.length);
		s[h.length] = '\0';
		if (h.tag == NOOK_TAG_EXEC_PATH)
			cfg.exec_path = s;
		else if (h.tag == NOOK_TAG_WORKDIR)
			cfg.workdir = s;
		else if (h.tag == NOOK_TAG_HOSTNAME)
			cfg.hostname = s;
		else if (h.tag == NOOK_TAG_USER)
			cfg.user = s;
		else if (h.tag == NOOK_TAG_ARG)
			cfg.argv[cfg.argc++] = s;
		else if (h.tag == NOOK_TAG_ROOT)
			cfg.root = s;
		else if (h.tag == NOOK_TAG_ROOT_UPPER)
			cfg.root_upper = s;
		else if (h.tag == NOOK_TAG_ROOT_LOWER)
			cfg.root_lowers[cfg.nroot_lowers++] = s;
		else if (h.tag == NOOK_TAG_ROOT_LOWERS)
			cfg.root_lowers_tag = s;
		else if (h.tag == NOOK_TAG_PORT)
			cfg.ports[cfg.nports++] = s;
		else
			cfg.env[cfg.envc++] = s;
		s += h.length + 1;
	}
	if (cfg.exec_path) {
		cfg.argv[0] = cfg.exec_path;
		cfg.argv[cfg.argc] = NULL;
	} else {
		cfg.argv = NULL;
		cfg.argc = 0;
	}
	cfg.env[cfg.envc] = NULL;
	*out = cfg;
	return 0;
}

int init_config_parse(const void *buf, size_t len, struct init_config *out,
		      char *err, size_t errlen)
{
	return parse(KIND_RUN, buf, len, out, err, errlen);
}

int init_exec_request_parse(const void *buf, size_t len, struct init_config *out,
			    char *err, size_t errlen)
{
	return parse(KIND_EXEC, buf, len, out, err, errlen);
}

void init_config_free(struct init_config *cfg)
{
	free(cfg->mem);
	*cfg = (struct init_config){ 0 };
}
