/* Reads nook-init's paravirtual port: exits 0 when the process may do port
 * I/O there, and dies of SIGSEGV when it may not. Run by test_initramfs
 * through nook-init's launcher to check the program does not inherit PID 1's
 * port access. Only ever reads, so it is harmless on the host. */
#include <sys/io.h>

#include "guest/protocol.h"

int main(void)
{
	(void)inl(NOOK_PORT);
	return 0;
}
