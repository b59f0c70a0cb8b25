#include "guest/init/init_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest/protocol.h"

#define RECORD_HEADER_SIZE 8
#define RLIMIT_VALUE_SIZE 20 /* u32 resource, u64 soft, u64 hard */
#define MOUNT_HEADER_SIZE 8  /* u32 flags, u32 tag length */

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

struct counts {
	size_t args, envs, rlimits, lowers, mounts, nets, string_bytes;
	bool exec_path, workdir, root, root_upper;
};

static int check_mount(const unsigned char *val, uint32_t len, size_t off, struct counts *n,
		       char *err, size_t errlen)
{
	if (len < MOUNT_HEADER_SIZE)
		return fail(err, errlen, "record at offset %zu: mount of %u bytes", off, len);
	uint32_t flags = le32(val), tag_len = le32(val + 4);
	if (flags & ~(NOOK_MOUNT_READ_ONLY | NOOK_MOUNT_FILE))
		return fail(err, errlen, "record at offset %zu: unknown mount flags 0x%x", off, flags);
	if (tag_len == 0 || tag_len >= len - MOUNT_HEADER_SIZE)
		return fail(err, errlen, "record at offset %zu: mount tag length %u", off, tag_len);
	const unsigned char *path = val + MOUNT_HEADER_SIZE + tag_len;
	if (memchr(val + MOUNT_HEADER_SIZE, '\0', len - MOUNT_HEADER_SIZE))
		return fail(err, errlen, "record at offset %zu: string contains a NUL byte", off);
	if (path[0] != '/')
		return fail(err, errlen, "record at offset %zu: mount path is not absolute", off);
	n->mounts++;
	n->string_bytes += len - MOUNT_HEADER_SIZE + 2;
	return 0;
}

/* Checks one record and adds it to `n`. */
static int check_record(uint32_t tag, const unsigned char *val, uint32_t len, size_t off,
			struct counts *n, char *err, size_t errlen)
{
	bool *once = NULL;
	const char *what = NULL;

	switch (tag) {
	case NOOK_TAG_EXEC_PATH:
		once = &n->exec_path;
		what = "exec path";
		break;
	case NOOK_TAG_WORKDIR:
		once = &n->workdir;
		what = "workdir";
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
	case NOOK_TAG_ROOT_LOWER:
		n->lowers++;
		if (len == 0)
			return fail(err, errlen, "record at offset %zu: empty root lower", off);
		break;
	case NOOK_TAG_MOUNT:
		return check_mount(val, len, off, n, err, errlen);
	case NOOK_TAG_NET:
		if (len != NOOK_NET_RECORD_SIZE || val[6] > NOOK_NET_DHCP || val[7] > 32)
			return fail(err, errlen, "record at offset %zu: malformed network interface", off);
		n->nets++;
		return 0;
	case NOOK_TAG_RLIMIT:
		if (len != RLIMIT_VALUE_SIZE)
			return fail(err, errlen, "record at offset %zu: rlimit of %u bytes, expected %d",
				    off, len, RLIMIT_VALUE_SIZE);
		n->rlimits++;
		return 0;
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
		if (len - off < RECORD_HEADER_SIZE)
			return fail(err, errlen, "record at offset %zu: truncated header", off);
		uint32_t tag = le32(p + off), vlen = le32(p + off + 4);
		if (vlen > len - off - RECORD_HEADER_SIZE)
			return fail(err, errlen, "record at offset %zu: length %u goes past the end (%zu bytes)",
				    off, vlen, len);
		int r = check_record(tag, p + off + RECORD_HEADER_SIZE, vlen, off, n, err, errlen);
		if (r < 0)
			return r;
		off += RECORD_HEADER_SIZE + (size_t)vlen;
	}
	if (!n->exec_path)
		return fail(err, errlen, "no exec path");
	if (n->root && (n->lowers || n->root_upper))
		return fail(err, errlen, "both a root and an overlay root");
	if (n->root_upper && !n->lowers)
		return fail(err, errlen, "an overlay root without lower layers");
	return 0;
}

