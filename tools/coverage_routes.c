/* SPDX-License-Identifier: MIT */
/*
 * coverage_routes.c - the routes of the coverage matrix (rows): which
 * memory kinds each applies to, what the default configuration claims for
 * it, and how it changes the cell's memory.
 *
 * The claims come from docs/capture.md's route table: every libc entry the
 * interposer wraps (and libc's syscall()) is caught before the change;
 * glibc's internal calls (free(), realloc(), heap trims) and a bare
 * `syscall` instruction are the documented gaps.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coverage.h"

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED	24
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE	0x100000
#endif
#ifndef SHM_REMAP
#define SHM_REMAP		040000
#endif

/*
 * Whether libc's @fn is entry-patched now, as the capture library says.
 * Today it says so only through a test hook of libuhmm-interpose.so
 * (src/capture/patch.h: "for tests only, not a contract"), looked up by
 * name so that the tool still builds and runs against a library without
 * it.  THE PLACE TO UPDATE when the library gets a public way to say it.
 */
bool cov_patched(const char *fn)
{
	bool (*patched)(const char *);

	*(void **)&patched = dlsym(RTLD_DEFAULT, "uhmm__patch_test_patched");
	return fn && patched && patched(fn);
}

/* A kernel error as a cell note: refused here, not a capture failure. */
static int refused(struct cov_cell *c, const char *what)
{
	return cov_note(c, COV_REFUSED, "%s: %s", what, strerror(errno));
}

static int check(struct cov_cell *c, int ret, const char *what)
{
	return ret ? refused(c, what) : 0;
}

static int do_munmap(struct cov_cell *c)
{
	return check(c, munmap(c->addr, c->len), "munmap");
}

