/* Parser of nook-init's run configuration, the payload of the CONFIG
 * message (format in guest/protocol.h), and of the exec agent's EXEC
 * requests, which use the same records (guest/agent_protocol.h). */
#ifndef NOOK_GUEST_INIT_CONFIG_H
#define NOOK_GUEST_INIT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct init_rlimit {
	uint32_t resource;
	uint64_t soft, hard;
};

struct init_mount {
	char *tag, *path; /* virtio-fs tag, absolute guest path */
	uint32_t flags;   /* NOOK_MOUNT_* */
};

/* A network interface to configure (NOOK_TAG_NET). */
struct init_net {
	unsigned char mac[6];
	unsigned mode;                /* NOOK_NET_* */
	unsigned prefix;
	uint32_t addr, gateway, dns;  /* network byte order; 0: none */
};

struct init_config {
	char *exec_path;        /* as given: a path, or a name to look up in PATH;
				 * NULL: an idle sandbox (argv is then NULL) */
	char **argv;            /* argc entries (argv[0] is exec_path), then NULL */
	size_t argc;
	char **env;             /* envc "KEY=VALUE" entries, then NULL */
	size_t envc;
	char *workdir;          /* NULL when not given */
	struct init_rlimit *rlimits;
	size_t nrlimits;
	char *root;             /* virtio-fs root tag, or NULL */
	char **root_lowers;     /* overlay root: nroot_lowers tags, bottom first */
	size_t nroot_lowers;
	char *root_upper;       /* overlay upper tag; NULL: a tmpfs */
	struct init_mount *mounts;
	size_t nmounts;
	struct init_net *nets;
	size_t nnets;
	int64_t clock_sec;      /* the host's CLOCK_REALTIME */
	uint32_t clock_nsec;
	unsigned char *entropy; /* entropy_len >= NOOK_ENTROPY_MIN bytes */
	size_t entropy_len;
	char *hostname;         /* NULL when not given */
	uint32_t *slots;        /* virtio-mmio slots to bind, in order */
	size_t nslots;
	char **ports;           /* the run's named console ports */
	size_t nports;
	uint32_t agent_port;    /* the exec agent's vsock port; 0: no agent */
	char *user;             /* "USER[:GROUP]" to run as; NULL: nook-init's, root */
	/* EXEC requests only: */
	bool tty;               /* on a new terminal of rows x cols */
	uint16_t rows, cols;
	void *mem;              /* the one allocation all of the above live in */
};

/* Parses `len` bytes at `buf` into `out`. Returns 0, or -EINVAL (malformed)
 * or -ENOMEM with a message in `err` (errlen >= 1) and `out` untouched. */
int init_config_parse(const void *buf, size_t len, struct init_config *out,
			   char *err, size_t errlen);

/* The same for an agent's EXEC request: only the exec records (program,
 * arguments, environment, workdir, rlimits, user, tty), the program
 * required. */
int init_exec_request_parse(const void *buf, size_t len, struct init_config *out,
			    char *err, size_t errlen);

void init_config_free(struct init_config *cfg);

#endif
