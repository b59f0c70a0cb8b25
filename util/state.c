#include "util/state.h"

#include <errno.h>
#include <string.h>

struct state_header {
	char name[STATE_NAME_MAX + 1];
	uint32_t version;
	uint32_t len;
};

int state_put(struct bytes *b, const char *name, uint32_t version, const void *data, size_t len)
{
	struct state_header h = {.version = version, .len = (uint32_t)len};
	size_t name_len = strlen(name);
	if (name_len == 0 || name_len > STATE_NAME_MAX || len > UINT32_MAX)
		return -EINVAL;
	memcpy(h.name, name, name_len);
	int r = bytes_reserve(b, sizeof(h) + len);
	if (r == 0) {
		bytes_put(b, &h, sizeof(h));
		bytes_put(b, data, len);
	}
	return r;
}

/* The section at *off, advancing it: 1, 0 at the end, -EINVAL if malformed. */
static int next(const uint8_t *p, size_t len, size_t *off, struct state_section *s)
{
	struct state_header h;
	if (*off == len)
		return 0;
	if (len - *off < sizeof(h))
		return -EINVAL;
	memcpy(&h, p + *off, sizeof(h));
	if (h.len > len - *off - sizeof(h) || h.name[STATE_NAME_MAX] != '\0' || h.name[0] == '\0')
		return -EINVAL;
	memcpy(s->name, h.name, sizeof(s->name));
	s->version = h.version;
	s->data = p + *off + sizeof(h);
	s->len = h.len;
	*off += sizeof(h) + h.len;
	return 1;
}

int state_check(const void *p, size_t len)
{
	size_t off = 0;
	struct state_section s;
	int r;
	while ((r = next(p, len, &off, &s)) > 0) {
		struct state_section other;
		/* The first section by this name must be this one. */
		if (state_find(p, len, s.name, &other) < 0 || other.data != s.data)
			return -EINVAL;
	}
	return r;
}

int state_find(const void *p, size_t len, const char *name, struct state_section *out)
{
	size_t off = 0;
	struct state_section s;
	while (next(p, len, &off, &s) > 0) {
		if (strcmp(s.name, name) == 0) {
			*out = s;
			return 0;
		}
	}
	return -ENOENT;
}

int state_expect(const struct state_section *s, uint32_t version, size_t len)
{
	return s->version == version && s->len == len ? 0 : -EINVAL;
}
