/* Fuzz target for nook-init's parser of the run's configuration
 * (guest/init/init_config.c), the CONFIG message as the VMM sends it at the
 * ready point. What it accepts must be whole: argv and environ
 * NULL-terminated, every string a C string, counts within bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/init/init_config.h"
#include "guest/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct init_config cfg;
	char err[256];
	if (init_config_parse(data, size, &cfg, err, sizeof(err)) < 0)
		return 0;
	if (!cfg.exec_path || cfg.argv[0] != cfg.exec_path || cfg.argv[cfg.argc] ||
	    cfg.env[cfg.envc] || cfg.entropy_len < NOOK_ENTROPY_MIN || cfg.clock_nsec >= 1000000000u)
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
	return 0;
}
