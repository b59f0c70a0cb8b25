#include "util/bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bytes_free(struct bytes *b)
{
	free(b->data);
	*b = (struct bytes){ 0 };
}

int bytes_reserve(struct bytes *b, size_t n)
{
	size_t need, cap = b->cap ? b->cap : 4096;

	if (__builtin_add_overflow(b->len, n, &need))
		return -ENOMEM;
	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *data = realloc(b->data, cap);
	if (!data)
		return -ENOMEM;
	b->data = data;
	b->cap = cap;
	return 0;
}

void bytes_put(struct bytes *b, const void *data, size_t len)
{
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
}

void bytes_put_zeros(struct bytes *b, size_t len)
{
	memset(b->data + b->len, 0, len);
	b->len += len;
}

int bytes_append(struct bytes *b, const void *data, size_t len)
{
	int r = bytes_reserve(b, len);
	if (r == 0)
		bytes_put(b, data, len);
	return r;
}
