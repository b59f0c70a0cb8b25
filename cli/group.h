/* Groups of sandboxes on one network segment: a VDE switch (libvdeplug4's
 * switch module in Debian's vde_plug, watched by a small process of
 * nook's) per group, in the
 * user's runtime directory (.groups: no sandbox has that name):
 *   .groups/lock               held while subnets are handed out
 *   .groups/NAME/subnet        the group's, 10.77.N.0/24
 *   .groups/NAME/lock          held while addresses are handed out
 *   .groups/NAME/switch.lock   held by the switch's process while it lives
 *   .groups/NAME/switch/       the switch (its control socket, the ports)
 *   .groups/NAME/members/SANDBOX  the member's address, kept until rm
 *   .groups/NAME/hosts         every member's address and name, the
 *                             members' /etc/hosts (read-only)
 * The switch's process ends once no member has run for a while. */
#ifndef NOOK_CLI_GROUP_H
#define NOOK_CLI_GROUP_H

#include <netinet/in.h>

#include <nook/types.h>

/* A group's subnet, one of GROUP_SUBNETS: each group has one of its own. */
#define GROUP_SUBNET_FMT "10.77.%u.0/24"
#define GROUP_SUBNETS 256

struct group_member {
	char switch_url[4200];  /* vde:///.../switch */
	char hosts[4200];       /* the group's hosts file */
	struct in_addr ip;
	struct nook_ipv4_subnet subnet;
};

/* Makes `sandbox` a member of `group` (an address, the hosts file) and
 * makes sure its switch runs. 0, or EXIT_NOOK_FAILED after saying why. */
int group_join(const char *group, const char *sandbox, struct group_member *out);
/* Forgets the member (rm). */
void group_leave(const char *group, const char *sandbox);

#endif
