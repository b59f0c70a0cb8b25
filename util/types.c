/* The names and helpers of the shared value types (nook/types.h). */
#include <nook/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>

#include "util/error.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

bool nook_ipv4_subnet_contains(const struct nook_ipv4_subnet *subnet, struct in_addr addr)
{
	unsigned prefix = subnet->prefix > 32 ? 32 : subnet->prefix;
	uint32_t mask = prefix ? ~UINT32_C(0) << (32 - prefix) : 0;
	return (ntohl(addr.s_addr) & mask) == (ntohl(subnet->network.s_addr) & mask);
}

int nook_ipv4_check_in_subnet(struct in_addr addr, const struct nook_ipv4_subnet *subnet,
			      nook_error **err)
{
	if (nook_ipv4_subnet_contains(subnet, addr))
		return 0;
	char a[INET_ADDRSTRLEN], n[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &addr, a, sizeof(a));
	inet_ntop(AF_INET, &subnet->network, n, sizeof(n));
	return error_set(err, EINVAL, "address %s is not inside subnet %s/%u", a, n,
			      subnet->prefix);
}

static const char *const protocol_names[] = {
	[NOOK_PORT_PROTOCOL_TCP] = "tcp",
	[NOOK_PORT_PROTOCOL_UDP] = "udp",
};

const char *nook_port_protocol_name(enum nook_port_protocol protocol)
{
	if ((unsigned int)protocol >= COUNT(protocol_names))
		return NULL;
	return protocol_names[protocol];
}

static const char *const rlimit_names[NOOK_RLIMIT_COUNT] = {
	"RLIMIT_CPU",	 "RLIMIT_FSIZE",      "RLIMIT_DATA",	 "RLIMIT_STACK",
	"RLIMIT_CORE",	 "RLIMIT_RSS",	      "RLIMIT_NPROC",	 "RLIMIT_NOFILE",
	"RLIMIT_MEMLOCK", "RLIMIT_AS",	      "RLIMIT_LOCKS",	 "RLIMIT_SIGPENDING",
	"RLIMIT_MSGQUEUE", "RLIMIT_NICE",     "RLIMIT_RTPRIO",	 "RLIMIT_RTTIME",
};

const char *nook_rlimit_name(int resource)
{
	if (resource < 0 || resource >= NOOK_RLIMIT_COUNT)
		return NULL;
	return rlimit_names[resource];
}

static const char *const scope_names[] = {
	[NOOK_NETWORK_SCOPE_NONE] = "none",
	[NOOK_NETWORK_SCOPE_GROUP] = "group",
	[NOOK_NETWORK_SCOPE_PUBLIC] = "public",
	[NOOK_NETWORK_SCOPE_ANY] = "any",
};

static const char *const log_level_names[] = {
	[NOOK_LOG_OFF] = "off",	  [NOOK_LOG_ERROR] = "error", [NOOK_LOG_WARN] = "warn",
	[NOOK_LOG_INFO] = "info", [NOOK_LOG_DEBUG] = "debug", [NOOK_LOG_TRACE] = "trace",
};

const char *nook_network_scope_name(enum nook_network_scope scope)
{
	return (unsigned int)scope < COUNT(scope_names) ? scope_names[scope] : NULL;
}

const char *nook_log_level_name(enum nook_log_level level)
{
	return (unsigned int)level < COUNT(log_level_names) ? log_level_names[level] : NULL;
}
