/* Node and handle tables.
 *
 * Ids: node ids and file handles are (generation << 32 | slot). A forged or
 * stale id finds an empty slot or a different generation and gets nothing
 * (the caller answers ESTALE/EBADF), never memory.
 *
 * Nodes: one per host inode the client has been handed (per access class:
 * the same inode reached through a read-only and a writable export is two
 * nodes), holding an O_PATH|O_NOFOLLOW descriptor, found by id (slots) and
 * by (dev, ino, class) (hash).
 *
 * Reference rules, all under s->lock:
 * - nlookup counts the client's references: +1 for every reply that hands
 *   the node out (an entry of LOOKUP, MKNOD, MKDIR, SYMLINK, LINK, CREATE,
 *   READDIRPLUS), -N for FORGET/BATCH_FORGET of N. A reply that cannot be
 *   sent takes its +1 back (fs_node_done).
 * - refs counts the holders of the struct: 1 for being in the tables, 1 per
 *   request using it (fs_node_get/fs_node_intern .. fs_node_put/
 *   fs_node_done), 1 per open handle on it.
 * - A node leaves the tables (id dead, no longer found by inode) when
 *   nlookup drops to 0, unless pinned (export roots and the root live as
 *   long as the server). It is freed, and its descriptor closed, when refs
 *   drops to 0.
 * - Handles: refs is 1 for being in the table plus 1 per request using it;
 *   RELEASE takes it out of the table, the last user frees it and drops its
 *   node ref.
 *
 * Descriptor budget: s->fds counts the host descriptors nodes (but the
 * pinned ones) and handles hold, from the moment they are made until they
 * are freed; past s->max_fds a new node or handle gets -ENFILE, known
 * ones go on working, and FORGET/RELEASE give descriptors back once the
 * last request using them is done.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"

/* ---- id slots ---- */

static int slots_insert(struct fs_slots *t, void *item, uint64_t *id, uint32_t first)
{
	uint32_t i = t->free_hint > first ? t->free_hint : first;
	for (; i < t->size && t->items[i]; i++)
		;
	if (i >= t->size) {
		if (t->size >= UINT32_MAX / 2)
			return -ENFILE;
		uint32_t n = t->size ? t->size * 2 : 64;
		void **items = realloc(t->items, n * sizeof(*items));
		if (!items)
			return -ENOMEM;
		t->items = items;
		uint32_t *gens = realloc(t->gens, n * sizeof(*gens));
		if (!gens)
			return -ENOMEM;
		t->gens = gens;
		memset(items + t->size, 0, (n - t->size) * sizeof(*items));
		memset(gens + t->size, 0, (n - t->size) * sizeof(*gens));
		t->size = n;
	}
	t->items[i] = item;
	t->gens[i]++;
	t->free_hint = i + 1;
	*id = (uint64_t)t->gens[i] << 32 | i;
	return 0;
}

static void *slots_get(const struct fs_slots *t, uint64_t id)
{
	uint32_t i = (uint32_t)id;
	if (i >= t->size || !t->items[i] || t->gens[i] != (uint32_t)(id >> 32))
		return NULL;
	return t->items[i];
}

static void slots_remove(struct fs_slots *t, uint64_t id)
{
	uint32_t i = (uint32_t)id;
	t->items[i] = NULL;
	if (i < t->free_hint)
		t->free_hint = i;
}

static void slots_free(struct fs_slots *t)
{
	free(t->items);
	free(t->gens);
}

/* ---- nodes by inode ---- */

/* Nodes are shared between exports of one access class, so that an inode
 * renamed from one export into another (overlayfs moves its copy-ups from
 * the work dir into the upper dir) keeps its node id: a new id for the same
 * dentry makes the client's revalidation fail with ESTALE. */
static int node_class(const struct fs_server *s, int export)
{
	return export < 0 ? -1 : s->exports[export].read_only;
}

static size_t node_hash(dev_t dev, ino_t ino, int class, size_t size)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4full ^
		     (uint64_t)(unsigned)class;
	return (size_t)(h ^ h >> 29) & (size - 1);
}

static int hash_grow(struct fs_server *s)
{
	size_t n = s->hash_size ? s->hash_size * 2 : 256;
	struct fs_node **h = calloc(n, sizeof(*h));
	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < s->hash_size; i++) {
		for (struct fs_node *nd = s->hash[i], *next; nd; nd = next) {
			next = nd->hash_next;
			size_t b = node_hash(nd->dev, nd->ino, node_class(s, nd->export), n);
			nd->hash_next = h[b];
			h[b] = nd;
		}
	}
	free(s->hash);
	s->hash = h;
	s->hash_size = n;
	return 0;
}

static struct fs_node *hash_find(struct fs_server *s, const struct stat *st, int export)
{
	if (!s->hash_size)
		return NULL;
	int class = node_class(s, export);
	struct fs_node *nd = s->hash[node_hash(st->st_dev, st->st_ino, class, s->hash_size)];
	while (nd && (nd->dev != st->st_dev || nd->ino != st->st_ino ||
		      node_class(s, nd->export) != class))
		nd = nd->hash_next;
	return nd;
}

