/* What the test drivers of the public API share: their TAP lines, without
 * numbers (tests/lib/tap.sh's tap_lines numbers them), and the start of
 * their VM. */
#ifndef NOOK_TESTS_E2E_DRIVER_TAP_H
#define NOOK_TESTS_E2E_DRIVER_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include <nook/vm.h>

static int failures;

/* One test point; safe from several threads. */
static void __attribute__((format(printf, 2, 3), unused)) check(bool ok, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	flockfile(stdout);
	printf("%s - ", ok ? "ok" : "not ok");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	funlockfile(stdout);
	va_end(ap);
	failures += !ok;
}

/* Builds and starts the VM of `cfg` (freed here); NULL after a "Bail out!"
 * line that says why. */
static nook_vm *__attribute__((unused)) driver_start(nook_vm_config *cfg)
{
	nook_vm *vm = NULL;
	nook_error *err = NULL;
	int r = nook_vm_build(cfg, &vm, &err);
	nook_vm_config_free(cfg);
	if (r == 0)
		r = nook_vm_start(vm, &err);
	if (r < 0) {
		printf("Bail out! %s\n", nook_error_message(err));
		nook_error_free(err);
		nook_vm_free(vm); /* built but not started */
		return NULL;
	}
	return vm;
}

#endif
