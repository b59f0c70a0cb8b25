/* Parsers for the string forms of sandbox options; see nook/parse.h. */
#include <nook/parse.h>

#include "util/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

/* The resource numbers below are Linux's generic numbering, which x86 uses;
 * check it against the host's headers where they are known to agree. */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
_Static_assert(RLIMIT_CPU == 0 && RLIMIT_FSIZE == 1 && RLIMIT_DATA == 2 && RLIMIT_STACK == 3 &&
		       RLIMIT_CORE == 4 && RLIMIT_RSS == 5 && RLIMIT_NPROC == 6 &&
		       RLIMIT_NOFILE == 7 && RLIMIT_MEMLOCK == 8 && RLIMIT_AS == 9 &&
		       RLIMIT_LOCKS == 10 && RLIMIT_SIGPENDING == 11 && RLIMIT_MSGQUEUE == 12 &&
		       RLIMIT_NICE == 13 && RLIMIT_RTPRIO == 14 && RLIMIT_RTTIME == 15,
	       "unexpected RLIMIT_* numbering");
#endif
_Static_assert(sizeof(rlim_t) != sizeof(uint64_t) || (uint64_t)RLIM_INFINITY == NOOK_RLIM_INFINITY,
	       "RLIM_INFINITY is not all ones");

/* ------------------------------------------------------------------------
 * Error helpers
 * ------------------------------------------------------------------------ */

/* A malloc'd copy of s with non-printable bytes, '"' and '\\' escaped, so
 * that the input can be shown between quotes; NULL when out of memory. */
static char *escape(const char *s, size_t len)
{
	char *buf = malloc(len * 4 + 1);
	if (!buf)
		return NULL;
	char *p = buf;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '\t': *p++ = '\\'; *p++ = 't'; break;
		case '\n': *p++ = '\\'; *p++ = 'n'; break;
		case '\r': *p++ = '\\'; *p++ = 'r'; break;
		case '"': *p++ = '\\'; *p++ = '"'; break;
		case '\\': *p++ = '\\'; *p++ = '\\'; break;
		default:
			if (c < 0x20 || c >= 0x7f)
				p += sprintf(p, "\\x%02x", c);
			else
				*p++ = (char)c;
		}
	}
	*p = '\0';
	return buf;
}

/* Records `WHAT "INPUT": DETAIL` and returns -code. */
static int fail(nook_error **err, int code, const char *what, const char *input,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(nook_error **err, int code, const char *what, const char *input,
		const char *fmt, ...)
{
	if (!err || *err)
		return code < 0 ? code : -code;
	char *detail = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&detail, fmt, ap);
	va_end(ap);
	if (n < 0)
		return error_set(err, ENOMEM, "out of memory");
	char *quoted = escape(input, strlen(input));
	int ret = error_set(err, code, "%s \"%s\": %s", what, quoted ? quoted : input, detail);
	free(quoted);
	free(detail);
	return ret;
}

/* Quotes a part of the input for use inside a detail message, into a
 * buffer that lives as long as the enclosing block (a compound literal, see
 * PART). Very long parts are cut; the whole input is always quoted in full
 * by fail(). */
struct part_buf {
	char s[96];
};

static const char *part(struct part_buf *b, const char *s, size_t len)
{
	char *q = escape(s, len);
	if (!q)
		snprintf(b->s, sizeof(b->s), "\"%.*s\"", (int)(len > 80 ? 80 : len), s);
	else if (strlen(q) > 80)
		snprintf(b->s, sizeof(b->s), "\"%.77s...\"", q);
	else
		snprintf(b->s, sizeof(b->s), "\"%s\"", q);
	free(q);
	return b->s;
}

#define PART(p, n) part(&(struct part_buf){{0}}, (p), (n))

static int null_input(nook_error **err, const char *what)
{
	return error_set(err, EINVAL, "%s: no value given (NULL)", what);
}

/* ------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------ */

/* Parses s[0..len) as an unsigned decimal number: digits only. Returns 0,
 * -EINVAL (empty or not all digits) or -ERANGE (more than max). */
static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	if (len == 0)
		return -EINVAL;
	uint64_t v = 0;
	bool over = false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned int d = (unsigned int)(s[i] - '0');
		if (v > (max - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	if (over)
		return -ERANGE;
	*out = v;
	return 0;
}

static size_t count_char(const char *s, size_t len, char c)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += s[i] == c;
	return n;
}