static void hash_add(struct fs_server *s, struct fs_node *nd)
{
	size_t b = node_hash(nd->dev, nd->ino, node_class(s, nd->export), s->hash_size);
	nd->hash_next = s->hash[b];
	s->hash[b] = nd;
	s->hash_count++;
}

static void hash_remove(struct fs_server *s, struct fs_node *nd)
{
	struct fs_node **p =
		&s->hash[node_hash(nd->dev, nd->ino, node_class(s, nd->export), s->hash_size)];
	for (; *p; p = &(*p)->hash_next) {
		if (*p == nd) {
			*p = nd->hash_next;
			s->hash_count--;
			return;
		}
	}
}

/* ---- the descriptor budget ---- */

/* A new node or handle may keep host descriptor fd: within the server's
 * budget, and numbered below the process's reserve (descriptors are
 * allocated lowest first, so fd N means N are in use: however many servers
 * a process has, the top of its RLIMIT_NOFILE stays for the rest of it). */
static int budget_take(struct fs_server *s, int fd)
{
	if (s->fds >= s->max_fds || (unsigned)fd >= s->fd_reserve_from)
		return -ENFILE;
	s->fds++;
	return 0;
}

/* ---- node lifetime ---- */

static void node_unref_locked(struct fs_server *s, struct fs_node *nd)
{
	if (--nd->refs)
		return;
	if (nd->fd >= 0) {
		close(nd->fd);
		if (!nd->pinned)
			s->fds--;
	}
	pthread_mutex_destroy(&nd->view_lock);
	free(nd);
}

static void node_forget_locked(struct fs_server *s, struct fs_node *nd, uint64_t count)
{
	nd->nlookup = count >= nd->nlookup ? 0 : nd->nlookup - count;
	if (nd->nlookup || nd->pinned)
		return;
	slots_remove(&s->nodes, nd->nodeid);
	hash_remove(s, nd);
	node_unref_locked(s, nd);
}

/* The node `nodeid` names, with a ref for the caller; NULL if none. */
struct fs_node *fs_node_get(struct fs_server *s, uint64_t nodeid)
{
	pthread_mutex_lock(&s->lock);
	struct fs_node *nd = nodeid == FUSE_ROOT_ID ? s->root : slots_get(&s->nodes, nodeid);
	if (nd)
		nd->refs++;
	pthread_mutex_unlock(&s->lock);
	return nd;
}

void fs_node_put(struct fs_server *s, struct fs_node *nd)
{
	if (!nd)
		return;
	pthread_mutex_lock(&s->lock);
	node_unref_locked(s, nd);
	pthread_mutex_unlock(&s->lock);
}

