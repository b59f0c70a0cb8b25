/* nook: the low-level VM API.
 *
 * A nook_vm_config collects what the VM should be; nook_vm_build() checks it
 * and assembles the VM (kernel loaded, devices created, nothing running);
 * nook_vm_start() runs it on its own threads and returns; nook_vm_wait()
 * waits for the guest program's exit status; nook_vm_free() releases it,
 * stopping it first if needed. Several VMs may live in one process. The
 * library never exits the process and prints nothing unless a log level or
 * callback asks for it.
 *
 * Threads and signals: each VM runs one thread per vCPU plus an I/O thread;
 * libnook interrupts vCPU threads with signal SIGRTMIN+7, for which it
 * installs an empty handler.
 *
 * The configuration mirrors a libkrun-style VM builder, grouped the same
 * way: machine, kernel, fs, net, console, exec, disk. Setters only store;
 * nook_vm_build() checks everything and fails with a message naming the
 * option. Windows-only
 * options (named pipes, virtio output files) and the sound and GPU options
 * of the reference builder do not exist here.
 *
 * Shares, network devices and disks are lists. One rule for all three: a
 * setter of an item's settings (nook_vm_config_set_fs_*, _set_net_mac,
 * _set_disk_*) applies to the next item added of that kind
 * (nook_vm_config_add_fs_path/_custom, _add_net_*, _add_disk), which takes
 * every pending setting; an item starts from the defaults for whatever was
 * not set before it. Settings that no add call takes make nook_vm_build()
 * fail rather than be dropped.
 *
 * File descriptors and callback `opaque` pointers passed in stay the
 * caller's: nothing here closes or frees them, and they must stay valid
 * until every VM built from the configuration is freed. (The reference
 * builder takes ownership of its fds, OwnedFd; a nook configuration can
 * build several VMs, so the caller closes them after nook_vm_free().)
 */
#ifndef NOOK_VM_H
#define NOOK_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <nook/api.h>
#include <nook/error.h>
#include <nook/log.h>
#include <nook/devices.h>
#include <nook/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nook_vm_config nook_vm_config;
typedef struct nook_vm nook_vm;

/* Whether to turn on the accommodations for PVM hosts (kernel command-line
 * flags, including the guest kernel's nook.pvm, and no hypercall IPIs).
 * AUTO: when /sys/module/kvm_pvm exists. */
enum nook_pvm_mode { NOOK_PVM_AUTO, NOOK_PVM_ON, NOOK_PVM_OFF };

/* Defaults: 1 vCPU, 512 MiB, the built-in kernel and rootfs, no program;
 * the other machine options as listed below. */
NOOK_API nook_vm_config *nook_vm_config_new(void);
NOOK_API void nook_vm_config_free(nook_vm_config *cfg);

/* Machine. Values are checked by nook_vm_build(): vcpus 1..the host's
 * limit, memory up to the host's RAM. */
NOOK_API void nook_vm_config_set_vcpus(nook_vm_config *cfg, unsigned vcpus);
NOOK_API void nook_vm_config_set_memory_mib(nook_vm_config *cfg, uint64_t mib);
NOOK_API void nook_vm_config_set_pvm_mode(nook_vm_config *cfg, enum nook_pvm_mode mode);
/* The CPU topology the guest sees in CPUID (leaves 1, 4, 0xb, 0x1f and
 * AMD's 0x8000001d/1e): one package whose cores have 2 threads each when
 * on (the vCPU count must then be even), one thread each when off (the
 * default). vCPU N has APIC id N, so vCPUs 2k and 2k+1 are siblings. */
NOOK_API void nook_vm_config_set_hyperthreading(nook_vm_config *cfg, bool on);
/* Nested virtualization (default off): the guest sees VMX or SVM and can
 * run its own KVM guests. nook_vm_build() fails with -ENOTSUP and a message
 * naming the host's limitation when the host's KVM cannot nest (a PVM host,
 * or kvm_intel/kvm_amd loaded without nested=1). Off, VMX and SVM are
 * hidden from the guest. */
NOOK_API void nook_vm_config_set_nested_virt(nook_vm_config *cfg, bool on);
/* The split irqchip (default off; x86): the local APICs stay in KVM, the
 * IOAPIC is emulated by nook with 64 pins, so that the VM can have up to 48
 * virtio devices (console, rng, shares, disks, network, ports, vsock and
 * balloon together) instead of 19. Device interrupts still reach the guest
 * without the VMM's threads (MSI routes). The guest then has no PIC and no
 * PIT (its kernel needs the TSC-deadline timer, as nook's has). */
