/* Guest physical memory map of an x86_64 nook VM. */
#ifndef NOOK_X86_LAYOUT_H
#define NOOK_X86_LAYOUT_H

#define LAYOUT_GDT 0x500
#define LAYOUT_PVH_START_INFO 0x6000 /* hvm_start_info, then module list and memory map */
#define LAYOUT_BOOT_PARAMS 0x7000    /* Linux zero page */
#define LAYOUT_PML4 0x9000           /* identity page tables: PML4, PDPT, 4 PDs (4 GiB) */
#define LAYOUT_PDPT 0xa000
#define LAYOUT_PD 0xb000
#define LAYOUT_BOOT_STACK 0x8ff0
#define LAYOUT_CMDLINE 0x20000
#define LAYOUT_CMDLINE_MAX 2048 /* COMMAND_LINE_SIZE of x86 Linux */
#define LAYOUT_EBDA 0x9fc00     /* MP table; RAM below this is usable */
#define LAYOUT_HIMEM 0x100000
#define LAYOUT_BZIMAGE_LOAD 0x100000

/* Devices live in the hole below 4 GiB; RAM past it continues at 4 GiB. */
#define LAYOUT_MMIO_GAP_START 0xc0000000ULL
#define LAYOUT_VIRTIO_MMIO_BASE 0xd0000000ULL
#define LAYOUT_VIRTIO_MMIO_SIZE 0x1000ULL
#define LAYOUT_IOAPIC 0xfec00000ULL
#define LAYOUT_LAPIC 0xfee00000ULL
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ULL /* one page, needed by KVM on Intel */
#define LAYOUT_KVM_TSS 0xfeffd000ULL          /* three pages */

/* Legacy IRQs 0..4 are taken (timer, keyboard, cascade, COM2, COM1);
 * virtio devices get GSIs from here up to the IOAPIC's last pin. */
#define LAYOUT_FIRST_DEVICE_IRQ 5
#define LAYOUT_LAST_DEVICE_IRQ 23

#endif
