// SPDX-License-Identifier: MIT
/*
 * test_uring_stale.c - the bug the registration cache exists to prevent,
 * shown with real io_uring fixed buffers.
 *
 * A buffer is registered as a fixed buffer, freed (or unmapped) and a new
 * buffer is allocated at the SAME address.  A READ_FIXED into "the buffer at
 * that address" through the old slot then:
 *   _backend tests: no cache, the stale slot is kept: the kernel reads into
 *     the OLD pinned pages; the application's new buffer never sees the
 *     data (still the sentinel), and a WRITE_FIXED from the same slot
 *     proves the data sits in pages only the device can reach;
 *   _cache tests: the cache invalidated the region when the memory went
 *     away, the get after the reallocation misses and registers the new
 *     pages: the data lands where the application looks.
 * The _free tests use malloc()/free() (glibc's malloc serves a large block
 * with its own mapping and unmaps it on free); the _munmap tests do the
 * same with mmap()/munmap() directly.
 */
#include "util.h"

#ifdef UHMM_RCACHE_HAVE_URING

#include <errno.h>
#include <liburing.h>
#include <malloc.h>

#include <uhmm/rcache_uring.h>

#include "uring_util.h"

/* Built with ASan/UBSan or TSan: malloc is the sanitizer's, not glibc's. */
#if defined(TEST_TSAN) || defined(__SANITIZE_ADDRESS__)
#define TEST_SANITIZER_MALLOC 1
#endif

#define SLOTS		8
#define BUF_PAGES	64
#define SENTINEL	0x5a

struct fixture {
	struct io_uring ring;
	struct uhmm_rcache_uring *u;
	struct uhmm_rcache_params p;
	struct uhmm_rcache *cache;
	int src;	/* the file to read: uring_pattern_byte(i) at offset i */
	int dst;	/* where WRITE_FIXED puts what the slot holds */
	unsigned long start;	/* the page-aligned buffer */
	size_t len;
};

static bool all_bytes(const unsigned char *b, size_t len, unsigned char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != c)
			return false;
	return true;
}

static void fx_init(struct fixture *f, bool with_cache)
{
	int ret;

	memset(f, 0, sizeof(*f));
	ret = io_uring_queue_init(8, &f->ring, 0);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP("io_uring unavailable (%d)", ret);
	assert_int_equal(ret, 0);
	assert_int_equal(uhmm_rcache_uring_create(&f->ring, SLOTS, &f->u), 0);
	uhmm_rcache_uring_params(f->u, &f->p);
	if (with_cache)
		assert_int_equal(uhmm_rcache_create(NULL, &f->p, &f->cache), 0);
	f->len = BUF_PAGES * uhmm_page_size();
	f->src = pattern_file(f->len);
	f->dst = temp_file();
}

static void fx_fini(struct fixture *f)
{
	if (f->cache)
		uhmm_rcache_destroy(f->cache);
	uhmm_rcache_uring_destroy(f->u);
	io_uring_queue_exit(&f->ring);
	close(f->src);
	close(f->dst);
	munmap((void *)f->start, f->len);
}

