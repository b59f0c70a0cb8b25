#include "vm/guest_config.h"

#include <errno.h>
#include <string.h>

/* A record of `tag` whose value is `head` then `tail` (either may be empty). */
static int add_record2(struct bytes *b, uint32_t tag, const void *head, size_t head_len,
		       const void *tail, size_t tail_len)
{
	size_t len;
	if (__builtin_add_overflow(head_len, tail_len, &len) || len > UINT32_MAX - 8)
		return -E2BIG;
	int r = bytes_reserve(b, sizeof(struct nook_record_header) + len);
	if (r < 0)
		return r;
	struct nook_record_header h = {.tag = tag, .length = (uint32_t)len};
	bytes_put(b, &h, sizeof(h));
	bytes_put(b, head, head_len);
	bytes_put(b, tail, tail_len);
	return 0;
}

static int add_record(struct bytes *b, uint32_t tag, const void *value, size_t len)
{
	return add_record2(b, tag, value, len, NULL, 0);
}

int guest_config_add_string(struct bytes *b, enum nook_config_tag tag, const char *value)
{
	switch (tag) {
	case NOOK_TAG_EXEC_PATH:
	case NOOK_TAG_WORKDIR:
	case NOOK_TAG_HOSTNAME:
	case NOOK_TAG_ROOT:
	case NOOK_TAG_ROOT_LOWER:
	case NOOK_TAG_ROOT_UPPER:
	case NOOK_TAG_PORT:
	case NOOK_TAG_USER:
		if (value[0] == '\0')
			return -EINVAL;
		break;
	case NOOK_TAG_ENV:
		if (value[0] == '=' || !strchr(value, '='))
			return -EINVAL;
		break;
	case NOOK_TAG_ARG:
		break;
	default:
		return -EINVAL;
	}
	return add_record(b, tag, value, strlen(value));
}

int guest_config_add_mount(struct bytes *b, uint32_t flags, const char *tag, const char *path)
{
	size_t tag_len = strlen(tag), path_len = strlen(path);
	if (tag_len == 0 || tag_len > UINT32_MAX || path[0] != '/')
		return -EINVAL;
	/* The tag and path go after the fixed part, in one buffer. */
	struct bytes v = { 0 };
	struct nook_record_mount m = {.flags = flags, .tag_len = (uint32_t)tag_len};
	int r = bytes_reserve(&v, sizeof(m) + tag_len);
	if (r == 0) {
		bytes_put(&v, &m, sizeof(m));
		bytes_put(&v, tag, tag_len);
		r = add_record2(b, NOOK_TAG_MOUNT, v.data, v.len, path, path_len);
	}
	bytes_free(&v);
	return r;
}

int guest_config_add_rlimit(struct bytes *b, uint32_t resource, uint64_t soft, uint64_t hard)
{
	const struct nook_record_rlimit rl = {.resource = resource, .soft = soft, .hard = hard};
	return add_record(b, NOOK_TAG_RLIMIT, &rl, sizeof(rl));
}

int guest_config_add_net(struct bytes *b, const struct nook_record_net *net)
{
	return add_record(b, NOOK_TAG_NET, net, sizeof(*net));
}

int guest_config_add_clock(struct bytes *b, const struct timespec *realtime)
{
	const struct nook_record_clock c = {.sec = realtime->tv_sec,
					    .nsec = (uint32_t)realtime->tv_nsec};
	return add_record(b, NOOK_TAG_CLOCK, &c, sizeof(c));
}

int guest_config_add_entropy(struct bytes *b, const void *data, size_t len)
{
	if (len < NOOK_ENTROPY_MIN)
		return -EINVAL;
	return add_record(b, NOOK_TAG_ENTROPY, data, len);
}

int guest_config_add_slot(struct bytes *b, uint32_t slot)
{
	return add_record(b, NOOK_TAG_SLOT, &slot, sizeof(slot));
}

int guest_config_add_agent(struct bytes *b, uint32_t port)
{
	return add_record(b, NOOK_TAG_AGENT, &port, sizeof(port));
}

int guest_config_add_tty(struct bytes *b, uint16_t rows, uint16_t cols)
{
	const struct nook_record_tty t = {.rows = rows, .cols = cols};
	return add_record(b, NOOK_TAG_TTY, &t, sizeof(t));
}

int guest_msg_append(struct bytes *out, enum nook_msg_type type, const void *payload, size_t len)
{
	if (len > NOOK_MSG_MAX)
		return -E2BIG;
	int r = bytes_reserve(out, sizeof(struct nook_msg_header) + len);
	if (r < 0)
		return r;
	struct nook_msg_header h = {.type = type, .length = (uint32_t)len};
	bytes_put(out, &h, sizeof(h));
	bytes_put(out, payload, len);
	return 0;
}
