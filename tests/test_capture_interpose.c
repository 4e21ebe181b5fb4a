/* SPDX-License-Identifier: MIT */
/*
 * test_capture_interpose.c - every route libuhmm-interpose.so catches, on
 * real memory, announced BEFORE the change: inside the callback the old
 * contents are still there at the old address (a marker written before is
 * read back; for a change that only drops write access, a write succeeds).
 * Had the announcement come after the change, that read would fault or
 * return zeroes.  Also: other threads, a library dlopen()ed later, raw
 * syscall(), and what only entry patching sees (free() of a large chunk).
 *
 * UHMM_TEST_LINK: interpose
 */
#include <dlfcn.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <malloc.h>

#include "harness.h"
#include <uhmm/uhmm.h>

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED	24
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL	102
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP	4
#endif

#include "capture_rec.h"

/* @n private anonymous pages, each starting with MARK. */
static unsigned char *map_marked(size_t n, int flags)
{
	unsigned char *p = mmap(NULL, n * ps(), PROT_READ | PROT_WRITE,
				flags | MAP_ANONYMOUS, -1, 0);
	size_t i;

	assert_true(p != MAP_FAILED);
	for (i = 0; i < n; i++)
		p[i * ps()] = MARK;
	return p;
}

/* One call, before the change, with @event over exactly [start, end). */
static void expect_before(struct rec *x, int event, void *start, size_t len)
{
	assert_int_equal(calls(x), 1);
	assert_int_equal(x->event, event);
	assert_int_equal(x->seen, MARK);
	assert_int_equal(x->start, (unsigned long)start);
	assert_int_equal(x->end, (unsigned long)start + len);
}

/* The same for a range the core rounded out to whole pages. */
static void expect_before_paged(struct rec *x, int event, void *start,
				size_t len)
{
	unsigned long mask = ps() - 1, s = (unsigned long)start;

	assert_int_equal(calls(x), 1);
	assert_int_equal(x->event, event);
	assert_int_equal(x->seen, MARK);
	assert_int_equal(x->start, s & ~mask);
	assert_int_equal(x->end, (s + len + mask) & ~mask);
}

/* ------------------------------------------------------------------ */
/* munmap, mmap MAP_FIXED                                              */

static void munmap_is_announced_before(void **state)
{
	unsigned char *p = map_marked(4, MAP_PRIVATE);
	unsigned char *q = map_marked(1, MAP_PRIVATE);
	static struct rec x, other;

	watch(&x, p + ps(), 2 * ps());
	watch(&other, q, ps());
	assert_int_equal(munmap(p + ps(), 2 * ps()), 0);
	expect_before(&x, UHMM_EVENT_UNMAP, p + ps(), 2 * ps());
	assert_int_equal(calls(&other), 0);	/* no overlap, no call */
	unwatch(&x);
	unwatch(&other);
	munmap(p, 4 * ps());
	munmap(q, ps());
}

static void mmap_fixed_over_a_mapping_is_an_unmap(void **state)
{
	unsigned char *p = map_marked(2, MAP_PRIVATE);
	static struct rec x;

	watch(&x, p, 2 * ps());
	assert_ptr_equal(mmap(p, 2 * ps(), PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), p);
	expect_before(&x, UHMM_EVENT_UNMAP, p, 2 * ps());
	assert_int_equal(p[0], 0);	/* the change did happen */
	unwatch(&x);
	munmap(p, 2 * ps());
}

static void mmap_fixed_noreplace_failing_is_no_event(void **state)
{
	unsigned char *p = map_marked(2, MAP_PRIVATE);
	static struct rec x;
	void *r;

	watch(&x, p, 2 * ps());
	r = mmap(p, ps(), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED_NOREPLACE, -1, 0);
	if (r != MAP_FAILED)
		SKIP("kernel ignores MAP_FIXED_NOREPLACE (before 4.17)");
	assert_int_equal(errno, EEXIST);
	assert_int_equal(calls(&x), 0);
	assert_int_equal(p[0], MARK);
	assert_int_equal(munmap(p, 2 * ps()), 0);	/* capture is live */
	assert_int_equal(calls(&x), 1);
	unwatch(&x);
}

