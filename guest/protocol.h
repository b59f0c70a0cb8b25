/* The contract between the nook VMM and nook-init, the guest's PID 1.
 *
 * Config file: the VMM packs it into the generated initramfs at
 * NOOK_INIT_CONFIG_PATH. It is a sequence of records, each
 *     u32 tag, u32 length, `length` bytes of value
 * all little-endian, with no padding. Strings are not NUL-terminated in the
 * file (their length is the record's). The order of ARG and ENV records is
 * the order of argv and environ. Unknown tags are an error, so that an older
 * init never silently ignores a setting.
 *
 * Paravirtual port: nook-init writes 32-bit values to NOOK_PORT with `outl`
 * (after ioperm()); each value is (event << 24) | argument.
 */
#ifndef NOOK_GUEST_PROTOCOL_H
#define NOOK_GUEST_PROTOCOL_H

#define NOOK_INIT_PATH "/init.nook"
#define NOOK_INIT_CONFIG_PATH "/nook/config"

enum nook_init_tag {
	NOOK_TAG_EXEC_PATH = 1, /* program to run: a path, or a name looked up in PATH */
	NOOK_TAG_ARG = 2,       /* one argv entry after argv[0] */
	NOOK_TAG_ENV = 3,       /* one KEY=VALUE */
	NOOK_TAG_WORKDIR = 4,   /* directory to chdir to before exec */
	NOOK_TAG_RLIMIT = 5,    /* u32 resource, u64 soft, u64 hard (RLIM_INFINITY = ~0) */
	/* The root: a virtio-fs tag mounted read-write, or an overlay of
	 * read-only lower tags (repeatable, bottom first) under an upper tag
	 * (its directory "upper" holds the writes and "work" is overlayfs's
	 * work dir) or, without one, under a tmpfs. Neither: the initramfs. */
	NOOK_TAG_ROOT = 6,
	NOOK_TAG_ROOT_LOWER = 7,
	NOOK_TAG_ROOT_UPPER = 8,
	/* A virtio-fs share: u32 flags (NOOK_MOUNT_*), u32 tag length, the tag,
	 * then the absolute guest path (the rest). */
	NOOK_TAG_MOUNT = 9,
	/* 10..15: file systems; 16..31: network. */
	/* A network interface to configure, found by its MAC: mac[6], u8 mode
	 * (NOOK_NET_*), u8 prefix length, then the IPv4 address, gateway (0:
	 * no default route) and DNS server (0: none), 4 bytes each in network
	 * byte order (NOOK_NET_RECORD_SIZE bytes). */
	NOOK_TAG_NET = 16,
};

#define NOOK_MOUNT_READ_ONLY 1u
/* The share holds one file, NOOK_MOUNT_FILE_ENTRY, to bind at the path. */
#define NOOK_MOUNT_FILE 2u
#define NOOK_MOUNT_FILE_ENTRY "file"
/* Directories of an overlay upper tag. */
#define NOOK_OVERLAY_UPPER_DIR "upper"
#define NOOK_OVERLAY_WORK_DIR "work"

enum nook_net_mode {
	NOOK_NET_UP = 0,     /* link up only */
	NOOK_NET_STATIC = 1, /* the record's address, route and DNS */
	NOOK_NET_DHCP = 2,   /* ask a DHCP server (passt, gvproxy) */
};
#define NOOK_NET_RECORD_SIZE 20

#define NOOK_PORT 0x7e0

enum nook_port_event {
	NOOK_EVENT_USERSPACE_STARTED = 1, /* nook-init's first instruction; arg 0 */
	NOOK_EVENT_PROGRAM_STARTED = 2,   /* just before exec of the program; arg 0 */
	NOOK_EVENT_EXIT_STATUS = 3,       /* arg: the program's status, 0..255; ends the VM */
	NOOK_EVENT_INIT_FAILED = 4,       /* arg: errno; nook-init could not set up; ends the VM */
};

#define NOOK_PORT_VALUE(event, arg) (((unsigned)(event) << 24) | ((unsigned)(arg) & 0xffffff))

/* Names of the virtio-console ports that carry the program's stdio. */
#define NOOK_PORT_NAME_STDIN "nook.stdin"
#define NOOK_PORT_NAME_STDOUT "nook.stdout"
#define NOOK_PORT_NAME_STDERR "nook.stderr"
/* Host -> guest: each byte is a signal number for the program's process
 * group (how nook_vm_stop() asks the program to end). */
#define NOOK_PORT_NAME_CONTROL "nook.control"

#endif