int init_config_parse(const void *buf, size_t len, struct init_config *out,
			   char *err, size_t errlen)
{
	const unsigned char *p = buf;
	struct counts n = { 0 };

	/* Keeps the size computations below far from overflowing: every record
	 * is at least 8 bytes, so each count is at most len / 8. */
	if (len > SIZE_MAX / 4)
		return fail(err, errlen, "config of %zu bytes is too large", len);
	int r = check_all(p, len, &n, err, errlen);
	if (r < 0)
		return r;

	/* One allocation: argv, env and lower pointer arrays, rlimits, mounts,
	 * then strings. */
	size_t nptrs = (n.args + 2) + (n.envs + 1) + n.lowers;
	size_t rl_off = nptrs * sizeof(char *);
	size_t mnt_off = rl_off + n.rlimits * sizeof(struct init_rlimit);
	size_t net_off = mnt_off + n.mounts * sizeof(struct init_mount);
	size_t str_off = net_off + n.nets * sizeof(struct init_net);
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
		.rlimits = (struct init_rlimit *)(mem + rl_off),
		.mounts = (struct init_mount *)(mem + mnt_off),
		.nets = (struct init_net *)(mem + net_off),
		.mem = mem,
	};
	char *s = mem + str_off;
	for (size_t off = 0; off < len;) {
		uint32_t tag = le32(p + off), vlen = le32(p + off + 4);
		const unsigned char *val = p + off + RECORD_HEADER_SIZE;

		off += RECORD_HEADER_SIZE + (size_t)vlen;
		if (tag == NOOK_TAG_RLIMIT) {
			cfg.rlimits[cfg.nrlimits++] = (struct init_rlimit){
				.resource = le32(val), .soft = le64(val + 4), .hard = le64(val + 12),
			};
			continue;
		}
		if (tag == NOOK_TAG_NET) {
			struct init_net *net = &cfg.nets[cfg.nnets++];
			memcpy(net->mac, val, 6);
			net->mode = val[6];
			net->prefix = val[7];
			memcpy(&net->addr, val + 8, 4);
			memcpy(&net->gateway, val + 12, 4);
			memcpy(&net->dns, val + 16, 4);
			continue;
		}
		if (tag == NOOK_TAG_MOUNT) {
			uint32_t tag_len = le32(val + 4);
			struct init_mount *m = &cfg.mounts[cfg.nmounts++];
			m->flags = le32(val);
			m->tag = s;
			memcpy(s, val + MOUNT_HEADER_SIZE, tag_len);
			s += tag_len;
			*s++ = '\0';
			m->path = s;
			memcpy(s, val + MOUNT_HEADER_SIZE + tag_len, vlen - MOUNT_HEADER_SIZE - tag_len);
			s += vlen - MOUNT_HEADER_SIZE - tag_len;
			*s++ = '\0';
			continue;
		}
		memcpy(s, val, vlen);
		s[vlen] = '\0';
		if (tag == NOOK_TAG_EXEC_PATH)
			cfg.exec_path = s;
		else if (tag == NOOK_TAG_WORKDIR)
			cfg.workdir = s;
		else if (tag == NOOK_TAG_ARG)
			cfg.argv[cfg.argc++] = s;
		else if (tag == NOOK_TAG_ROOT)
			cfg.root = s;
		else if (tag == NOOK_TAG_ROOT_UPPER)
			cfg.root_upper = s;
		else if (tag == NOOK_TAG_ROOT_LOWER)
			cfg.root_lowers[cfg.nroot_lowers++] = s;
		else
			cfg.env[cfg.envc++] = s;
		s += vlen + 1;
	}
	cfg.argv[0] = cfg.exec_path;
	cfg.argv[cfg.argc] = NULL;
	cfg.env[cfg.envc] = NULL;
	*out = cfg;
	return 0;
}

void init_config_free(struct init_config *cfg)
{
	free(cfg->mem);
	*cfg = (struct init_config){ 0 };
}