/* ------------------------------------------------------------------ */
/* mremap                                                              */

static void mremap_shrink_unmaps_the_tail(void **state)
{
	unsigned char *p = map_marked(4, MAP_PRIVATE);
	static struct rec tail, head;

	watch(&tail, p + 3 * ps(), ps());
	watch(&head, p, ps());
	assert_ptr_equal(mremap(p, 4 * ps(), 2 * ps(), 0), p);
	assert_int_equal(calls(&tail), 1);
	assert_int_equal(tail.event, UHMM_EVENT_UNMAP);
	assert_int_equal(tail.seen, MARK);
	assert_int_equal(tail.start, (unsigned long)p + 2 * ps());
	assert_int_equal(tail.end, (unsigned long)p + 4 * ps());
	assert_int_equal(calls(&head), 0);
	unwatch(&tail);
	unwatch(&head);
	munmap(p, 2 * ps());
}

static void mremap_fixed_move_unmaps_old_and_target(void **state)
{
	unsigned char *src = map_marked(2, MAP_PRIVATE);
	unsigned char *dst = map_marked(2, MAP_PRIVATE);
	static struct rec xs, xd;

	src[1] = 7;
	watch(&xs, src, 2 * ps());
	watch(&xd, dst, 2 * ps());
	assert_ptr_equal(mremap(src, 2 * ps(), 2 * ps(),
				MREMAP_MAYMOVE | MREMAP_FIXED, dst), dst);
	expect_before(&xs, UHMM_EVENT_UNMAP, src, 2 * ps());
	expect_before(&xd, UHMM_EVENT_UNMAP, dst, 2 * ps());
	assert_int_equal(dst[1], 7);	/* the pages did move */
	unwatch(&xs);
	unwatch(&xd);
	munmap(dst, 2 * ps());
}

static void mremap_grow_that_must_move_unmaps_the_old(void **state)
{
	unsigned char *p = map_marked(3, MAP_PRIVATE);
	unsigned char *q;
	static struct rec x;

	watch(&x, p, 2 * ps());
	/* Page 3 is mapped (the same VMA), so growing 2 -> 4 must move. */
	q = mremap(p, 2 * ps(), 4 * ps(), MREMAP_MAYMOVE);
	assert_true(q != MAP_FAILED);
	assert_ptr_not_equal(q, p);
	expect_before(&x, UHMM_EVENT_UNMAP, p, 2 * ps());
	unwatch(&x);
	munmap(q, 4 * ps());
	munmap(p + 2 * ps(), ps());
}

static void mremap_grow_in_place_is_no_event(void **state)
{
	unsigned char *p = map_marked(4, MAP_PRIVATE);
	static struct rec x;

	assert_int_equal(munmap(p + 2 * ps(), 2 * ps()), 0);
	watch(&x, p, 2 * ps());
	if (mremap(p, 2 * ps(), 4 * ps(), 0) != p)
		SKIP("the hole after the mapping was taken meanwhile");
	assert_int_equal(calls(&x), 0);
	assert_int_equal(p[0], MARK);
	assert_int_equal(munmap(p, 4 * ps()), 0);	/* capture is live */
	assert_int_equal(calls(&x), 1);
	unwatch(&x);
}

