/* Tier 2: tiny freestanding guests (payload.c) on the real /dev/kvm,
 * through the public API, one VM per check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nook/vm.h>

#define VM_TIMEOUT_S 60

struct run {
	int status;
	char *error;
	char console[4096];
	char stdout_text[4096];
};

struct watchdog {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	nook_vm *vm;
};

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += VM_TIMEOUT_S;
	pthread_mutex_lock(&w->lock);
	while (!w->done && pthread_cond_timedwait(&w->cond, &w->lock, &deadline) != ETIMEDOUT)
		;
	if (!w->done)
		nook_vm_stop(w->vm, SIGKILL, 0);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void read_all(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

/* Boots the payload with "payload=NAME" and collects what came out. */
static void run_payload(const char *name, unsigned vcpus, struct run *out)
{
	char dir[] = "/tmp/nook-payload-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char console[64], stdout_path[64], cmdline[64];
	snprintf(console, sizeof(console), "%s/console", dir);
	snprintf(stdout_path, sizeof(stdout_path), "%s/stdout", dir);
	snprintf(cmdline, sizeof(cmdline), "payload=%s", name);
	int out_fd = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(out_fd >= 0);

	nook_vm_config *cfg = nook_vm_config_new();
	assert_non_null(cfg);
	nook_vm_config_set_vcpus(cfg, vcpus);
	nook_vm_config_set_memory_mib(cfg, 128);
	assert_int_equal(nook_vm_config_set_kernel_path(cfg, PAYLOAD_PATH), 0);
	assert_int_equal(nook_vm_config_set_init_path(cfg, "/payload"), 0);
	assert_int_equal(nook_vm_config_append_cmdline(cfg, cmdline), 0);
	assert_int_equal(nook_vm_config_set_kernel_log(cfg, console), 0);
	nook_vm_config_set_stdio(cfg, -1, out_fd, -1);

	nook_error *err = NULL;
	nook_vm *vm = NULL;
	int r = nook_vm_build(cfg, &vm, &err);
	nook_vm_config_free(cfg);
	if (r == 0)
		r = nook_vm_start(vm, &err);
	if (r == 0) {
		struct watchdog w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, vm};
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, watchdog_main, &w), 0);
		r = nook_vm_wait(vm, &err);
		pthread_mutex_lock(&w.lock);
		w.done = true;
		pthread_cond_signal(&w.cond);
		pthread_mutex_unlock(&w.lock);
		pthread_join(t, NULL);
	}
	nook_vm_free(vm);
	close(out_fd);
	out->status = r;
	out->error = err ? strdup(nook_error_message(err)) : NULL;
	nook_error_free(err);
	read_all(console, out->console, sizeof(out->console));
	read_all(stdout_path, out->stdout_text, sizeof(out->stdout_text));
	unlink(console);
	unlink(stdout_path);
	rmdir(dir);
}

static void expect_ok(const char *name, const struct run *run)
{
	if (run->status != 0)
		print_error("payload %s: status %d, error: %s\nconsole:\n%s\n", name, run->status,
			    run->error ? run->error : "-", run->console);
	assert_int_equal(run->status, 0);
}

static void test_exit_status(void **state)
{
	struct run run;
	run_payload("exit", 1, &run);
	assert_int_equal(run.status, 42);
	assert_non_null(strstr(run.console, "payload: exit"));
	free(run.error);
}

static void test_memory_layout(void **state)
{
	struct run run;
	run_payload("memory", 1, &run);
	expect_ok("memory", &run);
	/* 128 MiB less the legacy hole from 0x9fc00 to 1 MiB. */
	assert_non_null(strstr(run.console, "ram-bytes=0x0000000007f9fc00"));
	assert_non_null(strstr(run.console, "ram-top=0x0000000008000000"));
	assert_non_null(strstr(run.console, "hole=0x00000000ffffffff"));
	free(run.error);
}

static void test_mmio_dispatch(void **state)
{
	struct run run;
	run_payload("mmio", 1, &run);
	expect_ok("mmio", &run);
	assert_non_null(strstr(run.console, "magic=0x0000000074726976"));
	assert_non_null(strstr(run.console, "version=0x0000000000000002"));
	assert_non_null(strstr(run.console, "device-id=0x0000000000000003"));
	assert_non_null(strstr(run.console, "no-device=0x00000000ffffffff"));
	free(run.error);
}

static void test_virtqueue_round_trip(void **state)
{
	struct run run;
	run_payload("virtq", 1, &run);
	expect_ok("virtq", &run);
	assert_string_equal(run.stdout_text, "hello from a virtqueue\n");
	assert_non_null(strstr(run.console, "isr=0x0000000000000001"));
	free(run.error);
}

static void test_virtqueue_hostile_descriptor(void **state)
{
	struct run run;
	run_payload("virtq-hostile", 1, &run);
	expect_ok("virtq-hostile", &run);
	assert_non_null(strstr(run.console, "used-idx=0x0000000000000000"));
	assert_string_equal(run.stdout_text, "");
	free(run.error);
}