/* One fixed-buffer I/O of @f->len bytes at file offset 0. */
static int io_fixed(struct fixture *f, bool read, int fd, uint64_t slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);
	struct io_uring_cqe *cqe;
	void *buf = (void *)f->start;
	int res;

	assert_non_null(sqe);
	assert_true(slot < SLOTS);
	if (read)
		io_uring_prep_read_fixed(sqe, fd, buf, f->len, 0, (int)slot);
	else
		io_uring_prep_write_fixed(sqe, fd, buf, f->len, 0, (int)slot);
	assert_int_equal(io_uring_submit(&f->ring), 1);
	assert_int_equal(io_uring_wait_cqe(&f->ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(&f->ring, cqe);
	return res;
}

static bool mapped(unsigned long addr)
{
	return msync((void *)addr, uhmm_page_size(), MS_ASYNC) == 0;
}

/* ------------------------------------------------------------------ */
/* The two ways to lose the memory and get a new buffer at its address */

/* mmap()ed buffer, munmap()ed; the new one mapped at the same address. */
static void *first_mmap(struct fixture *f)
{
	void *p = mmap(NULL, f->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	f->start = (unsigned long)p;
	return p;
}

static void lose_munmap(struct fixture *f, void *buf)
{
	assert_int_equal(munmap(buf, f->len), 0);
}

/*
 * malloc()ed buffer: a block above the (fixed) mmap threshold gets its
 * own mapping, which free() unmaps; the buffer is the block's pages.
 */
static void *first_malloc(struct fixture *f)
{
	unsigned long ps = uhmm_page_size();
	char *p;

	assert_int_equal(mallopt(M_MMAP_THRESHOLD, 128 * 1024), 1);
	p = malloc(f->len + ps);
	assert_non_null(p);
	f->start = ((unsigned long)p + ps - 1) & ~(ps - 1);
	return p;
}

static void lose_free(struct fixture *f, void *block)
{
	free(block);
	if (mapped(f->start))
		SKIP("free() kept the block mapped: no address to reuse");
}

/* Before anything is set up, so that a skip leaks nothing. */
static void need_glibc_malloc(void)
{
#ifdef TEST_SANITIZER_MALLOC
	SKIP("sanitizer build: its malloc keeps freed blocks (quarantine) or "
	     "unmaps them by raw system call, seen only by capture's "
	     "userfaultfd route; the _munmap tests cover it");
#endif
}

/* A new buffer at the old address (nothing else may have taken it). */
static unsigned char *realloc_same(struct fixture *f)
{
	void *p = mmap((void *)f->start, f->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		       -1, 0);

	if (p == MAP_FAILED || (unsigned long)p != f->start)
		SKIP("could not map the old address again (%s)",
		     p == MAP_FAILED ? strerror(errno) : "elsewhere");
	memset(p, SENTINEL, f->len);
	return p;
}

/* ------------------------------------------------------------------ */
/* (a) no cache: the stale registration is used                        */

static void stale_backend(void *(*first)(struct fixture *),
			  void (*lose)(struct fixture *, void *))
{
	struct uhmm_rcache_region r = { 0 };
	unsigned char *out, *buf;
	struct fixture f;

	fx_init(&f, false);
	buf = first(&f);
	r.start = f.start;
	r.end = f.start + f.len;
	r.access = UHMM_RCACHE_WRITE;
	assert_int_equal(f.p.ops->reg(f.p.arg, &r), 0);
	lose(&f, buf);
	buf = realloc_same(&f);

	/* The application reads the file into "its" buffer... */
	assert_int_equal(io_fixed(&f, true, f.src, r.key), (int)f.len);
	/* ...and does not see the data: it went into the old pages. */
	assert_true(all_bytes(buf, f.len, SENTINEL));
	/* Those pages still hold it, where only the device reaches them. */
	assert_int_equal(io_fixed(&f, false, f.dst, r.key), (int)f.len);
	out = malloc(f.len);
	assert_non_null(out);
	assert_int_equal(pread(f.dst, out, f.len, 0), (ssize_t)f.len);
	assert_true(has_pattern(out, f.len));
	free(out);
	f.p.ops->dereg(f.p.arg, &r);
	fx_fini(&f);
}

static void test_uring_stale_munmap_backend(void **state)
{
	stale_backend(first_mmap, lose_munmap);
}

static void test_uring_stale_free_backend(void **state)
{
	need_glibc_malloc();
	stale_backend(first_malloc, lose_free);
}

/* ------------------------------------------------------------------ */
/* (b) through the cache: invalidated on free, registered again         */

static struct uhmm_rcache_stats cstats(struct fixture *f)
{
	struct uhmm_rcache_stats s;

	uhmm_rcache_stats(f->cache, &s);
	return s;
}

static void stale_cache(void *(*first)(struct fixture *),
			void (*lose)(struct fixture *, void *))
{
	struct uhmm_rcache_uring_stats us;
	struct uhmm_rcache_region *r;
	unsigned char *buf;
	struct fixture f;

	fx_init(&f, true);
	buf = first(&f);
	assert_int_equal(uhmm_rcache_get(f.cache, (void *)f.start, f.len,
					 UHMM_RCACHE_WRITE, &r), 0);
	assert_int_equal(cstats(&f).registrations, 1);
	uhmm_rcache_put(f.cache, r);
	lose(&f, buf);
	assert_int_equal(cstats(&f).invalidations, 1);
	buf = realloc_same(&f);

	/* Same address, same length: the cache must not hit. */
	assert_int_equal(uhmm_rcache_get(f.cache, (void *)f.start, f.len,
					 UHMM_RCACHE_WRITE, &r), 0);
	assert_int_equal(cstats(&f).hits, 0);
	assert_int_equal(cstats(&f).misses, 2);
	assert_int_equal(cstats(&f).registrations, 2);
	assert_true(r->start <= f.start && f.start + f.len <= r->end);
	assert_int_equal(io_fixed(&f, true, f.src, r->key), (int)f.len);
	assert_true(has_pattern(buf, f.len));
	uhmm_rcache_put(f.cache, r);

	uhmm_rcache_reclaim(f.cache);
	uhmm_rcache_uring_stats(f.u, &us);
	assert_int_equal(cstats(&f).deregistrations, 1);
	assert_int_equal(us.used, cstats(&f).regions);
	fx_fini(&f);
}

static void test_uring_stale_munmap_cache(void **state)
{
	stale_cache(first_mmap, lose_munmap);
}

static void test_uring_stale_free_cache(void **state)
{
	need_glibc_malloc();
	stale_cache(first_malloc, lose_free);
}

#else /* !UHMM_RCACHE_HAVE_URING */

#define NO_URING(name) \
	static void name(void **state) { SKIP("built without liburing"); }
NO_URING(test_uring_stale_munmap_backend)
NO_URING(test_uring_stale_free_backend)
NO_URING(test_uring_stale_munmap_cache)
NO_URING(test_uring_stale_free_cache)

#endif

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uring_stale_munmap_backend),
		cmocka_unit_test(test_uring_stale_free_backend),
		cmocka_unit_test(test_uring_stale_munmap_cache),
		cmocka_unit_test(test_uring_stale_free_cache),
	};

	return HARNESS_MAIN(tests);
}