/* ------------------------------------------------------------------------
 * IPv4
 * ------------------------------------------------------------------------ */

/* Parses s[0..len) as a strict dotted quad into *out (host byte order).
 * On failure returns -EINVAL/-ERANGE and writes the reason to why. */
static int ipv4_span(const char *s, size_t len, uint32_t *out, char *why, size_t whylen)
{
	if (len == 0) {
		snprintf(why, whylen, "address is empty");
		return -EINVAL;
	}
	size_t dots = count_char(s, len, '.');
	if (dots != 3) {
		snprintf(why, whylen, "expected 4 dot-separated numbers (A.B.C.D), found %zu parts",
			 dots + 1);
		return -EINVAL;
	}
	uint32_t addr = 0;
	const char *p = s, *end = s + len;
	for (int i = 0; i < 4; i++) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);
		uint64_t v;
		if (n == 0) {
			snprintf(why, whylen, "part %d is empty", i + 1);
			return -EINVAL;
		}
		int r = parse_u64(p, n, 255, &v);
		if (r == -EINVAL) {
			snprintf(why, whylen, "part %s is not a decimal number", PART(p, n));
			return r;
		}
		if (r == -ERANGE) {
			snprintf(why, whylen, "part %s is larger than 255", PART(p, n));
			return r;
		}
		if (n > 1 && p[0] == '0') {
			snprintf(why, whylen,
				 "part %s has a leading zero (which some parsers read as octal)",
				 PART(p, n));
			return -EINVAL;
		}
		addr = addr << 8 | (uint32_t)v;
		p += n + 1;
	}
	*out = addr;
	return 0;
}

int nook_parse_ipv4(const char *s, struct in_addr *out, nook_error **err)
{
	if (!s)
		return null_input(err, "IPv4 address");
	char why[160];
	uint32_t a;
	int r = ipv4_span(s, strlen(s), &a, why, sizeof(why));
	if (r < 0)
		return fail(err, r, "IPv4 address", s, "%s", why);
	out->s_addr = htonl(a);
	return 0;
}

static uint32_t prefix_mask(unsigned int prefix)
{
	return prefix == 0 ? 0 : UINT32_MAX << (32 - prefix);
}

int nook_parse_ipv4_subnet(const char *s, struct nook_ipv4_subnet *out, nook_error **err)
{
	static const char what[] = "subnet";
	if (!s)
		return null_input(err, what);
	const char *slash = strchr(s, '/');
	if (!slash)
		return fail(err, EINVAL, what, s, "missing \"/PREFIX\" (expected A.B.C.D/PREFIX, e.g. 10.0.0.0/24)");
	char why[160];
	uint32_t a;
	int r = ipv4_span(s, (size_t)(slash - s), &a, why, sizeof(why));
	if (r < 0)
		return fail(err, r, what, s, "%s", why);
	const char *ps = slash + 1;
	size_t plen = strlen(ps);
	uint64_t prefix;
	if (plen == 0)
		return fail(err, EINVAL, what, s, "prefix length after '/' is empty");
	r = parse_u64(ps, plen, 32, &prefix);
	if (r == -EINVAL)
		return fail(err, EINVAL, what, s, "prefix length %s is not a decimal number",
			    PART(ps, plen));
	if (r == -ERANGE)
		return fail(err, ERANGE, what, s, "prefix length %s is out of range 0..32",
			    PART(ps, plen));
	uint32_t mask = prefix_mask((unsigned int)prefix);
	out->addr.s_addr = htonl(a);
	out->network.s_addr = htonl(a & mask);
	out->netmask.s_addr = htonl(mask);
	out->prefix = (unsigned int)prefix;
	return 0;
}

/* ------------------------------------------------------------------------
 * Path pairs
 * ------------------------------------------------------------------------ */

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

