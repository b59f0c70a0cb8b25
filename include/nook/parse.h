/* nook: parsers for the string forms of sandbox options.
 *
 * These turn the strings a user types (on the command line, in a config
 * file) into plain values: volume mappings, port mappings, environment
 * pairs, resource limits, network scope and log level names, IPv4
 * addresses and subnets. They depend on nothing but libc and can be used on
 * their own.
 *
 * Conventions (see nook/error.h):
 * - Every parser returns 0 on success and a negative errno value on
 *   failure: -EINVAL for malformed input, -ERANGE for a number outside its
 *   allowed range, -ENOMEM when memory runs out.
 * - On failure, *err (when err is non-NULL) receives an error whose message
 *   quotes the input and says what is wrong, e.g.
 *       port mapping "8080:0": guest port "0" is out of range 1..65535
 *   Characters that are not printable ASCII are shown escaped (\t, \n,
 *   \xNN) inside the quotes.
 * - On failure the output is left untouched. Nothing is printed, nothing
 *   exits, there is no global state.
 * - Input strings are never trimmed: surrounding white space is part of the
 *   value and usually makes it invalid (" 80" is not a port).
 * - A NULL input string is rejected with -EINVAL.
 *
 * Numbers (ports, rlimit values, resource numbers, CIDR prefixes) are
 * unsigned decimal: digits only, no sign, no white space, no "0x"; leading
 * zeros are allowed there and read as decimal ("080" is 80). IPv4 address
 * parts are stricter, see nook_parse_ipv4().
 */
#ifndef NOOK_PARSE_H
#define NOOK_PARSE_H

#include <nook/api.h>
#include <nook/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Path pairs (mapped directories / volumes)
 *
 *   HOST:GUEST[:ro|:rw]     e.g. "/data:/mnt/data", "./:/app:ro"
 *   PATH[:ro|:rw]           same path on both sides, e.g. "/shared"
 *
 * HOST must be non-empty and may be relative (it is resolved later, by the
 * caller, against its working directory). GUEST must be absolute (start
 * with '/'); in the one-path form the path is the guest path too, so it
 * must be absolute. A trailing ":ro" makes the mapping read-only, ":rw"
 * (the default) read-write; these suffixes are lower case only. Apart from
 * that suffix a ':' separates host from guest, so paths that contain ':'
 * cannot be expressed and more than one separator is rejected.
 * No path is checked against the file system here.
 * ------------------------------------------------------------------------ */
NOOK_API int nook_parse_path_pair(const char *s, struct nook_path_pair *out, nook_error **err);
/* Frees the strings of a parsed pair and zeroes it; NULL is allowed. */
NOOK_API void nook_path_pair_clear(struct nook_path_pair *pair);

/* ------------------------------------------------------------------------
 * Port pairs (port forwards from the host into the guest)
 *
 *   [HOST_IP:]HOST_PORT:GUEST_PORT[/PROTO]   e.g. "8080:80", "127.0.0.1:53:53/udp"
 *   PORT[/PROTO]                             same port on both sides, e.g. "3000"
 *
 * Ports are 1..65535. PROTO is "tcp" (the default) or "udp", in any case.
 * HOST_IP is a strict dotted-quad IPv4 address (see nook_parse_ipv4()) and
 * defaults to 127.0.0.1 (NOOK_PORT_DEFAULT_HOST_IP): a forward is reachable
 * from the host's loopback only unless another address (such as 0.0.0.0)
 * is given. Unlike docker, an empty host port ("ip::80", random port) is
 * not supported.
 * ------------------------------------------------------------------------ */
NOOK_API int nook_parse_port_pair(const char *s, struct nook_port_pair *out, nook_error **err);

/* ------------------------------------------------------------------------
 * Environment pairs
 *
 *   KEY=VALUE     split at the first '=': the value may contain '=' and
 *                 may be empty ("A=" sets A to "").
 *
 * The key must be non-empty. No further rules are applied to the key (it
 * is passed to the guest program as is, as the reference implementation
 * does): "1X=y" or "A-B=c" are accepted, and white space is kept.
 * ------------------------------------------------------------------------ */
