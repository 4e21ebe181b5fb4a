// SPDX-License-Identifier: MIT
/*
 * test_uring_backend.c - the io_uring fixed-buffer backend's ops on their
 * own, against a real ring and real pinned pages: a slot per registration,
 * empty again after ->dereg, reused, a full table, the kernel's refusals
 * (unmapped, read-only, too large, RLIMIT_MEMLOCK), table ownership.
 */
#include "util.h"

#ifdef UHMM_RCACHE_HAVE_URING

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <uhmm/rcache_uring.h>

#include "uring_util.h"

#define SLOTS	4

struct fixture {
	struct io_uring ring;
	struct uhmm_rcache_uring *u;
	struct uhmm_rcache_params p;
};

static void ring_init(struct io_uring *ring)
{
	int ret = io_uring_queue_init(8, ring, 0);

	if (ret == -ENOSYS || ret == -EPERM)
		SKIP("io_uring unavailable (%d)", ret);
	assert_int_equal(ret, 0);
}

static void fx_init(struct fixture *f, unsigned int slots)
{
	memset(f, 0, sizeof(*f));
	ring_init(&f->ring);
	assert_int_equal(uhmm_rcache_uring_create(&f->ring, slots, &f->u), 0);
	uhmm_rcache_uring_params(f->u, &f->p);
	assert_int_equal(f->p.max_regions, slots);
}

static void fx_fini(struct fixture *f)
{
	uhmm_rcache_uring_destroy(f->u);
	io_uring_queue_exit(&f->ring);
}

static int reg(struct fixture *f, struct uhmm_rcache_region *r, void *addr,
	       size_t len)
{
	memset(r, 0, sizeof(*r));
	r->start = (unsigned long)addr;
	r->end = r->start + len;
	r->access = UHMM_RCACHE_READ | UHMM_RCACHE_WRITE;
	return f->p.ops->reg(f->p.arg, r);
}

static void dereg(struct fixture *f, struct uhmm_rcache_region *r)
{
	f->p.ops->dereg(f->p.arg, r);
}

static struct uhmm_rcache_uring_stats ustats(struct fixture *f)
{
	struct uhmm_rcache_uring_stats s;

	uhmm_rcache_uring_stats(f->u, &s);
	return s;
}

/* ->reg fills a slot that I/O can use; ->dereg empties it again. */
static void test_uring_reg_fills_slot(void **state)
{
	size_t len = 4 * uhmm_page_size();
	unsigned char *buf = map_pages(4);
	struct uhmm_rcache_region r;
	struct fixture f;
	int fd = pattern_file(len);

	fx_init(&f, SLOTS);
	assert_int_equal(reg(&f, &r, buf, len), 0);
	assert_true(r.key < SLOTS);
	assert_null(r.priv);
	assert_int_equal(ustats(&f).used, 1);
	assert_int_equal(ustats(&f).updates, 1);
	assert_int_equal(read_fixed(&f.ring, fd, buf + 1, len - 1, (int)r.key),
			 (int)(len - 1));
	assert_true(has_pattern(buf + 1, len - 1));

	dereg(&f, &r);
	assert_int_equal(ustats(&f).used, 0);
	/* The kernel no longer knows the buffer: the slot is empty. */
	assert_int_equal(read_fixed(&f.ring, fd, buf, len, (int)r.key),
			 -EFAULT);
	fx_fini(&f);
	close(fd);
	munmap(buf, len);
}

/* A slot emptied by ->dereg is the next one ->reg fills. */
static void test_uring_slot_reuse(void **state)
{
	unsigned long ps = uhmm_page_size();
	char *buf = map_pages(3);
	struct uhmm_rcache_region a, b, c;
	struct fixture f;

	fx_init(&f, SLOTS);
	assert_int_equal(reg(&f, &a, buf, ps), 0);
	assert_int_equal(reg(&f, &b, buf + ps, ps), 0);
	assert_int_not_equal(a.key, b.key);
	dereg(&f, &a);
	assert_int_equal(reg(&f, &c, buf + 2 * ps, ps), 0);
	assert_int_equal(c.key, a.key);
	assert_int_equal(ustats(&f).used, 2);
	dereg(&f, &b);
	dereg(&f, &c);
	assert_int_equal(ustats(&f).used, 0);
	assert_int_equal(ustats(&f).updates, 3);
	fx_fini(&f);
	munmap(buf, 3 * ps);
}