static void mremap_dontunmap_clears_the_old(void **state)
{
	unsigned char *p = map_marked(2, MAP_PRIVATE);
	unsigned char *q;
	static struct rec x;

	watch(&x, p, 2 * ps());
	q = mremap(p, 2 * ps(), 2 * ps(), MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
	if (q == MAP_FAILED && errno == EINVAL)
		SKIP("no MREMAP_DONTUNMAP for private anonymous memory (< 5.7)");
	assert_true(q != MAP_FAILED);
	expect_before(&x, UHMM_EVENT_CLEAR, p, 2 * ps());
	assert_int_equal(p[0], 0);	/* still mapped, now empty */
	assert_int_equal(q[0], MARK);
	unwatch(&x);
	munmap(p, 2 * ps());
	munmap(q, 2 * ps());
}

/* ------------------------------------------------------------------ */
/* madvise                                                             */

static void check_madvise(int advice, int flags, const char *name)
{
	unsigned char *p = map_marked(2, flags);
	static struct rec x;
	int ret;

	watch(&x, p, 2 * ps());
	ret = madvise(p, 2 * ps(), advice);
	if (ret && (errno == EINVAL || errno == ENOSYS)) {
		unwatch(&x);
		munmap(p, 2 * ps());
		SKIP("madvise(%s) not supported here", name);
	}
	assert_int_equal(ret, 0);
	expect_before(&x, UHMM_EVENT_CLEAR, p, 2 * ps());
	unwatch(&x);
	munmap(p, 2 * ps());
}

static void madvise_dontneed_clears(void **state)
{
	check_madvise(MADV_DONTNEED, MAP_PRIVATE, "DONTNEED");
}

static void madvise_dontneed_locked_clears(void **state)
{
	check_madvise(MADV_DONTNEED_LOCKED, MAP_PRIVATE, "DONTNEED_LOCKED");
}

static void madvise_free_clears(void **state)
{
	check_madvise(MADV_FREE, MAP_PRIVATE, "FREE");
}

static void madvise_remove_clears(void **state)
{
	check_madvise(MADV_REMOVE, MAP_SHARED, "REMOVE");
}

static void madvise_guard_install_clears(void **state)
{
	check_madvise(MADV_GUARD_INSTALL, MAP_PRIVATE, "GUARD_INSTALL");
}

static void madvise_willneed_is_no_event(void **state)
{
	unsigned char *p = map_marked(1, MAP_PRIVATE);
	static struct rec x;

	watch(&x, p, ps());
	assert_int_equal(madvise(p, ps(), MADV_WILLNEED), 0);
	assert_int_equal(calls(&x), 0);
	assert_int_equal(madvise(p, ps(), MADV_DONTNEED), 0);
	assert_int_equal(calls(&x), 1);
	unwatch(&x);
	munmap(p, ps());
}

/* ------------------------------------------------------------------ */
/* mprotect, pkey_mprotect                                             */

static void mprotect_read_only_is_announced_while_writable(void **state)
{
	unsigned char *p = map_marked(2, MAP_PRIVATE);
	static struct rec x;

	watch(&x, p, 2 * ps());
	x.write_probe = true;	/* faults if the write right is gone */
	assert_int_equal(mprotect(p, 2 * ps(), PROT_READ), 0);
	expect_before(&x, UHMM_EVENT_PROTECTION, p, 2 * ps());
	/* Granting rights back takes nothing away: no event. */
	assert_int_equal(mprotect(p, 2 * ps(), PROT_READ | PROT_WRITE), 0);
	assert_int_equal(calls(&x), 1);
	unwatch(&x);
	munmap(p, 2 * ps());
}

static void mprotect_none_is_announced_while_readable(void **state)
{
	unsigned char *p = map_marked(1, MAP_PRIVATE);
	static struct rec x;

	watch(&x, p, ps());
	assert_int_equal(mprotect(p, ps(), PROT_NONE), 0);
	expect_before(&x, UHMM_EVENT_PROTECTION, p, ps());
	unwatch(&x);
	munmap(p, ps());
}

static void pkey_mprotect_read_only_is_announced(void **state)
{
	unsigned char *p = map_marked(1, MAP_PRIVATE);
	static struct rec x;
	int ret;

	watch(&x, p, ps());
	x.write_probe = true;
	ret = pkey_mprotect(p, ps(), PROT_READ, -1);
	if (ret && errno == ENOSYS) {
		unwatch(&x);
		SKIP("no pkey_mprotect system call");
	}
	assert_int_equal(ret, 0);
	expect_before(&x, UHMM_EVENT_PROTECTION, p, ps());
	unwatch(&x);
	munmap(p, ps());
}

/* ------------------------------------------------------------------ */
/* brk, sbrk: grow the heap by pages of our own, then shrink it.       */

static unsigned char *grow_heap(size_t len)
{
	unsigned char *p = sbrk((intptr_t)len);

	assert_true(p != (void *)-1);
	memset(p, MARK, len);
	return p;
}

static void sbrk_shrink_unmaps(void **state)
{
	static struct rec x;
	unsigned char *p;

	uhmm_mm_current();	/* nothing may malloc between grow and shrink */
	p = grow_heap(2 * ps());
	watch(&x, p, 2 * ps());
	assert_true(sbrk(-(intptr_t)(2 * ps())) != (void *)-1);
	expect_before_paged(&x, UHMM_EVENT_UNMAP, p, 2 * ps());
	unwatch(&x);
}

static void brk_shrink_unmaps(void **state)
{
	static struct rec x;
	unsigned char *p;

	uhmm_mm_current();
	p = grow_heap(2 * ps());
	watch(&x, p, 2 * ps());
	assert_int_equal(brk(p), 0);
	expect_before_paged(&x, UHMM_EVENT_UNMAP, p, 2 * ps());
	unwatch(&x);
}

/* ------------------------------------------------------------------ */
/* System V shared memory                                              */

static int shm_new(size_t len)
{
	int id = shmget(IPC_PRIVATE, len, IPC_CREAT | 0600);

	if (id < 0)
		SKIP("no System V shared memory here (%s)", strerror(errno));
	return id;
}

static void shmat_remap_unmaps_the_target(void **state)
{
	unsigned char *p = map_marked(2, MAP_PRIVATE);
	int id = shm_new(2 * ps());
	static struct rec x;
	void *r;

	watch(&x, p, 2 * ps());
	r = shmat(id, p, SHM_REMAP);
	shmctl(id, IPC_RMID, NULL);
	assert_ptr_equal(r, p);
	expect_before(&x, UHMM_EVENT_UNMAP, p, 2 * ps());
	assert_int_equal(p[0], 0);	/* the segment replaced our pages */
	unwatch(&x);
	assert_int_equal(shmdt(p), 0);
}

static void shmdt_unmaps_the_segment(void **state)
{
	int id = shm_new(2 * ps());
	unsigned char *p = shmat(id, NULL, 0);
	static struct rec x;

	shmctl(id, IPC_RMID, NULL);
	assert_true(p != (void *)-1);
	p[0] = MARK;
	watch(&x, p, 2 * ps());
	assert_int_equal(shmdt(p), 0);
	expect_before(&x, UHMM_EVENT_UNMAP, p, 2 * ps());
	unwatch(&x);
}

/* ------------------------------------------------------------------ */
/* Other threads, later libraries, raw syscall()                       */

static void *unmap_thread(void *arg)
{
	munmap(arg, ps());
	return NULL;
}

static void munmap_in_another_thread_is_announced_there(void **state)
{
	unsigned char *p = map_marked(1, MAP_PRIVATE);
	static struct rec x;
	pthread_t t;

	watch(&x, p, ps());
	assert_int_equal(pthread_create(&t, NULL, unmap_thread, p), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	expect_before(&x, UHMM_EVENT_UNMAP, p, ps());
	assert_int_not_equal(x.tid, (pid_t)syscall(SYS_gettid));
	unwatch(&x);
}

/* A callback that unmaps memory: the nested change is announced too. */
static void munmap_inside_a_callback_is_announced(void **state)
{
	unsigned char *p = map_marked(1, MAP_PRIVATE);
	unsigned char *q = map_marked(1, MAP_PRIVATE);
	static struct rec a, b;

	watch(&a, p, ps());
	watch(&b, q, ps());
	a.unmap_in_cb = q;
	assert_int_equal(munmap(p, ps()), 0);
	expect_before(&a, UHMM_EVENT_UNMAP, p, ps());
	expect_before(&b, UHMM_EVENT_UNMAP, q, ps());
	unwatch(&a);
	unwatch(&b);
}

static void *lib_sym(void *h, const char *name)
{
	void *f = dlsym(h, name);

	assert_non_null(f);
	return f;
}

static void library_dlopened_later_is_caught(void **state)
{
	int (*lib_munmap)(void *, size_t);
	int (*lib_madvise)(void *, size_t, int);
	int (*lib_mprotect)(void *, size_t, int);
	unsigned char *p = map_marked(3, MAP_PRIVATE);
	static struct rec a, b, c;
	void *h = dlopen(UHMM_CAPTURE_LIB_PATH, RTLD_NOW | RTLD_LOCAL);

	assert_non_null(h);
	*(void **)&lib_munmap = lib_sym(h, "capture_lib_munmap");
	*(void **)&lib_madvise = lib_sym(h, "capture_lib_madvise");
	*(void **)&lib_mprotect = lib_sym(h, "capture_lib_mprotect");
	watch(&a, p, ps());
	watch(&b, p + ps(), ps());
	watch(&c, p + 2 * ps(), ps());
	assert_int_equal(lib_madvise(p, ps(), MADV_DONTNEED), 0);
	assert_int_equal(lib_mprotect(p + ps(), ps(), PROT_NONE), 0);
	assert_int_equal(lib_munmap(p + 2 * ps(), ps()), 0);
	expect_before(&a, UHMM_EVENT_CLEAR, p, ps());
	expect_before(&b, UHMM_EVENT_PROTECTION, p + ps(), ps());
	expect_before(&c, UHMM_EVENT_UNMAP, p + 2 * ps(), ps());
	unwatch(&a);
	unwatch(&b);
	unwatch(&c);
	munmap(p, 2 * ps());
	dlclose(h);
}

static void raw_syscall_routes_are_caught(void **state)
{
	unsigned char *p = map_marked(5, MAP_PRIVATE);
	static struct rec a, b, c, d;

	watch(&a, p, ps());
	watch(&b, p + ps(), ps());
	watch(&c, p + 2 * ps(), ps());
	watch(&d, p + 4 * ps(), ps());
	assert_int_equal(syscall(SYS_madvise, p, ps(), MADV_DONTNEED), 0);
	assert_int_equal(syscall(SYS_mprotect, p + ps(), ps(), PROT_NONE), 0);
	assert_int_equal(syscall(SYS_munmap, p + 2 * ps(), ps()), 0);
	/* Shrink [p+3, p+5) to one page: the tail p+4 goes. */
	assert_int_equal(syscall(SYS_mremap, p + 3 * ps(), 2 * ps(), ps(), 0),
			 (long)(p + 3 * ps()));
	expect_before(&a, UHMM_EVENT_CLEAR, p, ps());
	expect_before(&b, UHMM_EVENT_PROTECTION, p + ps(), ps());
	expect_before(&c, UHMM_EVENT_UNMAP, p + 2 * ps(), ps());
	expect_before(&d, UHMM_EVENT_UNMAP, p + 4 * ps(), ps());
	unwatch(&a);
	unwatch(&b);
	unwatch(&c);
	unwatch(&d);
	munmap(p, 4 * ps());
}

static void raw_syscall_errors_reach_the_caller(void **state)
{
	errno = 0;
	assert_int_equal(syscall(SYS_munmap, (void *)1, ps()), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(munmap((void *)1, ps()), -1);
	assert_int_equal(errno, EINVAL);
}

/*
 * Every live handle is told, up to the documented cap of 16 per change
 * (capture.h: the started ranges live on the wrapper's stack); the 17th is
 * not, and the change still happens.  Turn this around if the cap goes.
 */
static void each_handle_is_told_up_to_the_cap(void **state)
{
	static struct rec x[17];
	struct uhmm_mm *mm[17];
	unsigned char *p = map_marked(1, MAP_PRIVATE);
	int i, told = 0;

	for (i = 0; i < 17; i++) {
		assert_int_equal(uhmm_mm_create(&mm[i]), 0);
		x[i].probe = p;
		assert_int_equal(uhmm_interval_sub_insert(&x[i].sub, mm[i],
				(unsigned long)p, ps(), &rec_ops), 0);
	}
	assert_int_equal(munmap(p, ps()), 0);
	for (i = 0; i < 17; i++) {
		told += calls(&x[i]);
		if (calls(&x[i]))
			expect_before(&x[i], UHMM_EVENT_UNMAP, p, ps());
		unwatch(&x[i]);
		uhmm_mm_put(mm[i]);
	}
	assert_int_equal(told, 16);
}

/*
 * glibc's free() unmaps a chunk above the mmap threshold with its internal
 * munmap, which no PLT lookup reaches: interposition alone cannot see it.
 * Entry patching (src/capture/patch.c, on by default) rewrites munmap
 * itself and catches it, before the change.  Both are checked: this
 * process runs with the default, and the same test is run again in a
 * child with UHMM_CAPTURE=interpose, where it must NOT be caught.
 */
static void free_of_a_large_chunk_once(bool expect_caught)
{
	size_t len = 4u << 20;	/* far above the default 128 KiB threshold */
	unsigned long page, vec;
	unsigned char *m;
	static struct rec x;

	m = malloc(len);
	assert_non_null(m);
	page = ((unsigned long)m + ps()) & ~(ps() - 1);
	memset(m, MARK, len);
	watch(&x, (void *)page, ps());
	free(m);
	/* mincore() fails with ENOMEM: the page really is unmapped ... */
	assert_int_equal(mincore((void *)page, ps(), (unsigned char *)&vec), -1);
	assert_int_equal(errno, ENOMEM);
	if (expect_caught) {	/* ... told before it happened ... */
		assert_int_equal(calls(&x), 1);
		assert_int_equal(x.event, UHMM_EVENT_UNMAP);
		assert_int_equal(x.seen, MARK);
	} else			/* ... or, by interposition alone, not at all */
		assert_int_equal(calls(&x), 0);
	unwatch(&x);
}

/* This test again, in a child with UHMM_CAPTURE=interpose. */
static void run_interpose_only_child(void)
{
	char *argv[] = { "test_capture_interpose",
			 "free_of_a_large_chunk_caught_only_by_patching", NULL };
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("UHMM_CAPTURE", "interpose", 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void free_of_a_large_chunk_caught_only_by_patching(void **state)
{
	const char *mode = getenv("UHMM_CAPTURE");

#ifdef TEST_SANITIZER
	SKIP("the sanitizer's allocator replaces glibc's free()");
#endif
	if (mode && !strcmp(mode, "interpose")) {
		free_of_a_large_chunk_once(false);
		return;
	}
	mallopt(M_MMAP_THRESHOLD, 128 << 10);	/* no dynamic threshold */
	free_of_a_large_chunk_once(true);
	run_interpose_only_child();
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(munmap_is_announced_before),
		cmocka_unit_test(mmap_fixed_over_a_mapping_is_an_unmap),
		cmocka_unit_test(mmap_fixed_noreplace_failing_is_no_event),
		cmocka_unit_test(mremap_shrink_unmaps_the_tail),
		cmocka_unit_test(mremap_fixed_move_unmaps_old_and_target),
		cmocka_unit_test(mremap_grow_that_must_move_unmaps_the_old),
		cmocka_unit_test(mremap_grow_in_place_is_no_event),
		cmocka_unit_test(mremap_dontunmap_clears_the_old),
		cmocka_unit_test(madvise_dontneed_clears),
		cmocka_unit_test(madvise_dontneed_locked_clears),
		cmocka_unit_test(madvise_free_clears),
		cmocka_unit_test(madvise_remove_clears),
		cmocka_unit_test(madvise_guard_install_clears),
		cmocka_unit_test(madvise_willneed_is_no_event),
		cmocka_unit_test(mprotect_read_only_is_announced_while_writable),
		cmocka_unit_test(mprotect_none_is_announced_while_readable),
		cmocka_unit_test(pkey_mprotect_read_only_is_announced),
		cmocka_unit_test(sbrk_shrink_unmaps),
		cmocka_unit_test(brk_shrink_unmaps),
		cmocka_unit_test(shmat_remap_unmaps_the_target),
		cmocka_unit_test(shmdt_unmaps_the_segment),
		cmocka_unit_test(munmap_in_another_thread_is_announced_there),
		cmocka_unit_test(munmap_inside_a_callback_is_announced),
		cmocka_unit_test(library_dlopened_later_is_caught),
		cmocka_unit_test(raw_syscall_routes_are_caught),
		cmocka_unit_test(raw_syscall_errors_reach_the_caller),
		cmocka_unit_test(each_handle_is_told_up_to_the_cap),
		cmocka_unit_test(free_of_a_large_chunk_caught_only_by_patching),
	};

	return HARNESS_MAIN(tests);
}
