/* The host's side of the control-port protocol (guest/protocol.h): the
 * CONFIG message nook-init receives at the ready point, built record by
 * record, and the framing of every message. The exec agent's EXEC
 * requests (guest/agent_protocol.h) are built from the same records. All functions return 0 or a
 * negative errno; on error the buffer keeps what it held before. */
#ifndef NOOK_VM_GUEST_CONFIG_H
#define NOOK_VM_GUEST_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "guest/protocol.h"
#include "util/bytes.h"

/* A string record: NOOK_TAG_EXEC_PATH, _ARG, _ENV ("KEY=VALUE"), _WORKDIR,
 * _HOSTNAME or _ROOT*. -EINVAL for a value nook-init would reject (an empty
 * exec path, workdir, host name or tag, ENV without a key). */
int guest_config_add_string(struct bytes *b, enum nook_config_tag tag, const char *value);
/* A share: NOOK_MOUNT_* flags, its tag, the absolute guest path. */
int guest_config_add_mount(struct bytes *b, uint32_t flags, const char *tag, const char *path);
/* RLIM_INFINITY is UINT64_MAX. */
int guest_config_add_rlimit(struct bytes *b, uint32_t resource, uint64_t soft, uint64_t hard);
int guest_config_add_net(struct bytes *b, const struct nook_record_net *net);
int guest_config_add_clock(struct bytes *b, const struct timespec *realtime);
/* -EINVAL for fewer than NOOK_ENTROPY_MIN bytes. */
int guest_config_add_entropy(struct bytes *b, const void *data, size_t len);
int guest_config_add_slot(struct bytes *b, uint32_t slot);
/* The exec agent's vsock port. */
int guest_config_add_agent(struct bytes *b, uint32_t port);
/* The records only an agent's EXEC request has (guest/agent_protocol.h). */
int guest_config_add_tty(struct bytes *b, uint16_t rows, uint16_t cols);

/* Appends a message of `type` carrying `payload` to `out`; -E2BIG past
 * NOOK_MSG_MAX. */
int guest_msg_append(struct bytes *out, enum nook_msg_type type, const void *payload,
		     size_t len);

#endif
