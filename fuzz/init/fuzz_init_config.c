/* Fuzz target for nook-init's parser of the run's configuration
 * (guest/init/init_config.c), the CONFIG message as the VMM sends it at the
 * ready point, and of the exec agent's EXEC requests (the same records),
 * each input through both. What they accept must be whole: argv (but for an
 * idle sandbox's CONFIG) and environ NULL-terminated, every string a C
 * string, counts within bounds. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/init/init_config.h"
#include "guest/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size, bool exec)
{
	struct init_config cfg;
	char err[256];
	if ((exec ? init_exec_request_parse : init_config_parse)(data, size, &cfg, err,
								 sizeof(err)) < 0)
		return;
	if ((exec || cfg.exec_path) && (!cfg.exec_path || cfg.argv[0] != cfg.exec_path ||
					cfg.argv[cfg.argc]))
		abort();
	if (!cfg.exec_path && (cfg.argv || cfg.envc || cfg.workdir || cfg.nrlimits || cfg.user))
		abort();
	if (cfg.env[cfg.envc] || (!exec && (cfg.entropy_len < NOOK_ENTROPY_MIN ||
					     cfg.clock_nsec >= 1000000000u)))
		abort();
	if (exec && (cfg.nmounts || cfg.nslots || cfg.root || cfg.agent_port))
		abort();
	if (!exec && cfg.tty)
		abort();
	size_t total = 0;
	for (size_t i = 0; i < cfg.argc; i++)
		total += strlen(cfg.argv[i]);
	for (size_t i = 0; i < cfg.envc; i++)
		total += strlen(cfg.env[i]) + !strchr(cfg.env[i], '=');
	for (size_t i = 0; i < cfg.nmounts; i++)
		if (cfg.mounts[i].path[0] != '/' || !cfg.mounts[i].tag[0])
			abort();
	for (size_t i = 0; i < cfg.nnets; i++)
		if (cfg.nets[i].prefix > 32)
			abort();
	if (total > size)
		abort();
	init_config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size, false);
	check(data, size, true);
	return 0;
}
