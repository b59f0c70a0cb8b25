/* Entered in long mode on nook's identity page tables, %rsi = boot_params. */
	.section .text.entry, "ax"
	.code64
	.globl _start
_start:
	mov $0x1f0000, %rsp
	mov %rsi, %rdi
	call payload_main
1:	cli
	hlt
	jmp 1b

/* The application processor's first code, copied to 0x8000 and started by
 * a startup IPI in real mode: it raises a flag at 0x7f00 and halts. */
	.code16
	.globl ap_trampoline, ap_trampoline_end
ap_trampoline:
	cli
	xor %ax, %ax
	mov %ax, %ds
	movb $0xa5, 0x7f00
2:	hlt
	jmp 2b
ap_trampoline_end:

	.section .note.GNU-stack, "", @progbits