int nook_parse_path_pair(const char *s, struct nook_path_pair *out, nook_error **err)
{
	static const char what[] = "path mapping";
	if (!s)
		return null_input(err, what);
	size_t len = strlen(s);
	if (len == 0)
		return fail(err, EINVAL, what, s, "empty (expected HOST:GUEST[:ro] or PATH[:ro])");

	bool read_only = false;
	if (ends_with(s, len, ":ro") || ends_with(s, len, ":rw")) {
		read_only = s[len - 1] == 'o';
		len -= 3;
		if (len == 0)
			return fail(err, EINVAL, what, s, "no path before the \":ro\"/\":rw\" suffix");
	}

	size_t colons = count_char(s, len, ':');
	if (colons > 1)
		return fail(err, EINVAL, what, s,
			    "too many ':' (expected HOST:GUEST[:ro|:rw]; paths cannot contain ':')");

	const char *host = s, *guest = s;
	size_t host_len = len, guest_len = len;
	if (colons == 1) {
		const char *colon = memchr(s, ':', len);
		host_len = (size_t)(colon - s);
		guest = colon + 1;
		guest_len = len - host_len - 1;
		if (host_len == 0)
			return fail(err, EINVAL, what, s, "host path is empty");
		if (guest_len == 0)
			return fail(err, EINVAL, what, s, "guest path is empty");
		if (guest[0] != '/')
			return fail(err, EINVAL, what, s, "guest path %s is not absolute",
				    PART(guest, guest_len));
	} else if (s[0] != '/') {
		return fail(err, EINVAL, what, s,
			    "a single path is used on both sides and must be absolute "
			    "(for a relative host path use HOST:GUEST)");
	}

	char *h = strndup(host, host_len);
	char *g = strndup(guest, guest_len);
	if (!h || !g) {
		free(h);
		free(g);
		return error_set(err, ENOMEM, "%s: out of memory", what);
	}
	out->host = h;
	out->guest = g;
	out->read_only = read_only;
	return 0;
}

void nook_path_pair_clear(struct nook_path_pair *pair)
{
	if (!pair)
		return;
	free(pair->host);
	free(pair->guest);
	memset(pair, 0, sizeof(*pair));
}

/* ------------------------------------------------------------------------
 * Port pairs
 * ------------------------------------------------------------------------ */

/* Parses one port field of a port mapping, reporting errors against s. */
static int port_field(const char *s, const char *which, const char *p, size_t n, uint16_t *out,
		      nook_error **err)
{
	static const char what[] = "port mapping";
	uint64_t v;
	if (n == 0)
		return fail(err, EINVAL, what, s, "%s port is empty", which);
	int r = parse_u64(p, n, 65535, &v);
	if (r == -EINVAL)
		return fail(err, EINVAL, what, s, "%s port %s is not a decimal number", which,
			    PART(p, n));
	if (r == -ERANGE || v == 0)
		return fail(err, ERANGE, what, s, "%s port %s is out of range 1..65535", which,
			    PART(p, n));
	*out = (uint16_t)v;
	return 0;
}

int nook_parse_port_pair(const char *s, struct nook_port_pair *out, nook_error **err)
{
	static const char what[] = "port mapping";
	if (!s)
		return null_input(err, what);
	size_t len = strlen(s);
	if (len == 0)
		return fail(err, EINVAL, what, s,
			    "empty (expected [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp] or PORT)");

	struct nook_port_pair pp = {
		.host_ip = {htonl(NOOK_PORT_DEFAULT_HOST_IP)},
		.protocol = NOOK_PORT_PROTOCOL_TCP,
	};

	const char *slash = memchr(s, '/', len);
	if (slash) {
		const char *proto = slash + 1;
		size_t plen = len - (size_t)(proto - s);
		if (plen == 3 && strncasecmp(proto, "tcp", 3) == 0)
			pp.protocol = NOOK_PORT_PROTOCOL_TCP;
		else if (plen == 3 && strncasecmp(proto, "udp", 3) == 0)
			pp.protocol = NOOK_PORT_PROTOCOL_UDP;
		else
			return fail(err, EINVAL, what, s, "protocol %s is not \"tcp\" or \"udp\"",
				    PART(proto, plen));
		len = (size_t)(slash - s);
	}

	size_t colons = count_char(s, len, ':');
	const char *p = s, *end = s + len;
	if (colons > 2)
		return fail(err, EINVAL, what, s,
			    "too many ':' (expected [HOST_IP:]HOST_PORT:GUEST_PORT)");
	if (colons == 2) {
		const char *c = memchr(p, ':', len);
		char why[160];
		uint32_t a;
		int r = ipv4_span(p, (size_t)(c - p), &a, why, sizeof(why));
		if (r < 0)
			return fail(err, r, what, s, "host IP %s: %s", PART(p, (size_t)(c - p)), why);
		pp.host_ip.s_addr = htonl(a);
		p = c + 1;
	}
	if (colons >= 1) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		int r = port_field(s, "host", p, (size_t)(c - p), &pp.host_port, err);
		if (r < 0)
			return r;
		r = port_field(s, "guest", c + 1, (size_t)(end - c - 1), &pp.guest_port, err);
		if (r < 0)
			return r;
	} else {
		int r = port_field(s, "host", p, len, &pp.host_port, err);
		if (r < 0)
			return r;
		pp.guest_port = pp.host_port;
	}
	*out = pp;
	return 0;
}

