/* The image config (image-spec's config.md): what a run takes from it. */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_internal.h"
#include "util/error.h"

/* A list of strings, or null/absent (*present false). */
static int string_list(json_object *o, const char *key, struct strv *out, bool *present,
		       nook_error **err)
{
	json_object *v;
	if (present)
		*present = false;
	if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return error_set(err, EINVAL, "image config: %s is not a list of strings", key);
	size_t n = json_object_array_length(v);
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(v, i);
		if (!json_object_is_type(s, json_type_string))
			return error_set(err, EINVAL, "image config: %s is not a list of strings", key);
		if (strv_push(out, json_object_get_string(s)) < 0)
			return error_set(err, ENOMEM, "image config: out of memory");
	}
	if (present)
		*present = true;
	return 0;
}

static int string(json_object *o, const char *key, char **out, nook_error **err)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return error_set(err, EINVAL, "image config: %s is not a string", key);
	const char *s = json_object_get_string(v);
	if (!*s)
		return 0;
	return (*out = strdup(s)) ? 0 : error_set(err, ENOMEM, "image config: out of memory");
}

int image_config_parse(const char *json, size_t len, struct image_config *out, nook_error **err)
{
	*out = (struct image_config){0};
	struct json_tokener *tok = json_tokener_new();
	json_object *root = tok ? json_tokener_parse_ex(tok, json, (int)len) : NULL;
	if (tok)
		json_tokener_free(tok);
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return error_set(err, EINVAL, "image config: not a JSON object");
	}
	json_object *cfg = NULL, *rootfs = NULL;
	json_object_object_get_ex(root, "config", &cfg);
	json_object_object_get_ex(root, "rootfs", &rootfs);
	if (cfg && !json_object_is_type(cfg, json_type_object))
		cfg = NULL;
	int r = string_list(cfg, "Entrypoint", &out->entrypoint, &out->has_entrypoint, err);
	if (r == 0)
		r = string_list(cfg, "Cmd", &out->cmd, &out->has_cmd, err);
	if (r == 0)
		r = string_list(cfg, "Env", &out->env, NULL, err);
	for (size_t i = 0; r == 0 && i < out->env.n; i++)
		if (!strchr(out->env.items[i], '=') || out->env.items[i][0] == '=')
			r = error_set(err, EINVAL, "image config: Env entry \"%.80s\" is not KEY=VALUE",
				      out->env.items[i]);
	if (r == 0)
		r = string(cfg, "WorkingDir", &out->workdir, err);
	if (r == 0)
		r = string(cfg, "User", &out->user, err);
	if (r == 0 && rootfs && json_object_is_type(rootfs, json_type_object))
		r = string_list(rootfs, "diff_ids", &out->diff_ids, NULL, err);
	json_object_put(root);
	if (r < 0)
		image_config_clear(out);
	return r;
}

void image_config_clear(struct image_config *c)
{
	strv_free(&c->entrypoint);
	strv_free(&c->cmd);
	strv_free(&c->env);
	strv_free(&c->diff_ids);
	free(c->workdir);
	free(c->user);
	*c = (struct image_config){0};
}
