/* struct sockaddr_vm of <linux/vm_sockets.h>, which musl's headers do not
 * carry (a stable ABI), for the guest programs built with musl: nook-init's
 * exec agent and the e2e tests' vsock peer. */
#ifndef NOOK_GUEST_VSOCK_ADDR_H
#define NOOK_GUEST_VSOCK_ADDR_H

#include <sys/socket.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
struct vsock_addr {
	sa_family_t svm_family;
	unsigned short svm_reserved1;
	unsigned int svm_port;
	unsigned int svm_cid;
	unsigned char svm_zero[4];
};
#define VMADDR_CID_ANY 0xffffffffu

#endif
