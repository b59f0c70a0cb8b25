#include "util/strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int strv_push(struct strv *v, const char *s)
{
	if (v->n + 2 > v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 8;
		char **items = realloc(v->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		v->items = items;
		v->cap = cap;
	}
	char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	v->items[v->n++] = copy;
	v->items[v->n] = NULL;
	return 0;
}

void strv_free(struct strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->items[i]);
	free(v->items);
	*v = (struct strv){0};
}

int str_replace(char **slot, const char *s)
{
	char *copy = NULL;
	if (s && !(copy = strdup(s)))
		return -ENOMEM;
	free(*slot);
	*slot = copy;
	return 0;
}