NOOK_API void nook_vm_config_set_split_irqchip(nook_vm_config *cfg, bool on);
/* Attach a virtio-vsock device (default off): stream sockets between the
 * guest (CID 3) and the host (CID 2). On its own the device is there but
 * nothing on the host is reachable through it: a guest connection to
 * CID 2 is refused, and guest sockets can still use their own loopback.
 * With nook-init as PID 1 the device appears after the ready point, so it
 * does not change the machine's snapshot. */
NOOK_API void nook_vm_config_set_vsock(nook_vm_config *cfg, bool on);
/* Connects the vsock device (and turns it on) to the host through UNIX
 * stream sockets, as Firecracker does; NULL: none (the device stays on).
 *   - The guest connects to host port P: nook connects to the socket
 *     "PATH_P" (say /run/x.sock_1234); if nothing listens there, the guest
 *     gets a connection refused.
 *   - nook listens on PATH, mode 0600 (only its owner may connect). A host
 *     client connects and writes "CONNECT P\n" (within 5 s, at most 32
 *     bytes); nook asks the guest's port P; when it accepts, the client
 *     reads "OK <host port>\n" and then the socket carries the
 *     connection's bytes both ways; when it refuses, the socket is closed.
 *     Before the guest's driver is up (nook-init binds it just before the
 *     program starts), a client is refused the same way.
 * nook_vm_build() fails, naming PATH, when PATH exists and is not a stale
 * socket (a socket nobody listens on, which it replaces), and when PATH_P
 * would not fit a UNIX socket name (at most 96 bytes). PATH is left behind
 * when the VM ends. Confined (nook/confine.h), the VM gets PATH's whole
 * directory writable: give it a directory of its own; jailed (started as
 * root), it runs as another user, who must be able to enter that directory
 * and connect to the PATH_P sockets. -ENOMEM or 0. */
NOOK_API int nook_vm_config_set_vsock_path(nook_vm_config *cfg, const char *path);
/* virtio-balloon (default on) and its guest memory statistics interval in
 * milliseconds (default 1000; 0: no statistics). The guest reports the
 * memory it frees (free page reporting) and nook gives those pages back to
 * the host, so the VMM's resident memory shrinks again after the guest
 * used much and freed it; nook_vm_set_balloon_mib() takes memory from the
 * guest. With nook-init as PID 1 the guest meets the balloon after its
 * ready point, so it is not part of a snapshot. */
NOOK_API void nook_vm_config_set_balloon(nook_vm_config *cfg, bool on);
NOOK_API void nook_vm_config_set_balloon_stats_interval_ms(nook_vm_config *cfg, uint64_t ms);
/* virtio-rng, the guest's entropy from the host (default on). */
NOOK_API void nook_vm_config_set_rng(nook_vm_config *cfg, bool on);
/* Metrics (default on): the VM counts vCPU exits, device requests and
 * bytes, FUSE requests and network frames for nook_vm_get_metrics(). Off,
 * nothing is counted. */
NOOK_API void nook_vm_config_set_metrics(nook_vm_config *cfg, bool on);
/* When there is no network device, give the guest a user-mode one
 * (nook_vm_config_add_net_user) so its outbound connections work (default
 * off: the guest is air-gapped). */
NOOK_API void nook_vm_config_set_inet_hijack(nook_vm_config *cfg, bool on);
/* Confines each thread the VM starts (vCPUs, the I/O thread, device
 * workers, user-mode networking) with a seccomp filter that allows only the
 * system calls its role needs (default on; off is for debugging). */
NOOK_API void nook_vm_config_set_seccomp(nook_vm_config *cfg, bool on);

/* Warm start. A VM whose PID 1 is nook-init (no init_path, no initramfs of
 * the caller's) boots in two halves: the kernel and nook-init start with
 * nothing run-specific and stop at the "ready point"; then the VMM hands
 * them the run (program, environment, mounts, disks, network, the wall
 * clock and fresh entropy) and the program runs. A snapshot taken at the
 * ready point can stand in for the first half of every later VM of the
 * same shape (kernel, command line, memory, vCPUs, rng, balloon, the
 * root's share tags; see
 * vm/snapshot_cache.h for the whole key).
 *   AUTO     restore from the per-user cache ($NOOK_CACHE_DIR, else
 *            $XDG_CACHE_HOME/nook or ~/.cache/nook) when it holds a snapshot
 *            of this shape; otherwise boot cold and save one there at the
 *            ready point. A snapshot that is truncated, corrupted or made by
 *            another nook is replaced by a cold boot (with a warning).
 *   OFF      always boot cold; neither read nor write snapshots.
 *   REFRESH  boot cold and replace the cached snapshot.
 * What a snapshot holds: guest memory (mapped copy-on-write when restored,
 * so VMs of one snapshot share its pages), every vCPU's registers, FPU,
 * MSRs (the TSC too: the guest's clocks go on from where they were), local
 * APIC, pending events and MP state, the PIC, IOAPIC, PIT and kvm-clock,
 * and the devices the guest had probed by then: the serial port, the i8042
 * and CMOS, the implicit virtio console (its ports), virtio-rng, the
 * balloon and the root's virtio-fs devices (probed, not yet mounted: the
 * host directories behind them are the run's). Other shares, disks, network
 * and vsock devices and the named console ports are never in a snapshot:
 * they stay hidden from the guest until after the ready point. Nothing of
 * the run is in it either. */
