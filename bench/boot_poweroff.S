/* The whole user space of the QEMU reference boot: PID 1 reboots at once
 * (the kernel runs with reboot=k and QEMU with -no-reboot, so QEMU exits). */
	.globl _start
_start:
	mov $169, %eax          /* reboot */
	mov $0xfee1dead, %edi
	mov $672274793, %esi
	mov $0x01234567, %edx   /* LINUX_REBOOT_CMD_RESTART */
	syscall
1:	jmp 1b
	.section .note.GNU-stack, "", @progbits
