/* The contract between a host exec client (vm/exec.c, nook/exec.h) and the
 * exec agent that nook-init starts in the guest (guest/init/init_agent.c).
 *
 * Transport: a vsock stream to the guest's port NOOK_AGENT_PORT (given to
 * nook-init in the CONFIG record NOOK_TAG_AGENT, guest/protocol.h), reached
 * from the host through the VM's vsock UNIX socket ("CONNECT P\n",
 * backends/vsock/unix.h). One connection is one exec: the agent forks a
 * handler per connection, which runs one program and ends.
 *
 * Both directions are a stream of frames, each a struct nook_agent_frame
 * and `length` bytes of payload. All integers little-endian.
 *
 * Host -> guest:
 *   EXEC first and once: records in the CONFIG style (struct
 *     nook_record_header, guest/protocol.h): NOOK_TAG_EXEC_PATH (argv[0],
 *     a path or a name looked up in PATH; required), ARG, ENV, WORKDIR,
 *     RLIMIT, USER ("USER[:GROUP]"; without it root) and TTY
 *     (struct nook_record_tty; without it pipes). At most
 *     NOOK_AGENT_EXEC_MAX bytes. Anything else is refused with ERROR.
 *   STDIN: bytes for the program's stdin; length 0 is end of file (on a
 *     terminal: the EOF character, ^D). Data after it is dropped.
 *   SIGNAL: u32, a signal for the program's process group.
 *   WINSIZE: struct nook_agent_winsize, the terminal's new size (ignored
 *     without a terminal).
 *   These are handled in order: a program that does not read its stdin
 *   holds up the SIGNAL and WINSIZE frames queued behind more stdin than
 *   the buffers hold (about 256 KiB).
 * Guest -> host:
 *   STDOUT, STDERR: the program's output (a terminal's is all STDOUT).
 *   EXIT: u32, the program's status 0..255: its exit code, 128 + N when
 *     signal N killed it; 127 not found, 126 found but not executable, 125
 *     a failure setting it up in the child (rlimit, user, workdir; a
 *     "nook-init: ..." line on its stderr says which). It comes after all
 *     of the program's output, once the program has exited and its output
 *     is at end of file, or NOOK_AGENT_DRAIN_MS after it exited (children
 *     it left behind may hold its output open). It is the last frame.
 *   ERROR: text, why the handler could not start the program at all (a
 *     malformed request, no terminal); the last frame, instead of EXIT.
 * The host closing the connection before EXIT kills the program's process
 * group. The handler's buffers are bounded both ways: it stops reading the
 * connection while the program's stdin is full, and stops reading the
 * program's output while the connection is. */
#ifndef NOOK_GUEST_AGENT_PROTOCOL_H
#define NOOK_GUEST_AGENT_PROTOCOL_H

#include <stdint.h>

/* "nook" in ASCII: far from the ports people pick. */
#define NOOK_AGENT_PORT 0x6e6f6f6bu

struct nook_agent_frame {
	uint32_t type;   /* enum nook_agent_frame_type */
	uint32_t length; /* bytes of payload that follow */
};

enum nook_agent_frame_type {
	/* host -> guest */
	NOOK_AGENT_EXEC = 1,
	NOOK_AGENT_STDIN = 2,
	NOOK_AGENT_SIGNAL = 3,
	NOOK_AGENT_WINSIZE = 4,
	/* guest -> host */
	NOOK_AGENT_STDOUT = 16,
	NOOK_AGENT_STDERR = 17,
	NOOK_AGENT_EXIT = 18,
	NOOK_AGENT_ERROR = 19,
};

/* The largest STDIN, STDOUT or STDERR payload. */
#define NOOK_AGENT_DATA_MAX 65536u
/* The largest EXEC request and ERROR text. */
#define NOOK_AGENT_EXEC_MAX (1u << 20)
#define NOOK_AGENT_ERROR_MAX 4096u
/* How long the handler waits for the program's output to end after the
 * program exited. */
#define NOOK_AGENT_DRAIN_MS 500

struct nook_agent_winsize {
	uint16_t rows, cols;
};

_Static_assert(sizeof(struct nook_agent_frame) == 8, "agent frame header layout");
_Static_assert(sizeof(struct nook_agent_winsize) == 4, "winsize layout");

#endif