enum nook_snapshot_mode { NOOK_SNAPSHOT_AUTO, NOOK_SNAPSHOT_OFF, NOOK_SNAPSHOT_REFRESH };
NOOK_API void nook_vm_config_set_snapshot_mode(nook_vm_config *cfg, enum nook_snapshot_mode mode);
/* A snapshot directory to use instead of the cache, with the same modes
 * (e.g. one made by nook_vm_snapshot()); it must be for this shape. */
NOOK_API int nook_vm_config_set_snapshot_dir(nook_vm_config *cfg, const char *dir);

/* Kernel. append_cmdline adds to the command line, separated by a space.
 * kernel_path: a vmlinux (ELF) or bzImage instead of the built-in kernel.
 * The initramfs replaces the built-in rootfs archive (a cpio "newc"
 * archive); nook-init is added to it. init_path makes the kernel start
 * that program as PID 1 instead of nook-init (default /init.nook). */
NOOK_API int nook_vm_config_append_cmdline(nook_vm_config *cfg, const char *text);
NOOK_API int nook_vm_config_set_kernel_path(nook_vm_config *cfg, const char *path);
NOOK_API int nook_vm_config_set_initramfs_path(nook_vm_config *cfg, const char *path);
NOOK_API int nook_vm_config_set_init_path(nook_vm_config *cfg, const char *path);

/* Fs: host directories shared with the guest over virtio-fs, each under a
 * tag (at most NOOK_FS_TAG_MAX bytes, unique; nook/devices.h), served by
 * nook's FUSE passthrough server, which keeps the guest inside the
 * directory. Without a root (and without
 * an initramfs of the caller's) the guest's root is nook's built-in rootfs,
 * with the guest's writes kept in guest memory: unpacked into guest memory
 * from its archive when the VM may make or use a snapshot (its snapshot
 * then holds it), else shared read-only under a tmpfs overlay. */

/* The root file system: a host directory under the tag "/dev/root",
 * read-write. */
NOOK_API int nook_vm_config_add_fs_root(nook_vm_config *cfg, const char *dir);
/* The root file system as an overlay of host directories, layers[0] at the
 * bottom: the guest's writes go to the last layer; the others are shared
 * read-only and never change. -EINVAL when nlayers is 0. */
NOOK_API int nook_vm_config_set_fs_root_overlay(nook_vm_config *cfg, const char *const *layers,
				       size_t nlayers);
/* A host directory or single regular file shared at an absolute guest
 * path, mounted there by nook-init, read-only (enforced by the host: the
 * guest's writes fail with EROFS) or read-write. Named like add_fs_path,
 * independent of the pending settings below. What a volume or mapped
 * directory (-v HOST:GUEST[:ro]) is. */
NOOK_API int nook_vm_config_add_fs_volume(nook_vm_config *cfg, const char *host_path,
					  const char *guest_path, bool read_only);
/* Where nook-init mounts the next share added with add_fs_path or
 * add_fs_custom (an absolute guest path; without one the guest mounts the
 * tag itself). A share with a mount point may also be a single regular
 * file. */
NOOK_API int nook_vm_config_set_fs_mount_point(nook_vm_config *cfg, const char *guest_path);
/* Whether the next add_fs_path share is read-only; enforced by the host
 * (the guest's writes fail with EROFS). */
NOOK_API void nook_vm_config_set_fs_read_only(nook_vm_config *cfg, bool read_only);
/* The tag and the DAX window size in bytes (0: none) of the next share
 * added with add_fs_path; the tag is also used by add_fs_custom.
 *
 * A DAX window lets the guest map the share's files instead of copying
 * them: the device gets a shared-memory region of that size, nook-init
 * mounts the share with dax=always (a share without a mount point is
 * mounted by the guest, with "-o dax=always" for the same), and the guest
 * kernel maps 2 MiB ranges of files into it on demand. File data then
 * are the host's page cache pages themselves: guest reads and writes (and
 * mmap, also MAP_SHARED) see the host's changes at once and the host the
 * guest's, with no copy through the queue. The size: a multiple of 2 MiB,
 * all windows together at most 16 times the memory size and 32 GiB; the
 * guest spends 1/64 of it on page structures. A host process that
 * truncates a file the guest has mapped leaves the guest's next access to
 * the cut pages unservable (as with QEMU and virtiofsd): on PVM hosts that
 * vCPU hangs until the VM is stopped.
 * Not for the root or a custom backend. The guest kernel needs
 * CONFIG_FUSE_DAX, which the built-in kernel has; without it (a kernel of
 * one's own) the guest refuses the dax=always mount and the
 * run fails (nook-init's message on the program's stderr, and "nook-init
 * failed in the guest: Invalid argument"). */
