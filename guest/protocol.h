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
};

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

#endif
