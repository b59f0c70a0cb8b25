/* The contract between the nook VMM and nook-init, the guest's PID 1.
 *
 * Boot: the VMM packs nook-init alone into the generated initramfs. The
 * kernel probes the devices it finds at boot (the virtio console and rng);
 * every other device (shares, disks, network, the named console ports)
 * sits in a virtio-mmio slot that reads as an empty placeholder (device
 * id 0) until the VMM fills it.
 *
 * The ready point: nook-init mounts the pseudo file systems, opens the
 * console ports and reports NOOK_EVENT_READY on the paravirtual port. Up to
 * here nothing depends on the run, so the VMM may snapshot the VM here and
 * later restore it instead of booting (warm start). Then the VMM fills the
 * slots and sends one NOOK_MSG_CONFIG message on the control port: the
 * program, its environment, the wall-clock time, fresh entropy, the slots to
 * bind, the file systems to mount and the network to configure. nook-init
 * applies it, runs the program and reports its exit status.
 *
 * Idle sandboxes: a CONFIG without NOOK_TAG_EXEC_PATH runs no program.
 * nook-init sets everything up, reports NOOK_EVENT_PROGRAM_STARTED and
 * stays up (reaping orphans) until the host sends a NOOK_MSG_SIGNAL of
 * SIGTERM, SIGINT, SIGHUP, SIGQUIT or SIGKILL, which ends the VM with exit
 * status 0; other signals have nobody to go to.
 *
 * The agent: with NOOK_TAG_AGENT, nook-init starts the exec agent (the
 * protocol is guest/agent_protocol.h) listening on that vsock port before
 * it reports NOOK_EVENT_PROGRAM_STARTED, so that event tells the host the
 * agent is up.
 *
 * Paravirtual port: nook-init writes 32-bit values to NOOK_PORT with `outl`
 * (after ioperm()); each value is (event << 24) | argument.
 *
 * Control port (host -> guest, the virtio-console port NOOK_PORT_NAME_CONTROL):
 * a stream of messages, each a struct nook_msg_header followed by `length`
 * bytes. A CONFIG payload is a sequence of records, each a struct
 * nook_record_header and `length` bytes of value; strings are not
 * NUL-terminated (their length is the record's); the order of ARG and ENV
 * records is the order of argv and environ. Unknown tags are an error, so
 * that an older init never silently ignores a setting. All integers are
 * little-endian (both ends are x86).
 */
#ifndef NOOK_GUEST_PROTOCOL_H
#define NOOK_GUEST_PROTOCOL_H

#include <stdint.h>

#define NOOK_INIT_PATH "/init.nook"

/* In the built-in root's archive: its symbolic links, as NUL-terminated
 * pairs (path beneath the root, target), which nook-init makes before the
 * ready point and then removes. Where kernel code is emulated, the kernel's
 * unpacker takes about 14 ms per archive entry, symlinkat() about 3 ms. */
#define NOOK_ROOT_SYMLINKS "/.nook-symlinks"

/* ---- paravirtual port (guest -> host) ---- */

#define NOOK_PORT 0x7e0

enum nook_port_event {
	NOOK_EVENT_USERSPACE_STARTED = 1, /* nook-init's first instruction; arg 0 */
	/* Just before exec of the program (an idle sandbox: set up); the agent,
	 * when asked for, listens by then. arg 0 */
	NOOK_EVENT_PROGRAM_STARTED = 2,
	NOOK_EVENT_EXIT_STATUS = 3,       /* arg: the program's status, 0..255 (0: an idle
					   * sandbox stopped); ends the VM */
	NOOK_EVENT_INIT_FAILED = 4,       /* arg: errno; nook-init could not set up; ends the VM */
	NOOK_EVENT_READY = 5,             /* the ready point; arg 0 */
};

#define NOOK_PORT_VALUE(event, arg) (((unsigned)(event) << 24) | ((unsigned)(arg) & 0xffffff))

