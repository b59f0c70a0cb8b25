/* nook-runtime's messages: stderr, and the --log file in runc's formats
 * (text, or one JSON object a line: level, msg, time). */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/oci.h"

static FILE *log_file;
static bool log_json, log_debug;

void oci_log_open(const char *path, bool json, bool debug)
{
	log_json = json;
	log_debug = debug;
	if (path && !(log_file = fopen(path, "ae")))
		fprintf(stderr, "nook-runtime: --log %s: %m\n", path);
}

static void log_line(const char *level, const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!log_file || !log_json || level[0] == 'e')
		fprintf(stderr, "nook-runtime: %s\n", msg);
	if (!log_file)
		return;
	char when[40];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	if (log_json) {
		fprintf(log_file, "{\"level\":\"%s\",\"msg\":", level);
		json_string(log_file, msg);
		fprintf(log_file, ",\"time\":\"%s\"}\n", when);
	} else {
		fprintf(log_file, "time=\"%s\" level=%s msg=", when, level);
		json_string(log_file, msg);
		fputc('\n', log_file);
	}
	fflush(log_file);
}

int oci_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("error", fmt, ap);
	va_end(ap);
	return 1;
}

void oci_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_line("warning", fmt, ap);
	va_end(ap);
}

void oci_debug(const char *fmt, ...)
{
	if (!log_debug)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_line("debug", fmt, ap);
	va_end(ap);
}