NOOK_API int nook_vm_config_set_fs_tag(nook_vm_config *cfg, const char *tag);
NOOK_API void nook_vm_config_set_fs_shm_size(nook_vm_config *cfg, uint64_t bytes);
/* A mount of a host directory. Without a tag it is named "fs<N>", N being
 * the number of fs entries (root included) added before it. */
NOOK_API int nook_vm_config_add_fs_path(nook_vm_config *cfg, const char *dir);

/* Adds a mount served by the caller (struct nook_fs_backend, nook/devices.h;
 * named like add_fs_path); the table is copied. */
NOOK_API int nook_vm_config_add_fs_custom(nook_vm_config *cfg, const struct nook_fs_backend *backend,
				 void *opaque);

/* Net: virtio-net devices (several allowed), each with a host backend.
 * Without any, the guest has no network. nook-init configures the first
 * device's address, default route and DNS: from the user-mode network's
 * known layout, from set_net_ipv4/subnet, or by DHCP on unixstream and
 * unixgram backends (passt, gvproxy) when no address is given. */

/* User-mode networking (libslirp): NAT through the host's sockets, DHCP
 * and DNS. Its subnet is set_net_subnet's for the first device (default
 * 10.0.2.0/24; the gateway, .2, is the host's loopback, .3 the DNS server,
 * the guest .15 unless set_net_ipv4 says otherwise), 10.0.N+2.0/24 for the
 * Nth device after it. */
NOOK_API int nook_vm_config_add_net_user(nook_vm_config *cfg);
/* Which destinations the guest's frames may have, checked by nook on every
 * frame before any backend sees it (nook/parse.h; default here: any). */
NOOK_API void nook_vm_config_set_net_scope(nook_vm_config *cfg, enum nook_network_scope scope);
/* The guest's IPv4 address and subnet on the first device. Without a
 * subnet: the user-mode network's (10.0.2.0/24), or for an address on
 * another backend (tap, passt, gvproxy) the /24 around it, whose first host
 * is the gateway. */
NOOK_API void nook_vm_config_set_net_ipv4(nook_vm_config *cfg, struct in_addr ip);
NOOK_API void nook_vm_config_set_net_subnet(nook_vm_config *cfg, const struct nook_ipv4_subnet *subnet);
/* Whether the guest may reach services on the host's loopback interface
 * through the user-mode network's gateway (default off; scope "any" allows
 * it too). Published ports work either way. */
NOOK_API void nook_vm_config_set_net_allow_host_loopback(nook_vm_config *cfg, bool allow);
/* Publishes a guest port on the host (user-mode networking only): the
 * host listens on host_ip:host_port when the VM is built. */
NOOK_API int nook_vm_config_add_net_port(nook_vm_config *cfg, const struct nook_port_pair *port);

/* The MAC address of the next device (default: chosen by the VMM). */
NOOK_API void nook_vm_config_set_net_mac(nook_vm_config *cfg, const uint8_t mac[6]);
/* One datagram per Ethernet frame over a connected unix datagram socket
 * (e.g. gvproxy); with send_vfkit_magic the first datagram is "VFKT". */
NOOK_API int nook_vm_config_add_net_unixgram_fd(nook_vm_config *cfg, int fd);
NOOK_API int nook_vm_config_add_net_unixgram_path(nook_vm_config *cfg, const char *path,
					 bool send_vfkit_magic);
/* Frames with a 4-byte big-endian length over a unix stream socket
 * (passt, qemu "stream"). */
NOOK_API int nook_vm_config_add_net_unixstream_fd(nook_vm_config *cfg, int fd);
NOOK_API int nook_vm_config_add_net_unixstream_path(nook_vm_config *cfg, const char *path);
/* An existing host TAP interface, by name. */
NOOK_API int nook_vm_config_add_net_tap(nook_vm_config *cfg, const char *ifname);
/* A port of a VDE switch: url is vde:///path/of/switch (or just the path,
 * absolute), the control directory of a vde_switch or of libvdeplug4's
 * `vde_plug null:// switch:///path`. Frames go to every VM, namespace or
 * program on the switch. */