static int do_mmap_fixed(struct cov_cell *c)
{
	void *r = mmap(c->addr, c->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	return r == MAP_FAILED ? refused(c, "mmap") : 0;
}

static int do_mmap_noreplace(struct cov_cell *c)
{
	void *r = mmap(c->addr, c->unit, PROT_READ, MAP_PRIVATE |
		       MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (r != MAP_FAILED)
		return cov_note(c, COV_REFUSED, "MAP_FIXED_NOREPLACE ignored");
	return errno == EEXIST ? 0 : refused(c, "mmap");
}

static int do_mremap_shrink(struct cov_cell *c)
{
	void *r = mremap(c->addr, c->len, c->len - c->unit, 0);

	return r == MAP_FAILED ? refused(c, "mremap") : 0;
}

/* A free, aligned place for a move target (reserved, then replaced). */
static char *target(struct cov_cell *c)
{
	char *r = mmap(NULL, c->len + c->unit, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (r == MAP_FAILED)
		return NULL;
	return (char *)(((uintptr_t)r + c->unit - 1) & ~(c->unit - 1));
}

static int do_mremap_move(struct cov_cell *c)
{
	char *t = target(c);
	void *r;

	if (!t)
		return refused(c, "mmap target");
	r = mremap(c->addr, c->len, c->len, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	return r == MAP_FAILED ? refused(c, "mremap") : 0;
}

/*
 * Three units mapped, the last dropped before the subscription starts:
 * the grow back into the hole is the only change the cell sees.
 */
static int grow_setup(struct cov_cell *c)
{
	int ret = cov_kind_map(c, 3);

	if (ret)
		return ret;
	c->len -= c->unit;
	if (mremap(c->addr, c->len + c->unit, c->len, 0) == MAP_FAILED)
		return refused(c, "mremap shrink");
	return 0;
}

static int do_mremap_grow(struct cov_cell *c)
{
	void *r = mremap(c->addr, c->len, c->len + c->unit, 0);

	return r == MAP_FAILED ? refused(c, "mremap grow") : 0;
}

static int do_mremap_dontunmap(struct cov_cell *c)
{
	void *r = mremap(c->addr, c->len, c->len,
			 MREMAP_MAYMOVE | MREMAP_DONTUNMAP);

	return r == MAP_FAILED ? refused(c, "mremap") : 0;
}

#define MADV_ROUTE(fn, advice)						\
static int fn(struct cov_cell *c)					\
{									\
	return check(c, madvise(c->addr, c->unit, advice), #advice);	\
}
MADV_ROUTE(do_dontneed, MADV_DONTNEED)
MADV_ROUTE(do_dontneed_locked, MADV_DONTNEED_LOCKED)
MADV_ROUTE(do_free, MADV_FREE)
MADV_ROUTE(do_remove, MADV_REMOVE)
MADV_ROUTE(do_guard, MADV_GUARD_INSTALL)

static int do_mprotect_ro(struct cov_cell *c)
{
	return check(c, mprotect(c->addr, c->unit, PROT_READ), "mprotect");
}

static int do_mprotect_none(struct cov_cell *c)
{
	return check(c, mprotect(c->addr, c->unit, PROT_NONE), "mprotect");
}

static int do_pkey_ro(struct cov_cell *c)
{
	return check(c, pkey_mprotect(c->addr, c->unit, PROT_READ, -1),
		     "pkey_mprotect");
}

static int do_pkey_none(struct cov_cell *c)
{
	return check(c, pkey_mprotect(c->addr, c->unit, PROT_NONE, -1),
		     "pkey_mprotect");
}

/* The heap kind grew the break by exactly the cell: it is at the top. */
static int heap_top(struct cov_cell *c)
{
	if ((char *)sbrk(0) != c->addr + c->len)
		return cov_note(c, COV_FAIL, "the break moved under the cell");
	return 0;
}

static int do_brk(struct cov_cell *c)
{
	return heap_top(c) ?: check(c, brk(c->addr), "brk");
}

static int do_sbrk(struct cov_cell *c)
{
	if (heap_top(c))
		return COV_FAIL;
	if (sbrk(-(intptr_t)c->len) == (void *)-1)
		return refused(c, "sbrk");
	return 0;
}

static int do_shmat_remap(struct cov_cell *c)
{
	int id = shmget(IPC_PRIVATE, c->unit, IPC_CREAT | 0600);
	void *r;

	if (id < 0)
		return refused(c, "shmget");
	r = shmat(id, c->addr, SHM_REMAP);
	shmctl(id, IPC_RMID, NULL);
	return r == (void *)-1 ? refused(c, "shmat") : 0;
}

/* shmdt's own memory: a SysV segment (shmem), attached and marked. */
static int shm_setup(struct cov_cell *c)
{
	int id;

	c->unit = (size_t)sysconf(_SC_PAGESIZE);
	c->len = 2 * c->unit;
	id = shmget(IPC_PRIVATE, c->len, IPC_CREAT | 0600);
	if (id < 0)
		return refused(c, "shmget");
	c->addr = shmat(id, NULL, 0);
	shmctl(id, IPC_RMID, NULL);
	if (c->addr == (void *)-1)
		return refused(c, "shmat");
	c->addr[0] = COV_MARK;
	c->addr[c->unit] = COV_MARK;
	return 0;
}

static int do_shmdt(struct cov_cell *c)
{
	return check(c, shmdt(c->addr), "shmdt");
}

static int do_sys_munmap(struct cov_cell *c)
{
	return check(c, (int)syscall(SYS_munmap, c->addr, c->len), "munmap");
}

static int do_sys_mremap(struct cov_cell *c)
{
	long r = syscall(SYS_mremap, c->addr, c->len, c->len - c->unit,
			 0L);

	return r == -1 ? refused(c, "mremap") : 0;
}

static int do_sys_madvise(struct cov_cell *c)
{
	return check(c, (int)syscall(SYS_madvise, c->addr, c->unit,
				     (long)MADV_DONTNEED), "madvise");
}

static int do_sys_mprotect(struct cov_cell *c)
{
	return check(c, (int)syscall(SYS_mprotect, c->addr, c->unit,
				     (long)PROT_READ), "mprotect");
}

/* munmap by a `syscall` instruction of our own: no libc on the way. */
static int do_asm_munmap(struct cov_cell *c)
{
	long r;

#if defined(__x86_64__)
	__asm__ volatile("syscall" : "=a"(r)
			 : "0"((long)SYS_munmap), "D"(c->addr), "S"(c->len)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_munmap;
	register long x0 __asm__("x0") = (long)c->addr;
	register long x1 __asm__("x1") = (long)c->len;

	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
	r = x0;
#else
	return cov_note(c, COV_NA, "no inline syscall for this architecture");
#endif
	if (r < 0) {
		errno = (int)-r;
		return refused(c, "munmap");
	}
	return 0;
}

static void *thread_munmap(void *arg)
{
	struct cov_cell *c = arg;

	return (void *)(intptr_t)do_munmap(c);
}

static int do_thread_munmap(struct cov_cell *c)
{
	pthread_t t;
	void *ret;

	if (pthread_create(&t, NULL, thread_munmap, c))
		return cov_note(c, COV_FAIL, "pthread_create failed");
	pthread_join(t, &ret);
	return (int)(intptr_t)ret;
}

/* The library dlopen()ed after uhmm started (coverage_lib.c). */
static int do_dlopen_munmap(struct cov_cell *c)
{
	const char *path = getenv("UHMM_COVERAGE_LIB");
	int (*fn)(void *, size_t);
	void *h;

	if (!path)
		path = UHMM_COVERAGE_LIB_PATH;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return cov_note(c, COV_NA, "cannot dlopen %s", path);
	*(void **)&fn = dlsym(h, "uhmm_coverage_lib_munmap");
	if (!fn)
		return cov_note(c, COV_FAIL, "no uhmm_coverage_lib_munmap");
	return check(c, fn(c->addr, c->len), "munmap");
}

/* free() and realloc() of mmapped chunks: private anonymous memory. */
#ifdef COV_SANITIZER
#define MALLOC_KINDS	0u
#define TRIM_KINDS	0u
#define MALLOC_WHY	"the sanitizer's allocator replaces glibc malloc"
#else
#define MALLOC_KINDS	KB(K_ANON)
#define TRIM_KINDS	KB(K_HEAP)
#define MALLOC_WHY	"only glibc malloc's own memory"
#endif

#define MAPS_WHY	"the heap is brk's, not a mapping"
#define ALL_WHY		""

/*
 * The matrix: route, kinds it applies to, claim, why not elsewhere, own
 * setup, units, probe unit, action.  A route that does not apply to a
 * kind is n/a there.  Where the kernel refuses a route for a kind at run
 * time (hugetlb and mremap, madvise(FREE) on shared memory...), the cell
 * says "refused" with the errno, and nothing is claimed about it.
 */
const struct cov_route cov_routes[] = {
	{ "munmap", K_MAPS, CLAIM_BEFORE, MAPS_WHY, NULL, 2, 0, do_munmap, NULL },
	{ "mmap-fixed", K_MAPS, CLAIM_BEFORE, MAPS_WHY, NULL, 2, 0,
	  do_mmap_fixed, NULL },
	{ "mmap-noreplace", K_MAPS, CLAIM_NONE, MAPS_WHY, NULL, 2, 0,
	  do_mmap_noreplace, NULL },
	{ "mremap-shrink", K_MAPS, CLAIM_BEFORE, MAPS_WHY, NULL, 2, 1,
	  do_mremap_shrink, NULL },
	{ "mremap-move", K_MAPS, CLAIM_BEFORE, MAPS_WHY, NULL, 2, 0,
	  do_mremap_move, NULL },
	{ "mremap-grow", K_MAPS, CLAIM_NONE, MAPS_WHY, grow_setup, 0, 0,
	  do_mremap_grow, NULL },
	{ "mremap-dontunmap", K_MAPS, CLAIM_BEFORE, MAPS_WHY, NULL, 2, 0,
	  do_mremap_dontunmap, NULL },
	{ "madv-dontneed", K_ALL, CLAIM_BEFORE, ALL_WHY, NULL, 2, 0,
	  do_dontneed, NULL },
	{ "madv-dontneed-lk", K_ALL, CLAIM_BEFORE, ALL_WHY, NULL, 2, 0,
	  do_dontneed_locked, NULL },
	{ "madv-free", KB(K_ANON) | KB(K_THP) | KB(K_HEAP), CLAIM_BEFORE,
	  "MADV_FREE is for private anonymous memory", NULL, 2, 0, do_free, NULL },
	{ "madv-remove", KB(K_SHARED) | KB(K_MEMFD) | KB(K_FSHARED),
	  CLAIM_BEFORE, "MADV_REMOVE needs a shared mapping", NULL, 2, 0,
	  do_remove, NULL },
	{ "madv-guard", K_ALL, CLAIM_BEFORE, ALL_WHY, NULL, 2, 0, do_guard, NULL },
	{ "mprotect-ro", K_ALL, CLAIM_BEFORE, ALL_WHY, NULL, 2, 0,
	  do_mprotect_ro, NULL },
	{ "mprotect-none", K_ALL, CLAIM_BEFORE, ALL_WHY, NULL, 2, 0,
	  do_mprotect_none, NULL },
	{ "pkey-ro", K_ALL, CLAIM_BEFORE, ALL_WHY, NULL, 2, 0, do_pkey_ro, NULL },
	{ "pkey-none", K_ALL, CLAIM_BEFORE, ALL_WHY, NULL, 2, 0,
	  do_pkey_none, NULL },
	{ "brk-shrink", KB(K_HEAP), CLAIM_BEFORE, "brk moves only the heap",
	  NULL, 2, 0, do_brk, NULL },
	{ "sbrk-shrink", KB(K_HEAP), CLAIM_BEFORE, "sbrk moves only the heap",
	  NULL, 2, 0, do_sbrk, NULL },
	{ "shmat-remap", K_MAPS, CLAIM_BEFORE, MAPS_WHY, NULL, 2, 0,
	  do_shmat_remap, NULL },
	{ "shmdt", KB(K_MEMFD), CLAIM_BEFORE,
	  "a SysV segment is shmem: run in the memfd column", shm_setup, 2, 0,
	  do_shmdt, NULL },
	{ "free-large", MALLOC_KINDS, CLAIM_GAP, MALLOC_WHY,
	  cov_free_large_setup, 0, 0, cov_free_large, "munmap" },
	{ "realloc-mremap", MALLOC_KINDS, CLAIM_GAP, MALLOC_WHY,
	  cov_realloc_setup, 0, 0, cov_realloc, "mremap" },
	{ "free-trim", TRIM_KINDS, CLAIM_GAP, MALLOC_WHY,
	  cov_free_trim_setup, 0, 0, cov_free_trim, "brk" },	/* __sbrk -> __brk */
	{ "malloc-trim", TRIM_KINDS, CLAIM_GAP, MALLOC_WHY,
	  cov_malloc_trim_setup, 0, 0, cov_malloc_trim, "madvise" },	/* mtrim */
	{ "sys-munmap", K_MAPS, CLAIM_BEFORE, MAPS_WHY, NULL, 2, 0,
	  do_sys_munmap, NULL },
	{ "sys-mremap", K_MAPS, CLAIM_BEFORE, MAPS_WHY, NULL, 2, 1,
	  do_sys_mremap, NULL },
	{ "sys-madvise", K_ALL, CLAIM_BEFORE, ALL_WHY, NULL, 2, 0,
	  do_sys_madvise, NULL },
	{ "sys-mprotect", K_ALL, CLAIM_BEFORE, ALL_WHY, NULL, 2, 0,
	  do_sys_mprotect, NULL },
	{ "asm-munmap", K_MAPS, CLAIM_UFFD, MAPS_WHY, NULL, 2, 0,
	  do_asm_munmap, NULL },
	{ "thread-munmap", K_MAPS, CLAIM_BEFORE, MAPS_WHY, NULL, 2, 0,
	  do_thread_munmap, NULL },
	{ "dlopen-munmap", K_MAPS, CLAIM_BEFORE, MAPS_WHY, NULL, 2, 0,
	  do_dlopen_munmap, NULL },
};
const unsigned int cov_nr_routes = sizeof(cov_routes) / sizeof(cov_routes[0]);

/*
 * A route through glibc's internals is claimed when the libc function it
 * ends in (@patch_fn) is patched: then glibc's own call is announced.
 */
/*
 * Does capture's userfaultfd mechanism run in the default configuration
 * here?  As the library decides (src/capture/uffd.c): not turned off by
 * UHMM_CAPTURE or UHMM_CAPTURE_UFFD, and a userfaultfd with the UNMAP,
 * REMOVE and REMAP events.  *@wp_async: it can take file mappings too.
 */
bool cov_uffd_runs(bool *wp_async)
{
	static int known = -1, async;	/* this process only asks once */
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_EVENT_UNMAP |
			    UFFD_FEATURE_EVENT_REMOVE |
			    UFFD_FEATURE_EVENT_REMAP,
	};
	const char *v = getenv("UHMM_CAPTURE_UFFD"), *c = getenv("UHMM_CAPTURE");
	long fd;

	if (known < 0) {
		known = 0;
		if ((v && (!strcmp(v, "off") || !strcmp(v, "0") ||
			   !strcmp(v, "no"))) ||
		    (c && (!strcmp(c, "off") || !strcmp(c, "0") ||
			   !strcmp(c, "no"))))
			goto out;
		fd = syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* user only */);
		if (fd < 0)
			fd = syscall(SYS_userfaultfd, O_CLOEXEC);
		if (fd < 0)
			goto out;
		known = ioctl((int)fd, UFFDIO_API, &api) == 0;
		async = known && (api.features & (1ULL << 15)); /* WP_ASYNC */
		close((int)fd);
	}
out:
	*wp_async = async;
	return known;
}

enum cov_claim cov_claim_of(const struct cov_route *r)
{
	bool async;

	if (r->claim == CLAIM_GAP && cov_patched(r->patch_fn))
		return CLAIM_BEFORE;
	if (r->claim == CLAIM_UFFD)
		return cov_uffd_runs(&async) ? CLAIM_AFTER : CLAIM_GAP;
	return r->claim;
}

enum cov_claim cov_claim_for(const struct cov_route *r, enum cov_kind k)
{
	enum cov_claim claim = cov_claim_of(r);
	bool async;

	if (claim == CLAIM_AFTER && (k == K_FSHARED || k == K_FPRIV) &&
	    !(cov_uffd_runs(&async) && async))
		return CLAIM_GAP;
	return claim;
}
