/* nook: the value types that the configuration APIs (nook/vm.h,
 * nook/microvm.h) and the string parsers (nook/parse.h) share: volume
 * mappings, published ports, environment pairs, resource limits, network
 * scopes and IPv4 subnets, with their names. */
#ifndef NOOK_TYPES_H
#define NOOK_TYPES_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <nook/api.h>
#include <nook/error.h>
#include <nook/log.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A host path shared at a guest path (a volume / mapped directory). */
struct nook_path_pair {
	char *host;     /* malloc'd */
	char *guest;    /* malloc'd */
	bool read_only; /* ":ro" was given */
};

/* A guest port published on the host. */
enum nook_port_protocol {
	NOOK_PORT_PROTOCOL_TCP = 0,
	NOOK_PORT_PROTOCOL_UDP = 1,
};

/* 127.0.0.1 in host byte order: where a published port listens unless told
 * otherwise. */
#define NOOK_PORT_DEFAULT_HOST_IP UINT32_C(0x7f000001)

struct nook_port_pair {
	struct in_addr host_ip; /* network byte order, as always for in_addr */
	uint16_t host_port;
	uint16_t guest_port;
	enum nook_port_protocol protocol;
};

/* "tcp" / "udp"; NULL for a value outside the enum. */
NOOK_API const char *nook_port_protocol_name(enum nook_port_protocol protocol);

/* An environment variable. */
struct nook_env_pair {
	char *key;   /* malloc'd */
	char *value; /* malloc'd */
};

/* A resource limit of the program in the guest. Resources are numbered as
 * in Linux's generic/x86 <sys/resource.h> (the guest's): CPU 0, FSIZE 1,
 * DATA 2, STACK 3, CORE 4, RSS 5, NPROC 6, NOFILE 7, MEMLOCK 8, AS 9,
 * LOCKS 10, SIGPENDING 11, MSGQUEUE 12, NICE 13, RTPRIO 14, RTTIME 15. */

/* Equal to RLIM_INFINITY / RLIM64_INFINITY on 64-bit Linux. */
#define NOOK_RLIM_INFINITY UINT64_MAX
/* Number of resources known (valid numbers are 0 .. NOOK_RLIMIT_COUNT-1). */
#define NOOK_RLIMIT_COUNT 16

struct nook_rlimit {
	int resource;  /* 0 .. NOOK_RLIMIT_COUNT-1, e.g. RLIMIT_NOFILE */
	uint64_t soft; /* rlim_cur; NOOK_RLIM_INFINITY for "unlimited" */
	uint64_t hard; /* rlim_max; NOOK_RLIM_INFINITY for "unlimited" */
};

/* "RLIMIT_NOFILE" for 7, ...; NULL outside 0 .. NOOK_RLIMIT_COUNT-1. */
NOOK_API const char *nook_rlimit_name(int resource);

/* Network scope: which addresses the guest may talk to.
 *   none    no network traffic to other sandboxes
 *   group   only addresses inside the sandbox's subnet (the default)
 *   public  any address that is not private
 *   any     any address */
enum nook_network_scope {
	NOOK_NETWORK_SCOPE_NONE = 0,
	NOOK_NETWORK_SCOPE_GROUP = 1,
	NOOK_NETWORK_SCOPE_PUBLIC = 2,
	NOOK_NETWORK_SCOPE_ANY = 3,
};
#define NOOK_NETWORK_SCOPE_DEFAULT NOOK_NETWORK_SCOPE_GROUP

/* "none", "group", ... (lower case); NULL for a value outside the enum. */
NOOK_API const char *nook_network_scope_name(enum nook_network_scope scope);

/* "off", "error", ... (lower case); NULL for a value outside the enum. */
NOOK_API const char *nook_log_level_name(enum nook_log_level level);

/* An IPv4 subnet. */
struct nook_ipv4_subnet {
	struct in_addr addr;    /* as written (network byte order) */
	struct in_addr network; /* addr with the host bits cleared */
	struct in_addr netmask; /* e.g. 255.255.255.0 for /24 */
	unsigned int prefix;    /* 0..32 */
};

/* True if addr lies inside the subnet (network and broadcast addresses
 * included). */
NOOK_API bool nook_ipv4_subnet_contains(const struct nook_ipv4_subnet *subnet, struct in_addr addr);
/* 0 if addr lies inside the subnet; otherwise -EINVAL with an error that
 * names both, e.g. "address 10.0.1.5 is not inside subnet 10.0.0.0/24". */
NOOK_API int nook_ipv4_check_in_subnet(struct in_addr addr, const struct nook_ipv4_subnet *subnet,
				       nook_error **err);

#ifdef __cplusplus
}
#endif
#endif