NOOK_API int nook_vm_config_add_net_vde(nook_vm_config *cfg, const char *url);
/* The next device is on a private segment (a VDE switch shared by a group
 * of sandboxes, say): nook-init gives it `ip` in `subnet`, with no route
 * and no DNS, and its frames may go only to the subnet, whatever the
 * scope. */
NOOK_API void nook_vm_config_set_net_segment(nook_vm_config *cfg, struct in_addr ip,
					      const struct nook_ipv4_subnet *subnet);

/* Adds a device with a custom backend; the table is copied. */
NOOK_API int nook_vm_config_add_net_custom(nook_vm_config *cfg, const struct nook_net_backend *backend,
				  void *opaque);

/* Console.
 * The implicit console is how the program's stdio travels: one
 * virtio-console port each for its stdin, stdout and stderr (separate
 * streams, byte-exact), connected to these host fds (default 0, 1, 2; -1:
 * none; the VM works on copies of its own and never closes these). The same
 * device also carries nook-init's control port, which is not part of it.
 * Output fds other than sockets are written with write(2): a process
 * using libnook should ignore SIGPIPE (the nook command line does), or a
 * pipe whose reader goes away ends it; ignored, that output is dropped.
 *
 * console_output (a file, created or truncated): a copy of what the program
 * writes to stdout and stderr, both in one file in the order the VM takes
 * them from the guest; stdio still goes to the fds above as well.
 * kernel_log (a file, created or truncated): the kernel's log, from the
 * serial console (the kernel is otherwise quiet). It changes the kernel
 * command line, so it has snapshots of its own; a restored VM logs only
 * what the kernel says after the restore. */
NOOK_API int nook_vm_config_set_console_output(nook_vm_config *cfg, const char *path);
NOOK_API int nook_vm_config_set_kernel_log(nook_vm_config *cfg, const char *path);
NOOK_API void nook_vm_config_set_stdio(nook_vm_config *cfg, int in_fd, int out_fd, int err_fd);
/* Named ports, on a virtio-console device of their own (at most 31 ports):
 * the guest sees /sys/class/virtio-ports/<name>, and nook-init links each
 * as /dev/virtio-ports/<name> before the program starts. Names are 1 to 63
 * bytes, unique, contain no '/', are not "." or "..", and the "nook."
 * prefix is reserved.
 *   add_console_port: the VM reads input_fd (into the guest) and writes
 *     output_fd (the guest's output); either may be -1, they may be the
 *     same fd (a socket). It works on copies of its own, made by
 *     nook_vm_build(): the caller may close its fds after it, and should,
 *     for its reader to see end of file (below). Input at end of file: the
 *     guest reads end of file, and from then on its writes to that port
 *     fail (Linux's driver has one connection state per port: use two ports
 *     for two independent directions). The guest closing the port ends the
 *     output: a socket is shut down for writing, any other output fd the
 *     VM's copy is closed; what the guest writes to the port later is
 *     dropped. Output that the host fd does not take at once waits (the
 *     guest's writes block), never lost while the VM runs; at the VM's end
 *     it is written out, unless the fd takes nothing for 5 s.
 *   add_console_tty: one terminal fd both ways, in raw mode while the VM
 *     exists (restored by nook_vm_free(), also when the build fails);
 *     the guest closing the port does not end anything.
 *   add_console_custom: a backend of the caller's (nook/devices.h). */
NOOK_API int nook_vm_config_add_console_port(nook_vm_config *cfg, const char *name, int input_fd,
				    int output_fd);
NOOK_API int nook_vm_config_add_console_tty(nook_vm_config *cfg, const char *name, int tty_fd);
NOOK_API int nook_vm_config_add_console_custom(nook_vm_config *cfg, const char *name,
				      const struct nook_console_port_backend *backend,
				      void *opaque);
/* No implicit console: the guest has no stdin, stdout and stderr ports
 * (it sees only nook-init's control port on that device, and the named
 * ports); the program's stdin, stdout and stderr are /dev/null in the guest,
 * and set_stdio() is not used. console_output cannot go with it. It changes
 * the kernel command line (NOOK_CMDLINE_NO_STDIO), so such VMs have
 * snapshots of their own. */
NOOK_API void nook_vm_config_disable_implicit_console(nook_vm_config *cfg);

/* Exec: the program nook-init runs. The path is absolute or a name looked up
 * in the guest's PATH. Without one (NULL, the default) the VM is idle:
 * nook-init sets everything up, runs nothing and stays up until
 * nook_vm_stop() (a stop signal, below, ends it with status 0), which is
 * what a sandbox for nook_vm_exec() (nook/exec.h) is; args, env, workdir
 * and rlimits then make nook_vm_build() fail. An empty path fails too. add_arg appends one argument, set_args replaces them
 * all with a NULL-terminated list. env entries are "KEY=VALUE"; add_envs
 * takes a NULL-terminated list of them (like environ); add_env_pair fails
 * with -EINVAL for an empty key or one containing '='. rlimit resources are
 * RLIMIT_* numbers; UINT64_MAX means unlimited. */