static void test_two_vcpus(void **state)
{
	struct run run;
	run_payload("smp", 2, &run);
	expect_ok("smp", &run);
	free(run.error);
}

static void test_triple_fault_ends_vm(void **state)
{
	struct run run;
	run_payload("triple-fault", 1, &run);
	assert_true(run.status < 0);
	assert_non_null(run.error);
	assert_non_null(strstr(run.error, "triple fault"));
	free(run.error);
}

static void test_reset_ends_vm(void **state)
{
	struct run run;
	run_payload("reset", 1, &run);
	/* A custom init that reboots ends the VM normally. */
	assert_int_equal(run.status, 0);
	assert_non_null(strstr(run.console, "payload: reset"));
	free(run.error);
}

/* On PVM hosts POPCNT in guest kernel mode is not emulated: the VM must end
 * with the RIP, the instruction bytes and the symbol from System.map. */
static void test_emulation_failure_report(void **state)
{
	struct stat st;
	if (stat("/sys/module/kvm_pvm", &st) != 0)
		skip(); /* hardware KVM runs POPCNT natively */
	struct run run;
	run_payload("unemulated", 1, &run);
	assert_true(run.status < 0);
	assert_non_null(run.error);
	print_message("%s\n", run.error);
	assert_non_null(strstr(run.error, "emulation failure"));
	assert_non_null(strstr(run.error, "f3 48 0f b8 c0"));
	assert_non_null(strstr(run.error, "in payload_unemulated+0x1"));
	free(run.error);
}

/* Several VMs in one process at once: nothing is shared between them. */
struct concurrent {
	const char *name;
	struct run run;
};

static void *run_concurrent(void *arg)
{
	struct concurrent *c = arg;
	run_payload(c->name, 1, &c->run);
	return NULL;
}

static void test_concurrent_vms(void **state)
{
	struct concurrent vms[] = {{.name = "exit"}, {.name = "virtq"}, {.name = "exit"}};
	pthread_t threads[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, run_concurrent, &vms[i]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(threads[i], NULL);
	assert_int_equal(vms[0].run.status, 42);
	assert_int_equal(vms[1].run.status, 0);
	assert_string_equal(vms[1].run.stdout_text, "hello from a virtqueue\n");
	assert_int_equal(vms[2].run.status, 42);
	for (int i = 0; i < 3; i++)
		free(vms[i].run.error);
}

/* A guest without nook-init never answers the control port: nook_vm_stop()
 * ends it by force when the timeout expires, and a timeout of 0 at once. */
static void test_stop_forced(void **state)
{
	for (int round = 0; round < 2; round++) {
		nook_vm_config *cfg = nook_vm_config_new();
		assert_int_equal(nook_vm_config_set_kernel_path(cfg, PAYLOAD_PATH), 0);
		assert_int_equal(nook_vm_config_set_init_path(cfg, "/payload"), 0);
		assert_int_equal(nook_vm_config_append_cmdline(cfg, "payload=halt"), 0);
		nook_vm_config_set_memory_mib(cfg, 128);
		nook_vm_config_set_stdio(cfg, -1, -1, -1);
		nook_error *err = NULL;
		nook_vm *vm = NULL;
		assert_int_equal(nook_vm_build(cfg, &vm, &err), 0);
		nook_vm_config_free(cfg);
		assert_int_equal(nook_vm_signal(vm, SIGTERM), -ESRCH); /* not started */
		assert_int_equal(nook_vm_start(vm, &err), 0);
		assert_int_equal(nook_vm_signal(vm, 0), -EINVAL);
		assert_int_equal(nook_vm_signal(vm, 65), -EINVAL);
		assert_int_equal(nook_vm_signal(vm, SIGUSR1), 0);
		if (round == 0) {
			nook_vm_stop(vm, SIGTERM, 200);
		} else {
			/* A later call brings the end closer, an earlier deadline stays. */
			nook_vm_stop(vm, SIGTERM, 3600 * 1000);
			nook_vm_stop(vm, SIGKILL, 0);
		}
		assert_int_equal(nook_vm_wait(vm, &err), -ECANCELED);
		assert_non_null(strstr(nook_error_message(err), "stopped"));
		nook_error_free(err);
		assert_int_equal(nook_vm_signal(vm, SIGTERM), -ESRCH); /* ended */
		nook_vm_free(vm);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_memory_layout),
		cmocka_unit_test(test_mmio_dispatch),
		cmocka_unit_test(test_virtqueue_round_trip),
		cmocka_unit_test(test_virtqueue_hostile_descriptor),
		cmocka_unit_test(test_two_vcpus),
		cmocka_unit_test(test_triple_fault_ends_vm),
		cmocka_unit_test(test_reset_ends_vm),
		cmocka_unit_test(test_emulation_failure_report),
		cmocka_unit_test(test_concurrent_vms),
		cmocka_unit_test(test_stop_forced),
	};
	return cmocka_run_group_tests_name("payload", tests, NULL, NULL);
}