/* ---- console ports ---- */

/* The program's stdio, and the control port (host -> guest messages). */
#define NOOK_PORT_NAME_STDIN "nook.stdin"
#define NOOK_PORT_NAME_STDOUT "nook.stdout"
#define NOOK_PORT_NAME_STDERR "nook.stderr"
#define NOOK_PORT_NAME_CONTROL "nook.control"
/* Port names are shorter than this (the VMM's limit). */
#define NOOK_PORT_NAME_MAX 64

/* On the kernel command line when the implicit console is disabled
 * (nook_vm_config_disable_implicit_console): the console has no stdio
 * ports, only the control port, and the program's stdin, stdout and
 * stderr are /dev/null. The command line is part of the snapshot key, so
 * such a VM has snapshots of its own. */
#define NOOK_CMDLINE_NO_STDIO "nook.stdio=none"

/* ---- control port messages (host -> guest) ---- */

struct nook_msg_header {
	uint32_t type;   /* enum nook_msg_type */
	uint32_t length; /* bytes of payload that follow */
};

enum nook_msg_type {
	NOOK_MSG_CONFIG = 1, /* records (below); exactly once, after READY */
	/* struct nook_msg_signal: for the program's process group; in an idle
	 * sandbox a stop signal (see above) ends the VM. */
	NOOK_MSG_SIGNAL = 2,
};

/* The largest message nook-init accepts. */
#define NOOK_MSG_MAX (1u << 20)

struct nook_msg_signal {
	uint32_t signo;
};

/* ---- CONFIG records ---- */

struct nook_record_header {
	uint32_t tag;    /* enum nook_config_tag */
	uint32_t length; /* bytes of value that follow */
};

enum nook_config_tag {
	/* string: a path, or a name looked up in PATH. Without it the sandbox
	 * is idle (above) and ARG, ENV, WORKDIR and RLIMIT are refused. */
	NOOK_TAG_EXEC_PATH = 1,
	NOOK_TAG_ARG = 2,       /* string: one argv entry after argv[0] */
	NOOK_TAG_ENV = 3,       /* string: one KEY=VALUE */
	NOOK_TAG_WORKDIR = 4,   /* string: directory to chdir to before exec */
	NOOK_TAG_RLIMIT = 5,    /* struct nook_record_rlimit */
	/* The root: a virtio-fs tag mounted read-write, or an overlay of
	 * read-only lower layers under an upper tag (its directory
	 * NOOK_OVERLAY_UPPER_DIR holds the writes and NOOK_OVERLAY_WORK_DIR is
	 * overlayfs's work dir) or, without one, under a tmpfs. Neither: the
	 * initramfs. The lower layers are all served by one device, tag
	 * ROOT_LOWERS (once), whose root holds a directory per layer:
	 * ROOT_LOWER names one (repeatable, bottom first; no '/'), so that an
	 * image of many layers takes one device slot. Strings. */
	NOOK_TAG_ROOT = 6,
	NOOK_TAG_ROOT_LOWER = 7,
	NOOK_TAG_ROOT_UPPER = 8,
	NOOK_TAG_ROOT_LOWERS = 10,
	/* A virtio-fs share: struct nook_record_mount, the tag, then the
	 * absolute guest path (the rest). */
	NOOK_TAG_MOUNT = 9,
	/* A network interface to configure, found by its MAC:
	 * struct nook_record_net. */
	NOOK_TAG_NET = 16,
	/* The host's CLOCK_REALTIME when the message was sent:
	 * struct nook_record_clock. Exactly once. */
	NOOK_TAG_CLOCK = 32,
	/* At least NOOK_ENTROPY_MIN bytes from the host's random source, to
	 * credit to the guest's pool and reseed it (a restored guest would
	 * otherwise repeat the random numbers of the snapshot). Exactly once. */
	NOOK_TAG_ENTROPY = 33,
	/* string: the guest's host name. */
	NOOK_TAG_HOSTNAME = 34,
	/* A virtio-mmio slot the VMM has filled, to bind now: u32, the id of
	 * the kernel's "virtio-mmio.<id>" platform device (the slot's position
	 * in the virtio_mmio.device= list). In the order to bind them. */
	NOOK_TAG_SLOT = 35,
	/* string: a named console port of the run (on the device of a slot
	 * above), NOOK_PORT_NAME_MAX - 1 bytes at most and no '/': nook-init
	 * waits for it and links it as /dev/virtio-ports/<name> (what udev
	 * does elsewhere) before the program starts. */
	NOOK_TAG_PORT = 36,
	/* u32: the vsock port the exec agent listens on (NOOK_AGENT_PORT in
	 * guest/agent_protocol.h); without it there is no agent. */
	NOOK_TAG_AGENT = 37,
	/* string, in a CONFIG or an EXEC request: the user to run as,
	 * "USER[:GROUP]", each a name or a decimal id (at most
	 * NOOK_USER_NAME_MAX bytes). nook-init resolves names in the root's
	 * /etc/passwd and /etc/group as the program starts; without a GROUP
	 * the group is the user's in /etc/passwd, else 0, and the user's
	 * groups in /etc/group become its supplementary groups (Docker's
	 * rules). Without it root. */
	NOOK_TAG_USER = 38,
	/* In an agent's EXEC request only (guest/agent_protocol.h), never in a
	 * CONFIG: a terminal, struct nook_record_tty. */
	NOOK_TAG_TTY = 65,
};