NOOK_API int nook_vm_config_set_exec_path(nook_vm_config *cfg, const char *path);
NOOK_API int nook_vm_config_add_arg(nook_vm_config *cfg, const char *arg);
NOOK_API int nook_vm_config_set_args(nook_vm_config *cfg, const char *const *args);
NOOK_API int nook_vm_config_add_env(nook_vm_config *cfg, const char *key_value);
NOOK_API int nook_vm_config_add_env_pair(nook_vm_config *cfg, const char *key, const char *value);
NOOK_API int nook_vm_config_add_envs(nook_vm_config *cfg, const char *const *key_values);
NOOK_API int nook_vm_config_set_workdir(nook_vm_config *cfg, const char *dir);
/* The user the program runs as (default root): "USER[:GROUP]", each a name
 * or a decimal id, as docker run -u takes it. Names are looked up in the
 * guest root's /etc/passwd and /etc/group when the program starts (an
 * unknown one makes it fail with exit status 125); without GROUP the
 * group is the user's in /etc/passwd (0 for an id not there) and the
 * user's groups in /etc/group are its supplementary groups. */
NOOK_API int nook_vm_config_set_user(nook_vm_config *cfg, const char *user);
/* The guest's host name (default: the kernel's, "(none)"): 1 to 64
 * letters, digits, '-', '.' or '_'. */
NOOK_API int nook_vm_config_set_hostname(nook_vm_config *cfg, const char *name);
NOOK_API int nook_vm_config_add_rlimit(nook_vm_config *cfg, int resource, uint64_t soft, uint64_t hard);

/* Disk: virtio-blk devices backed by image files.
 *
 * The set_disk_* settings apply to the next disk added with add_disk (the
 * rule at the top). A disk starts from the defaults: raw, read-write,
 * writeback cache, no direct I/O, full sync, no backing files, and the id
 * "vd<letters>" of its position (see nook_disk_id_for_index()). Ids are
 * unique and at most NOOK_DISK_ID_MAX bytes. Formats, cache and sync modes:
 * nook/devices.h. */
NOOK_API int nook_vm_config_add_disk(nook_vm_config *cfg, const char *path);
NOOK_API int nook_vm_config_set_disk_id(nook_vm_config *cfg, const char *id);
NOOK_API void nook_vm_config_set_disk_read_only(nook_vm_config *cfg, bool read_only);
NOOK_API void nook_vm_config_set_disk_format(nook_vm_config *cfg, enum nook_disk_format format);
NOOK_API void nook_vm_config_set_disk_cache(nook_vm_config *cfg, enum nook_disk_cache cache);
/* O_DIRECT on the host file. */
NOOK_API void nook_vm_config_set_disk_direct_io(nook_vm_config *cfg, bool direct_io);
NOOK_API void nook_vm_config_set_disk_sync(nook_vm_config *cfg, enum nook_disk_sync sync);
/* Whether the image may use other files: a qcow2 backing file, vmdk
 * extents (default off: such an image is refused). When allowed, they must
 * lie beneath the image's own directory (no absolute paths, no "..", no
 * symlinks leading out) and a qcow2 image must record its backing file's
 * format. */
NOOK_API void nook_vm_config_set_disk_allow_backing(nook_vm_config *cfg, bool allow);

/* The Linux name of the index-th virtio disk, in the kernel's bijective
 * base 26: 0 "vda", 25 "vdz", 26 "vdaa", 701 "vdzz", 702 "vdaaa". Returns 0,
 * or -ERANGE when it does not fit in buf (12 bytes always suffice). */
NOOK_API int nook_disk_id_for_index(unsigned index, char *buf, size_t len);

/* Logging: messages at or above `level` go to `fn` (or stderr if NULL). */
NOOK_API void nook_vm_config_set_log(nook_vm_config *cfg, enum nook_log_level level, nook_log_fn fn,
			    void *userdata);

/* Checks the configuration and assembles the VM. */
NOOK_API int nook_vm_build(const nook_vm_config *cfg, nook_vm **vm, nook_error **err);
/* Starts the vCPUs and the I/O thread; returns at once. */
NOOK_API int nook_vm_start(nook_vm *vm, nook_error **err);
/* Waits until the VM ends. Returns the program's exit status (0..255; 128+N
 * when killed by signal N), or a negative errno with *err set when the VM
 * ended any other way (guest crash, reboot, KVM error, init failure). */
