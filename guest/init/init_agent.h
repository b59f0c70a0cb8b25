/* The exec agent (guest/agent_protocol.h): a process nook-init forks after
 * setting up the run, which accepts host connections on a vsock port and
 * forks one handler per connection to run a program and relay its stdio. */
#ifndef NOOK_GUEST_INIT_AGENT_H
#define NOOK_GUEST_INIT_AGENT_H

#include <stdint.h>

/* A vsock socket listening on `port` (any CID), close-on-exec. nook-init
 * opens it itself, so that the agent listens before the host hears that
 * the program started. Returns the fd or -errno. */
int init_agent_listen(uint32_t port);

/* The agent process: accepts connections on `listen_fd` and serves each
 * in a handler process of its own, reaping them. Never returns. */
_Noreturn void init_agent_main(int listen_fd);

/* A handler: serves one exec on the connected socket `sock` (blocking; it
 * is made non-blocking here) and exits. */
_Noreturn void init_agent_serve(int sock);

#endif