/* ------------------------------------------------------------------------
 * Environment pairs
 * ------------------------------------------------------------------------ */

int nook_parse_env_pair(const char *s, struct nook_env_pair *out, nook_error **err)
{
	static const char what[] = "environment variable";
	if (!s)
		return null_input(err, what);
	const char *eq = strchr(s, '=');
	if (!eq)
		return fail(err, EINVAL, what, s, "missing '=' (expected KEY=VALUE)");
	if (eq == s)
		return fail(err, EINVAL, what, s, "name before '=' is empty");
	char *k = strndup(s, (size_t)(eq - s));
	char *v = strdup(eq + 1);
	if (!k || !v) {
		free(k);
		free(v);
		return error_set(err, ENOMEM, "%s: out of memory", what);
	}
	out->key = k;
	out->value = v;
	return 0;
}

void nook_env_pair_clear(struct nook_env_pair *pair)
{
	if (!pair)
		return;
	free(pair->key);
	free(pair->value);
	memset(pair, 0, sizeof(*pair));
}

/* ------------------------------------------------------------------------
 * Resource limits
 * ------------------------------------------------------------------------ */

#define RLIMIT_PREFIX "RLIMIT_"
#define RLIMIT_PREFIX_LEN (sizeof(RLIMIT_PREFIX) - 1)

/* Looks up s[0..len) as a name with or without the prefix; exact case, or
 * ignoring case when nocase is set. Returns the resource or -1. */
static int rlimit_lookup(const char *s, size_t len, bool nocase)
{
	int (*cmp)(const char *, const char *, size_t) = nocase ? strncasecmp : strncmp;
	if (len > RLIMIT_PREFIX_LEN && cmp(s, RLIMIT_PREFIX, RLIMIT_PREFIX_LEN) == 0) {
		s += RLIMIT_PREFIX_LEN;
		len -= RLIMIT_PREFIX_LEN;
	}
	for (int i = 0; i < NOOK_RLIMIT_COUNT; i++) {
		const char *name = nook_rlimit_name(i) + RLIMIT_PREFIX_LEN;
		if (strlen(name) == len && cmp(s, name, len) == 0)
			return i;
	}
	return -1;
}

/* Parses the resource part s[0..len) of input; errors name `input`. */
static int rlimit_resource_span(const char *what, const char *input, const char *s, size_t len,
				int *resource, nook_error **err)
{
	if (len == 0)
		return fail(err, EINVAL, what, input, "resource name is empty");
	if (s[0] >= '0' && s[0] <= '9') {
		uint64_t v;
		int r = parse_u64(s, len, UINT64_MAX, &v);
		if (r == -EINVAL)
			return fail(err, EINVAL, what, input, "resource %s is not a name or a number",
				    PART(s, len));
		if (r == -ERANGE || v >= NOOK_RLIMIT_COUNT)
			return fail(err, ERANGE, what, input,
				    "resource number %s is out of range 0..%d", PART(s, len),
				    NOOK_RLIMIT_COUNT - 1);
		*resource = (int)v;
		return 0;
	}
	int i = rlimit_lookup(s, len, false);
	if (i >= 0) {
		*resource = i;
		return 0;
	}
	i = rlimit_lookup(s, len, true);
	if (i >= 0)
		return fail(err, EINVAL, what, input,
			    "unknown resource %s (names are upper case: %s)", PART(s, len),
			    nook_rlimit_name(i));
	return fail(err, EINVAL, what, input,
		    "unknown resource %s (expected a name such as RLIMIT_NOFILE or NOFILE, "
		    "or a number 0..%d)",
		    PART(s, len), NOOK_RLIMIT_COUNT - 1);
}