NOOK_API int nook_vm_wait(nook_vm *vm, nook_error **err);
/* Asks the program to end: nook-init sends it (its process group) signal
 * `signo`, and the VM is ended by force if the program has not exited
 * `timeout_ms` later (at once with timeout_ms 0). nook_vm_wait() then
 * returns the program's status (128+signo if the signal killed it), or
 * -ECANCELED when the VM was ended by force. Callable from any thread and
 * more than once: a later call can only bring the forced end closer. A
 * guest running its own init instead of nook-init receives no signal. An
 * idle VM (no exec path) ends with status 0 at SIGTERM, SIGINT, SIGHUP,
 * SIGQUIT or SIGKILL; another signal only leads to the forced end. */
NOOK_API void nook_vm_stop(nook_vm *vm, int signo, unsigned timeout_ms);
/* A graceful stop's usual numbers: SIGTERM, then force after 10 s. */
#define NOOK_VM_STOP_TIMEOUT_MS 10000
/* Sends signal `signo` (1..64) to the program's process group without
 * stopping anything (an idle VM has no program: a stop signal ends it as
 * nook_vm_stop() does, others go nowhere). -EINVAL for a bad signal number, -ESRCH when the VM is
 * not running, -EAGAIN when too many signals are still on their way. */
NOOK_API int nook_vm_signal(nook_vm *vm, int signo);
NOOK_API void nook_vm_free(nook_vm *vm);

/* The balloon (nook_vm_config_set_balloon) at run time. The target size of
 * the balloon: how much of its memory the guest should give back to the
 * host (0: none). The guest inflates the balloon towards it (or deflates
 * it) on its own time; nook_balloon_stats.actual_mib shows how far it got.
 * -EINVAL when larger than guest memory, -ENODEV without a balloon. A
 * Linux guest may take pages back from the balloon when it would otherwise
 * run out of memory. Callable from any thread while the VM exists. */
NOOK_API int nook_vm_set_balloon_mib(nook_vm *vm, uint64_t mib);

/* What the guest last reported (every stats interval) and the balloon's
 * size. A figure the guest has not reported (or not yet) is
 * NOOK_BALLOON_STAT_NONE. */
#define NOOK_BALLOON_STAT_NONE UINT64_MAX
struct nook_balloon_stats {
	uint64_t target_mib;       /* set by nook_vm_set_balloon_mib */
	uint64_t actual_mib;       /* the guest's balloon now */
	uint64_t total_memory;     /* bytes the guest's kernel manages (MemTotal) */
	uint64_t free_memory;      /* bytes unused (MemFree) */
	uint64_t available_memory; /* bytes available to new programs (MemAvailable) */
	uint64_t disk_caches;      /* bytes of page cache the guest could drop */
	uint64_t swap_in;          /* bytes swapped in, since the guest booted */
	uint64_t swap_out;         /* bytes swapped out */
	uint64_t major_faults;     /* page faults that needed I/O */
	uint64_t minor_faults;     /* the others */
	uint64_t hugetlb_allocations, hugetlb_failures;
	/* Milliseconds since the guest's last report; -1 before the first
	 * (and always with a statistics interval of 0). */
	int64_t age_ms;
	/* What nook did with the pages the guest gave: bytes released on the
	 * host (inflating and free page reporting), and pages or ranges
	 * refused because they were not guest RAM. */
	uint64_t released_bytes;
	uint64_t refused;
};
/* 0, or -ENODEV without a balloon. */
NOOK_API int nook_vm_get_balloon_stats(nook_vm *vm, struct nook_balloon_stats *out);

/* The primitive under the cache: saves the VM when it reaches its ready
 * point into `dir`, a directory that must not exist yet (made 0700, its
 * files 0600), then lets the VM go on. Call it after nook_vm_start(); it
 * returns once the snapshot is written. -EBUSY when the VM is past its ready
 * point (or was itself restored), -ENOTSUP when it has none (another init). */
NOOK_API int nook_vm_snapshot(nook_vm *vm, const char *dir, nook_error **err);

/* The snapshot cache (see nook_vm_config_set_snapshot_mode). */
struct nook_snapshot_info {
	const char *path;      /* the snapshot's directory */
	const char *key;       /* its machine-shape key, hex */
	bool valid;            /* whole and made by this nook */
	const char *about;     /* what it was made for, or why it is not valid */
	uint64_t memory_bytes; /* the guest memory it holds */
	uint64_t disk_bytes;   /* the space its files take */
	uint64_t created;      /* seconds since the epoch; 0 if unknown */
};
typedef void (*nook_snapshot_fn)(const struct nook_snapshot_info *snapshot, void *userdata);
/* Calls fn for every snapshot in the cache. */
NOOK_API int nook_snapshot_list(nook_snapshot_fn fn, void *userdata, nook_error **err);
/* Empties the cache (snapshots and the file hashes of their keys); VMs
 * restored from them keep running. *removed: how many snapshots. */