/* Every slot taken: -ENOSPC without asking the kernel, until one frees. */
static void test_uring_table_full(void **state)
{
	unsigned long ps = uhmm_page_size();
	struct uhmm_rcache_region r[SLOTS + 1];
	char *buf = map_pages(SLOTS + 1);
	unsigned int seen = 0, i;
	struct fixture f;

	fx_init(&f, SLOTS);
	for (i = 0; i < SLOTS; i++) {
		assert_int_equal(reg(&f, &r[i], buf + i * ps, ps), 0);
		assert_true(r[i].key < SLOTS);
		seen |= 1u << r[i].key;
	}
	assert_int_equal(seen, (1u << SLOTS) - 1);
	assert_int_equal(reg(&f, &r[SLOTS], buf + SLOTS * ps, ps), -ENOSPC);
	assert_int_equal(ustats(&f).update_failures, 0);
	assert_int_equal(ustats(&f).used, SLOTS);

	dereg(&f, &r[1]);
	assert_int_equal(reg(&f, &r[SLOTS], buf + SLOTS * ps, ps), 0);
	assert_int_equal(r[SLOTS].key, r[1].key);
	r[1] = r[SLOTS];
	for (i = 0; i < SLOTS; i++)
		dereg(&f, &r[i]);
	assert_int_equal(ustats(&f).used, 0);
	fx_fini(&f);
	munmap(buf, (SLOTS + 1) * ps);
}