int nook_parse_rlimit_resource(const char *s, int *resource, nook_error **err)
{
	static const char what[] = "rlimit resource";
	if (!s)
		return null_input(err, what);
	return rlimit_resource_span(what, s, s, strlen(s), resource, err);
}

static int rlimit_value(const char *input, const char *which, const char *p, size_t n,
			uint64_t *out, nook_error **err)
{
	static const char what[] = "rlimit";
	if (n == 0)
		return fail(err, EINVAL, what, input, "%s limit is empty", which);
	if (n == 9 && memcmp(p, "unlimited", 9) == 0) {
		*out = NOOK_RLIM_INFINITY;
		return 0;
	}
	int r = parse_u64(p, n, UINT64_MAX, out);
	if (r == -EINVAL)
		return fail(err, EINVAL, what, input,
			    "%s limit %s is not a decimal number or \"unlimited\"", which,
			    PART(p, n));
	if (r == -ERANGE)
		return fail(err, ERANGE, what, input,
			    "%s limit %s does not fit in 64 bits (use \"unlimited\")", which,
			    PART(p, n));
	return 0;
}

int nook_parse_rlimit(const char *s, struct nook_rlimit *out, nook_error **err)
{
	static const char what[] = "rlimit";
	if (!s)
		return null_input(err, what);
	if (!*s)
		return fail(err, EINVAL, what, s, "empty (expected RESOURCE=SOFT:HARD)");
	const char *eq = strchr(s, '=');
	if (!eq)
		return fail(err, EINVAL, what, s, "missing '=' (expected RESOURCE=SOFT:HARD)");

	struct nook_rlimit rl;
	int r = rlimit_resource_span(what, s, s, (size_t)(eq - s), &rl.resource, err);
	if (r < 0)
		return r;

	const char *v = eq + 1;
	size_t vlen = strlen(v);
	size_t colons = count_char(v, vlen, ':');
	if (colons == 0)
		return fail(err, EINVAL, what, s,
			    "expected SOFT:HARD after '=', found a single value "
			    "(write N:N for equal limits)");
	if (colons > 1)
		return fail(err, EINVAL, what, s, "expected SOFT:HARD after '=', found %zu values",
			    colons + 1);
	const char *colon = memchr(v, ':', vlen);
	r = rlimit_value(s, "soft", v, (size_t)(colon - v), &rl.soft, err);
	if (r < 0)
		return r;
	r = rlimit_value(s, "hard", colon + 1, vlen - (size_t)(colon - v) - 1, &rl.hard, err);
	if (r < 0)
		return r;
	if (rl.soft > rl.hard)
		return fail(err, EINVAL, what, s, "soft limit %s is greater than hard limit %s",
			    PART(v, (size_t)(colon - v)),
			    PART(colon + 1, vlen - (size_t)(colon - v) - 1));
	*out = rl;
	return 0;
}

/* ------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------ */

/* The value whose name (name_of(value), NULL past the last) is s, ignoring
 * case; -1 when there is none. */
static int name_lookup(const char *s, const char *(*name_of)(int))
{
	for (int i = 0; name_of(i); i++)
		if (strcasecmp(s, name_of(i)) == 0)
			return i;
	return -1;
}

static const char *scope_name(int i)
{
	return nook_network_scope_name((enum nook_network_scope)i);
}

static const char *log_level_name(int i)
{
	return nook_log_level_name((enum nook_log_level)i);
}

int nook_parse_network_scope(const char *s, enum nook_network_scope *out, nook_error **err)
{
	static const char what[] = "network scope";
	if (!s)
		return null_input(err, what);
	int i = name_lookup(s, scope_name);
	if (i < 0)
		return fail(err, EINVAL, what, s,
			    "unknown scope (expected none, group, public or any)");
	*out = (enum nook_network_scope)i;
	return 0;
}

int nook_parse_log_level(const char *s, enum nook_log_level *out, nook_error **err)
{
	static const char what[] = "log level";
	if (!s)
		return null_input(err, what);
	int i = name_lookup(s, log_level_name);
	if (i < 0)
		return fail(err, EINVAL, what, s,
			    "unknown level (expected off, error, warn, info, debug or trace)");
	*out = (enum nook_log_level)i;
	return 0;
}