NOOK_API int nook_snapshot_prune(unsigned *removed, nook_error **err);

/* Metrics: counters the VM keeps while metrics are on (the default; see
 * nook_vm_config_set_metrics), readable at any time until nook_vm_free(),
 * also after the VM ended. Counting costs a few relaxed atomic additions
 * per exit or request (bench/boot and bench/fs measure it). */
enum nook_exit_kind {
	NOOK_EXIT_IO,    /* port I/O */
	NOOK_EXIT_MMIO,  /* MMIO: the virtio devices' registers */
	NOOK_EXIT_INTR,  /* interrupted by nook (kicks, pauses, stops) */
	NOOK_EXIT_OTHER, /* everything else (shutdown, errors) */
	NOOK_EXIT_KINDS
};
struct nook_vcpu_metrics {
	uint64_t cpu_ns;                  /* CPU time of the vCPU's thread */
	uint64_t exits[NOOK_EXIT_KINDS];  /* exits to user space, by kind */
};
struct nook_device_metrics {
	char name[48];             /* "console", "rng", "fs TAG", "blk ID", "net N" */
	uint64_t requests;         /* descriptor chains the guest handed over */
	uint64_t bytes_from_guest; /* in the chains' readable buffers */
	uint64_t bytes_to_guest;   /* written back by the device */
	/* virtio-net only (0 elsewhere): Ethernet frames each way, the
	 * guest's frames the scope filter refused, and frames dropped
	 * (malformed, or the backend could not take them). */
	uint64_t frames_from_guest, frames_to_guest, frames_filtered, frames_dropped;
	uint64_t notifications; /* the guest's queue notifications (kicks) */
	uint64_t interrupts;    /* raised by the device: used buffers, config changes */
	/* The guest broke the device's protocol (a malformed descriptor
	 * chain, say): the device does nothing more until the guest resets
	 * it (virtio's DEVICE_NEEDS_RESET). */
	bool needs_reset;
};
#define NOOK_FUSE_OPCODE_SLOTS 64
struct nook_vm_metrics {
	size_t nvcpus;
	struct nook_vcpu_metrics *vcpus;
	size_t ndevices;
	struct nook_device_metrics *devices; /* in their MMIO slot order */
	/* Requests to nook's own file servers (not custom backends), by FUSE
	 * opcode (linux/fuse.h); opcodes >= NOOK_FUSE_OPCODE_SLOTS count in
	 * slot 0, which no opcode uses. */
	uint64_t fuse_ops[NOOK_FUSE_OPCODE_SLOTS];
};
/* A snapshot of the counters, freed with nook_vm_metrics_free(). -ENODEV
 * when the VM was built with metrics off. */
NOOK_API int nook_vm_get_metrics(nook_vm *vm, struct nook_vm_metrics **out, nook_error **err);
NOOK_API void nook_vm_metrics_free(struct nook_vm_metrics *metrics);
/* The name of a FUSE opcode nook's file server answers ("LOOKUP",
 * "READ"), or NULL for one it does not. */
NOOK_API const char *nook_fuse_opcode_name(unsigned opcode);

/* How the VM got its guest. */
enum nook_vm_boot {
	NOOK_VM_BOOT_COLD,          /* booted the kernel */
	NOOK_VM_BOOT_COLD_SNAPSHOT, /* booted the kernel and saves a snapshot */
	NOOK_VM_BOOT_RESTORED,      /* restored from a snapshot */
};
NOOK_API enum nook_vm_boot nook_vm_get_boot_kind(const nook_vm *vm);

/* Milliseconds from nook_vm_build() to each boot phase; negative when the
 * phase was not reached. first_run_ns is the CLOCK_MONOTONIC time of the
 * first KVM_RUN, for measuring from outside the process. */
struct nook_boot_times {
	double first_kvm_run_ms; /* VMM set up (or restored), guest starts */
	double userspace_ms;     /* kernel booted, nook-init runs (cold) */
	double ready_ms;         /* nook-init at the ready point (cold) */
	double config_ms;        /* the run handed to nook-init (after a snapshot) */
	double program_ms;       /* nook-init set up, the program starts */
	double exit_ms;          /* the program exited */
	uint64_t first_run_ns;
};
NOOK_API void nook_vm_get_boot_times(const nook_vm *vm, struct nook_boot_times *times);

#ifdef __cplusplus
}
#endif
#endif
