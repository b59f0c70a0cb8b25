#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "util/error.h"

#define REF_FORMS "expected oci:DIR[:TAG], docker-archive:FILE or docker://NAME[:TAG]"

/* The path made absolute: resolved when it exists (so that one image has
 * one name), else as written under the working directory (rmi of an image
 * whose layout is gone). */
static char *absolute(const char *path)
{
	char *real = realpath(path, NULL);
	if (real || path[0] == '/')
		return real ? real : strdup(path);
	char cwd[PATH_MAX];
	char *out = NULL;
	if (getcwd(cwd, sizeof(cwd)) && asprintf(&out, "%s/%s", cwd, path) < 0)
		out = NULL;
	return out;
}

static bool tag_valid(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 128)
		return false;
	for (; *t; t++)
		if (!(*t >= 'a' && *t <= 'z') && !(*t >= 'A' && *t <= 'Z') &&
		    !(*t >= '0' && *t <= '9') && !strchr("_.-", *t))
			return false;
	return true;
}

/* A registry reference handed to skopeo: no option look-alike, no space. */
static bool registry_name_valid(const char *s)
{
	if (!*s || *s == '-' || strlen(s) > 512)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && !strchr("_.-/:@", *s))
			return false;
	return true;
}

int image_ref_parse(const char *ref, struct image_ref *out, nook_error **err)
{
	*out = (struct image_ref){0};
	const char *rest;
	int r = 0;
	if (!strncmp(ref, "oci:", 4) && ref[4]) {
		out->kind = IMAGE_REF_OCI;
		rest = ref + 4;
		const char *slash = strrchr(rest, '/');
		const char *colon = strrchr(slash ? slash : rest, ':');
		size_t len = colon ? (size_t)(colon - rest) : strlen(rest);
		if (colon && !tag_valid(colon + 1))
			return error_set(err, EINVAL, "image reference \"%s\": bad tag \"%s\"", ref,
					 colon + 1);
		char *dir = strndup(rest, len);
		if (!dir || len == 0) {
			free(dir);
			return error_set(err, len ? ENOMEM : EINVAL, "image reference \"%s\": %s", ref,
					 len ? "out of memory" : REF_FORMS);
		}
		out->path = absolute(dir);
		free(dir);
		if (colon && !(out->tag = strdup(colon + 1)))
			r = -ENOMEM;
		if (r == 0 && out->path &&
		    asprintf(&out->name, "oci:%s%s%s", out->path, colon ? ":" : "",
			     colon ? colon + 1 : "") < 0)
			out->name = NULL;
	} else if (!strncmp(ref, "docker-archive:", 15) && ref[15]) {
		out->kind = IMAGE_REF_DOCKER_ARCHIVE;
		out->path = absolute(ref + 15);
		if (out->path && asprintf(&out->name, "docker-archive:%s", out->path) < 0)
			out->name = NULL;
	} else if (!strncmp(ref, "docker://", 9)) {
		out->kind = IMAGE_REF_DOCKER;
		if (!registry_name_valid(ref + 9))
			return error_set(err, EINVAL, "image reference \"%s\": bad registry name", ref);
		out->path = strdup(ref + 9);
		out->name = strdup(ref);
	} else {
		return error_set(err, EINVAL, "image reference \"%s\": %s", ref, REF_FORMS);
	}
	if (r == 0 && (!out->path || !out->name))
		r = -ENOMEM;
	if (r < 0) {
		image_ref_clear(out);
		return error_set(err, ENOMEM, "image reference \"%s\": out of memory", ref);
	}
	return 0;
}

void image_ref_clear(struct image_ref *r)
{
	free(r->path);
	free(r->tag);
	free(r->name);
	*r = (struct image_ref){0};
}