/* A new node in the tables, owning fd. */
static int node_new_locked(struct fs_server *s, int fd, const struct stat *st, int export,
			   bool pinned, struct fs_node **out)
{
	struct fs_node *nd = calloc(1, sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	*nd = (struct fs_node){.fd = fd, .export = export, .pinned = pinned,
			       .type = st->st_mode & S_IFMT, .dev = st->st_dev, .ino = st->st_ino,
			       .refs = 1};
	pthread_mutex_init(&nd->view_lock, NULL);
	int r = slots_insert(&s->nodes, nd, &nd->nodeid, 2);
	if (r < 0) {
		free(nd);
		return r;
	}
	hash_add(s, nd);
	*out = nd;
	return 0;
}

static int node_intern(struct fs_server *s, int fd, const struct stat *st, int export,
		       bool pinned, struct fs_node **out)
{
	pthread_mutex_lock(&s->lock);
	struct fs_node *nd = hash_find(s, st, export);
	int r = 0;
	if (nd) {
		close(fd);
	} else if ((s->hash_count >= s->hash_size / 2 && (r = hash_grow(s)) < 0) ||
		   (!pinned && (r = budget_take(s, fd)) < 0)) {
		close(fd);
		goto out;
	} else if ((r = node_new_locked(s, fd, st, export, pinned, &nd)) < 0) {
		close(fd);
		if (!pinned)
			s->fds--;
		goto out;
	}
	nd->nlookup++;
	nd->refs++;
	*out = nd;
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Takes ownership of fd (an O_PATH descriptor of the object with stat st):
 * the node for it, new or known, with one more client reference and a ref
 * for the caller. A new node takes from the budget (-ENFILE). */
int fs_node_intern(struct fs_server *s, int fd, const struct stat *st, int export,
		   struct fs_node **out)
{
	return node_intern(s, fd, st, export, false, out);
}

/* A pinned node (an export root looked up in the synthetic root) with one
 * more client reference and a ref for the caller, as fs_node_intern. */
void fs_node_add_lookup(struct fs_server *s, struct fs_node *nd)
{
	pthread_mutex_lock(&s->lock);
	nd->nlookup++;
	nd->refs++;
	pthread_mutex_unlock(&s->lock);
}

/* Ends a request's use of a node it got with a client reference
 * (fs_node_intern, fs_node_add_lookup): the reference stays if the reply
 * handed the node out, else it is taken back. */
void fs_node_done(struct fs_server *s, struct fs_node *nd, bool handed_out)
{
	pthread_mutex_lock(&s->lock);
	if (!handed_out)
		node_forget_locked(s, nd, 1);
	node_unref_locked(s, nd);
	pthread_mutex_unlock(&s->lock);
}

/* FORGET: drops `count` client references; ids of pinned nodes and unknown
 * ids are ignored. */
void fs_node_forget(struct fs_server *s, uint64_t nodeid, uint64_t count)
{
	pthread_mutex_lock(&s->lock);
	struct fs_node *nd = nodeid == FUSE_ROOT_ID ? NULL : slots_get(&s->nodes, nodeid);
	if (nd)
		node_forget_locked(s, nd, count);
	pthread_mutex_unlock(&s->lock);
}

/* An export's root: in the tables for the server's life, with no client
 * reference until the client looks it up. */
int fs_node_make_root(struct fs_server *s, int fd, const struct stat *st, int export,
		      struct fs_node **out)
{
	int r = node_intern(s, fd, st, export, true, out);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	(*out)->export_root = true;
	(*out)->nlookup = 0;
	(*out)->refs--;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* FUSE_ROOT_ID: a synthetic directory listing the exports (no host object
 * behind it), or the only export's root. */
int fs_tables_set_root(struct fs_server *s, bool synthetic)
{
	if (!synthetic) {
		s->root = s->exports[0].root;
		s->root->refs++;
		return 0;
	}
	if (!(s->root = calloc(1, sizeof(*s->root))))
		return -ENOMEM;
	*s->root = (struct fs_node){.nodeid = FUSE_ROOT_ID, .fd = -1, .export = -1,
				    .pinned = true, .type = S_IFDIR, .refs = 1};
	pthread_mutex_init(&s->root->view_lock, NULL);
	return 0;
}

/* ---- handles ---- */

/* A handle on nd (which it holds a ref to) owning fd (-1: none), which
 * takes from the budget (-ENFILE). */
int fs_handle_new(struct fs_server *s, struct fs_node *nd, int fd, uint64_t *fh)
{
	struct fs_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	h->node = nd;
	h->refs = 1;
	pthread_mutex_init(&h->dir_lock, NULL);
	pthread_mutex_lock(&s->lock);
	int r = fd >= 0 ? budget_take(s, fd) : 0;
	if (r == 0 && (r = slots_insert(&s->handles, h, &h->fh, 1)) < 0 && fd >= 0)
		s->fds--;
	if (r == 0)
		nd->refs++;
	pthread_mutex_unlock(&s->lock);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		pthread_mutex_destroy(&h->dir_lock);
		free(h);
		return r;
	}
	*fh = h->fh;
	return 0;
}

static void handle_unref_locked(struct fs_server *s, struct fs_handle *h)
{
	if (--h->refs)
		return;
	if (h->fd >= 0) {
		close(h->fd);
		s->fds--;
	}
	node_unref_locked(s, h->node);
	pthread_mutex_destroy(&h->dir_lock);
	free(h);
}

struct fs_handle *fs_handle_get(struct fs_server *s, uint64_t fh)
{
	pthread_mutex_lock(&s->lock);
	struct fs_handle *h = slots_get(&s->handles, fh);
	if (h)
		h->refs++;
	pthread_mutex_unlock(&s->lock);
	return h;
}

void fs_handle_put(struct fs_server *s, struct fs_handle *h)
{
	pthread_mutex_lock(&s->lock);
	handle_unref_locked(s, h);
	pthread_mutex_unlock(&s->lock);
}

int fs_handle_release(struct fs_server *s, uint64_t fh)
{
	pthread_mutex_lock(&s->lock);
	struct fs_handle *h = slots_get(&s->handles, fh);
	if (h) {
		slots_remove(&s->handles, fh);
		handle_unref_locked(s, h);
	}
	pthread_mutex_unlock(&s->lock);
	return h ? 0 : -EBADF;
}

/* Frees every node and handle (the server is going away: no request runs). */
void fs_tables_free(struct fs_server *s)
{
	for (uint32_t i = 0; i < s->handles.size; i++)
		if (s->handles.items[i])
			handle_unref_locked(s, s->handles.items[i]);
	for (uint32_t i = 0; i < s->nodes.size; i++)
		if (s->nodes.items[i])
			node_unref_locked(s, s->nodes.items[i]);
	if (s->root)
		node_unref_locked(s, s->root);
	slots_free(&s->nodes);
	slots_free(&s->handles);
	free(s->hash);
}