NOOK_API int nook_parse_env_pair(const char *s, struct nook_env_pair *out, nook_error **err);
/* Frees the strings of a parsed pair and zeroes it; NULL is allowed. */
NOOK_API void nook_env_pair_clear(struct nook_env_pair *pair);

/* ------------------------------------------------------------------------
 * Resource limits (applied to the program in the guest)
 *
 *   RESOURCE=SOFT:HARD     e.g. "RLIMIT_NOFILE=1024:2048", "NOFILE=1024:2048",
 *                          "7=1024:2048", "RLIMIT_CORE=0:unlimited"
 *
 * RESOURCE is a Linux resource name, with or without the "RLIMIT_" prefix,
 * in upper case exactly as in <sys/resource.h> (names are case-sensitive,
 * like the reference implementation), or its number 0..15 in Linux's
 * generic/x86 numbering (the guest's): CPU 0, FSIZE 1, DATA 2, STACK 3,
 * CORE 4, RSS 5, NPROC 6, NOFILE 7, MEMLOCK 8, AS 9, LOCKS 10,
 * SIGPENDING 11, MSGQUEUE 12, NICE 13, RTPRIO 14, RTTIME 15.
 * Both limits are required (a single value is rejected, as in the
 * reference implementation). Each is an unsigned 64-bit decimal number or
 * the word "unlimited" (NOOK_RLIM_INFINITY); SOFT must not exceed HARD.
 * ------------------------------------------------------------------------ */

NOOK_API int nook_parse_rlimit(const char *s, struct nook_rlimit *out, nook_error **err);
/* Only the RESOURCE part: "RLIMIT_NOFILE", "NOFILE" or "7". */
NOOK_API int nook_parse_rlimit_resource(const char *s, int *resource, nook_error **err);

/* ------------------------------------------------------------------------
 * Network scope: which addresses the guest may talk to.
 *   "none"    no network traffic to other sandboxes
 *   "group"   only addresses inside the sandbox's subnet (the default)
 *   "public"  any address that is not private
 *   "any"     any address
 * Names are matched case-insensitively ("Public" is accepted); the names
 * returned are lower case.
 * ------------------------------------------------------------------------ */
NOOK_API int nook_parse_network_scope(const char *s, enum nook_network_scope *out, nook_error **err);

/* ------------------------------------------------------------------------
 * Log level: "off" (the default), "error", "warn", "info", "debug",
 * "trace"; each level includes the ones before it. Matched
 * case-insensitively; the names returned are lower case.
 * ------------------------------------------------------------------------ */

NOOK_API int nook_parse_log_level(const char *s, enum nook_log_level *out, nook_error **err);

/* ------------------------------------------------------------------------
 * IPv4 addresses and subnets
 *
 * An address is a strict dotted quad "A.B.C.D": exactly four parts, each
 * 0..255 in decimal, nothing before or after. A part with a leading zero
 * ("01.2.3.4", "1.2.3.00") is rejected: inet_aton() would read it as octal,
 * so its meaning is ambiguous. Short forms ("10.1", "127.1") and hex are
 * rejected too.
 *
 * A subnet is "A.B.C.D/PREFIX" with PREFIX 0..32; the prefix is required
 * (a bare address is rejected). Following the reference implementation
 * (Rust ipnetwork), host bits may be set: "10.0.0.5/24" is accepted and
 * means the network 10.0.0.0/24; the address as written is kept in .addr.
 * ------------------------------------------------------------------------ */
NOOK_API int nook_parse_ipv4(const char *s, struct in_addr *out, nook_error **err);
NOOK_API int nook_parse_ipv4_subnet(const char *s, struct nook_ipv4_subnet *out, nook_error **err);

#ifdef __cplusplus
}
#endif
#endif