struct nook_record_rlimit {
	uint32_t resource;
	uint64_t soft, hard; /* RLIM_INFINITY = ~0 */
} __attribute__((packed));

#define NOOK_MOUNT_READ_ONLY 1u
/* The share holds one file, NOOK_MOUNT_FILE_ENTRY, to bind at the path. */
#define NOOK_MOUNT_FILE 2u
#define NOOK_MOUNT_FILE_ENTRY "file"
/* The device has a DAX window: mount with dax=always. */
#define NOOK_MOUNT_DAX 4u

struct nook_record_mount {
	uint32_t flags;   /* NOOK_MOUNT_* */
	uint32_t tag_len; /* bytes of tag after this; the path follows it */
};

/* Directories of an overlay upper tag. */
#define NOOK_OVERLAY_UPPER_DIR "upper"
#define NOOK_OVERLAY_WORK_DIR "work"

enum nook_net_mode {
	NOOK_NET_UP = 0,     /* link up only */
	NOOK_NET_STATIC = 1, /* the record's address, route and DNS */
	NOOK_NET_DHCP = 2,   /* ask a DHCP server (passt, gvproxy) */
};

struct nook_record_net {
	uint8_t mac[6];
	uint8_t mode;   /* enum nook_net_mode */
	uint8_t prefix; /* of the address, 0..32 */
	/* IPv4, network byte order; gateway 0: no default route, dns 0: none */
	uint8_t addr[4], gateway[4], dns[4];
};

struct nook_record_clock {
	int64_t sec;
	uint32_t nsec;
} __attribute__((packed));

#define NOOK_ENTROPY_MIN 32

#define NOOK_USER_NAME_MAX 256

struct nook_record_tty {
	uint16_t rows, cols; /* the terminal's size; 0 0: the kernel's default */
};

_Static_assert(sizeof(struct nook_msg_header) == 8, "message header layout");
_Static_assert(sizeof(struct nook_record_header) == 8, "record header layout");
_Static_assert(sizeof(struct nook_record_rlimit) == 20, "rlimit record layout");
_Static_assert(sizeof(struct nook_record_mount) == 8, "mount record layout");
_Static_assert(sizeof(struct nook_record_net) == 20, "net record layout");
_Static_assert(sizeof(struct nook_record_clock) == 12, "clock record layout");
_Static_assert(sizeof(struct nook_record_tty) == 4, "tty record layout");

#endif