/* The kernel's refusals come back as its errors; the slot is not lost. */
static void test_uring_reg_errors(void **state)
{
	unsigned long ps = uhmm_page_size();
	char *hole = map_pages(1), *ro = map_pages(1);
	struct uhmm_rcache_region r;
	struct fixture f;

	fx_init(&f, 1);
	/* After the ring's own mappings, which could take the hole. */
	assert_int_equal(munmap(hole, ps), 0);
	assert_int_equal(mprotect(ro, ps, PROT_READ), 0);
	assert_int_equal(reg(&f, &r, hole, ps), -EFAULT);
	assert_int_equal(reg(&f, &r, ro, ps), -EFAULT);
	assert_int_equal(ustats(&f).update_failures, 2);
	/* Too large for one slot: refused before pinning anything. */
	assert_int_equal(reg(&f, &r, ro, UHMM_RCACHE_URING_MAX_BYTES + ps),
			 -E2BIG);
	assert_int_equal(ustats(&f).update_failures, 2);
	assert_int_equal(ustats(&f).used, 0);
	/* The one slot is still free. */
	assert_int_equal(mprotect(ro, ps, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(reg(&f, &r, ro, ps), 0);
	assert_int_equal(r.key, 0);
	dereg(&f, &r);
	fx_fini(&f);
	munmap(ro, ps);
}

/* Arguments, and one table per ring (given back on destroy). */
static void test_uring_create_errors(void **state)
{
	struct uhmm_rcache_uring *u, *u2;
	struct io_uring ring, old;

	ring_init(&ring);
	assert_int_equal(uhmm_rcache_uring_create(&ring, 0, &u), -EINVAL);
	assert_int_equal(uhmm_rcache_uring_create(&ring,
			 UHMM_RCACHE_URING_MAX_SLOTS + 1, &u), -EINVAL);
	assert_int_equal(uhmm_rcache_uring_create(NULL, 1, &u), -EINVAL);
	assert_int_equal(uhmm_rcache_uring_create(&ring, 1, NULL), -EINVAL);
	/* A kernel before 5.13 cannot update a registered table. */
	old = ring;
	old.features &= ~IORING_FEAT_RSRC_TAGS;
	assert_int_equal(uhmm_rcache_uring_create(&old, 2, &u), -EOPNOTSUPP);

	assert_int_equal(uhmm_rcache_uring_create(&ring, 2, &u), 0);
	assert_int_equal(uhmm_rcache_uring_create(&ring, 2, &u2), -EBUSY);
	uhmm_rcache_uring_destroy(u);
	assert_int_equal(uhmm_rcache_uring_create(&ring, 2, &u2), 0);
	uhmm_rcache_uring_destroy(u2);
	uhmm_rcache_uring_destroy(NULL);
	io_uring_queue_exit(&ring);
}

/* Overlapping regions merge whatever their access while they fit. */
static void test_uring_merge(void **state)
{
	unsigned long half = UHMM_RCACHE_URING_MAX_BYTES / 2;
	struct uhmm_rcache_region old = {
		.start = 1ul << 32, .end = (1ul << 32) + 8192,
		.access = UHMM_RCACHE_READ,
	};
	struct fixture f;

	fx_init(&f, 1);
	assert_non_null(f.p.ops->merge);
	assert_true(f.p.ops->merge(f.p.arg, &old, old.start + 4096,
				   old.end + 4096, UHMM_RCACHE_WRITE));
	assert_true(f.p.ops->merge(f.p.arg, &old, old.start, old.start + half,
				   UHMM_RCACHE_WRITE));
	assert_false(f.p.ops->merge(f.p.arg, &old, old.start + 4096,
				    old.start + half + 4096,
				    UHMM_RCACHE_READ));
	fx_fini(&f);
}

/* Take CAP_IPC_LOCK out of this thread's effective set (or put it back). */
static int ipc_lock_effective(bool on)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];
	unsigned int bit = 1u << (CAP_IPC_LOCK % 32);

	if (syscall(SYS_capget, &h, d))
		return -errno;
	if (on)
		d[CAP_IPC_LOCK / 32].effective |= bit;
	else
		d[CAP_IPC_LOCK / 32].effective &= ~bit;
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/*
 * Without CAP_IPC_LOCK the kernel charges fixed buffers to RLIMIT_MEMLOCK
 * (of the ring's creator): past it ->reg returns -ENOMEM.
 */
static void test_uring_memlock(void **state)
{
	size_t len = 64 * uhmm_page_size();
	char *buf = map_pages(64);
	struct uhmm_rcache_region r;
	struct rlimit old, low;
	struct fixture f;

	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &old), 0);
	low = old;
	low.rlim_cur = len / 4;
	if (ipc_lock_effective(false))
		SKIP("cannot drop CAP_IPC_LOCK");
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &low), 0);
	fx_init(&f, 1);		/* the ring is created without the cap */
	assert_int_equal(reg(&f, &r, buf, len), -ENOMEM);
	assert_int_equal(ustats(&f).used, 0);
	assert_int_equal(reg(&f, &r, buf, uhmm_page_size()), 0);
	dereg(&f, &r);
	fx_fini(&f);
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &old), 0);
	ipc_lock_effective(true);
	munmap(buf, len);
}

#else /* !UHMM_RCACHE_HAVE_URING */

#define NO_URING(name) \
	static void name(void **state) { SKIP("built without liburing"); }
NO_URING(test_uring_reg_fills_slot)
NO_URING(test_uring_slot_reuse)
NO_URING(test_uring_table_full)
NO_URING(test_uring_reg_errors)
NO_URING(test_uring_create_errors)
NO_URING(test_uring_merge)
NO_URING(test_uring_memlock)

#endif

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uring_reg_fills_slot),
		cmocka_unit_test(test_uring_slot_reuse),
		cmocka_unit_test(test_uring_table_full),
		cmocka_unit_test(test_uring_reg_errors),
		cmocka_unit_test(test_uring_create_errors),
		cmocka_unit_test(test_uring_merge),
		cmocka_unit_test(test_uring_memlock),
	};

	return HARNESS_MAIN(tests);
}
