/* SPDX-License-Identifier: MIT */
/*
 * test_capture_patch.c - entry patching of libc (src/capture/patch.c):
 * glibc's own internal calls are announced BEFORE the change (free() of a
 * large chunk, realloc() that mremaps, malloc_trim()'s madvise, a call
 * through a pointer to libc's munmap that no PLT sees); a function another
 * patcher got to first is left alone with a message; and unpatching and
 * repatching while other threads hammer the functions never breaks a call.
 *
 * UHMM_TEST_LINK: interpose
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "harness.h"
#include <uhmm/uhmm.h>
#include "capture/patch.h"

#include "capture_rec.h"

static void *page_in(void *p)
{
	return (void *)(((unsigned long)p + ps()) & ~(ps() - 1));
}

/*
 * libc's @name must be patched: it is by default.  Skipped where patching
 * was turned off (UHMM_CAPTURE) or, for a prologue of several
 * instructions, where a sanitizer's thread existed before the library's
 * constructor ran (patch_check.c).
 */
static void need_patched(const char *name)
{
	const char *mode = getenv("UHMM_CAPTURE");

	if (mode && strcmp(mode, "patch") && strcmp(mode, "on"))
		SKIP("patching is off here (UHMM_CAPTURE=%s)", mode);
#ifdef TEST_SANITIZER
	if (!uhmm__patch_test_patched(name))
		SKIP("libc's %s is not patched: the sanitizer's own thread "
		     "ran before the constructor", name);
#endif
	assert_true(uhmm__patch_test_patched(name));
}

static void *libc_sym(const char *name)
{
	void *libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
	void *f;

	assert_non_null(libc);
	f = dlsym(libc, name);
	dlclose(libc);
	assert_non_null(f);
	return f;
}

/* ------------------------------------------------------------------ */
/* glibc's internal routes                                             */

static void free_of_a_large_chunk_is_announced_before(void **state)
{
	size_t len = 4u << 20;	/* far above the 128 KiB mmap threshold */
	unsigned char *m, *page, vec;
	static struct rec x;

#ifdef TEST_SANITIZER
	SKIP("the sanitizer's allocator replaces glibc's free()");
#endif
	need_patched("munmap");
	mallopt(M_MMAP_THRESHOLD, 128 << 10);	/* no dynamic threshold */
	m = malloc(len);
	assert_non_null(m);
	memset(m, MARK, len);
	page = page_in(m);
	watch(&x, page, ps());
	free(m);
	assert_int_equal(mincore(page, ps(), &vec), -1);	/* gone */
	assert_int_equal(errno, ENOMEM);
	assert_int_equal(calls(&x), 1);
	assert_int_equal(x.event, UHMM_EVENT_UNMAP);
	assert_int_equal(x.seen, MARK);		/* told before */
	unwatch(&x);
}

static void realloc_that_mremaps_is_announced_before(void **state)
{
	size_t len = 4u << 20;
	unsigned char *m, *n, *page;
	size_t off;
	static struct rec x;

#ifdef TEST_SANITIZER
	SKIP("the sanitizer's allocator replaces glibc's realloc()");
#endif
	need_patched("mremap");
	mallopt(M_MMAP_THRESHOLD, 128 << 10);	/* no dynamic threshold */
	m = malloc(len);
	assert_non_null(m);
	memset(m, MARK, len);
	page = page_in(m);
	off = (size_t)(page - m);
	watch(&x, page, ps());
	n = realloc(m, 16 * len);	/* an mmapped chunk: mremap MAYMOVE */
	assert_non_null(n);
	assert_int_equal(calls(&x), 1);
	assert_int_equal(x.event, UHMM_EVENT_UNMAP);
	assert_int_equal(x.seen, MARK);
	assert_int_equal(n[off], MARK);	/* contents moved along */
	unwatch(&x);
	free(n);
}

/*
 * malloc_trim() gives the whole free pages inside free heap chunks back
 * with glibc's internal madvise(MADV_DONTNEED).  A chunk between two live
 * ones is never merged into the top, so its pages are the ones trimmed.
 */
static void malloc_trim_is_announced_before(void **state)
{
	size_t len = 64u << 10;	/* heap; neither tcache nor fastbin */
	unsigned char *a, *b, *c, *page;
	static struct rec x;

#ifdef TEST_SANITIZER
	SKIP("the sanitizer's allocator replaces glibc's malloc_trim()");
#endif
	need_patched("madvise");
	a = malloc(len);
	b = malloc(len);
	c = malloc(len);
	assert_true(a && b && c);
	memset(b, MARK, len);
	page = (unsigned char *)page_in(b) + ps();	/* well inside b */
	watch(&x, page, ps());
	free(b);
	malloc_trim(0);
	if (calls(&x) == 0) {
		unwatch(&x);
		SKIP("malloc_trim() did not trim the free chunk here");
	}
	assert_int_equal(x.event, UHMM_EVENT_CLEAR);
	assert_int_equal(x.seen, MARK);
	assert_int_equal(*(volatile unsigned char *)page, 0);	/* gone */
	unwatch(&x);
	free(a);
	free(c);
}

/*
 * free() trims the top of the main heap with glibc's internal __sbrk ->
 * __brk once the top is larger than the trim threshold: announced before
 * the break moves down.
 */
static void heap_trim_in_free_is_announced_before(void **state)
{
	size_t len = 96u << 10;	/* below the mmap threshold: heap */
	unsigned char *p[4], *page, *room;
	static struct rec x;
	int i;

#ifdef TEST_SANITIZER
	SKIP("the sanitizer's allocator replaces glibc's free()");
#endif
	need_patched("brk");
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	mallopt(M_TRIM_THRESHOLD, 128 << 10);
	mallopt(M_TOP_PAD, 0);	/* a trim gives back all it can */
	/*
	 * The subscription's own allocations must not land between the
	 * chunks and the top (they would pin it): give them room below.
	 */
	watch(&x, &x, 1);	/* first use: the handle, RCU, ... */
	unwatch(&x);
	room = malloc(32 << 10);
	for (i = 0; i < 4; i++) {
		p[i] = malloc(len);
		assert_non_null(p[i]);
		memset(p[i], MARK, len);
	}
	free(room);
	page = (unsigned char *)page_in(p[3]) + ps();
	watch(&x, page, ps());
	for (i = 3; i >= 0; i--)
		free(p[i]);
	if (calls(&x) == 0) {
		unwatch(&x);
		SKIP("free() did not trim the heap here");
	}
	assert_int_equal(x.event, UHMM_EVENT_UNMAP);
	assert_int_equal(x.seen, MARK);
	assert_true((unsigned long)sbrk(0) <= (unsigned long)page);
	unwatch(&x);
}

/* A pointer straight to libc's munmap: no PLT, no wrapper. */
static void munmap_through_a_libc_pointer_is_announced(void **state)
{
	int (*libc_munmap)(void *, size_t) = libc_sym("munmap");
	static struct rec x;
	unsigned char *p;

	need_patched("munmap");
	p = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	p[0] = MARK;
	watch(&x, p, ps());
	assert_int_equal(libc_munmap(p, ps()), 0);
	assert_int_equal(calls(&x), 1);
	assert_int_equal(x.seen, MARK);
	unwatch(&x);
	/* glibc's error convention is kept: -1 and errno. */
	errno = 0;
	assert_int_equal(libc_munmap(p + 1, ps()), -1);
	assert_int_equal(errno, EINVAL);
}

/* mmap64's own check: a misaligned offset fails before the kernel. */
static void mmap_misaligned_offset_is_einval(void **state)
{
	void *(*libc_mmap)(void *, size_t, int, int, int, off_t) =
		libc_sym("mmap64");

	need_patched("mmap64");
	errno = 0;
	assert_ptr_equal(libc_mmap(NULL, ps(), PROT_READ,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 1),
			 MAP_FAILED);
	assert_int_equal(errno, EINVAL);
}

/* ------------------------------------------------------------------ */
/* Another patcher                                                     */

static void foreign_entries_are_refused(void **state)
{
	static const unsigned char jmp[5] = { 0xe9, 1, 2, 3, 4 };
	static const unsigned char jmp8[5] = { 0xeb, 0x10, 0, 0, 0 };
	static const unsigned char int3[5] = { 0xcc, 0x0b, 0, 0, 0 };
	static const unsigned char ind[5] = { 0xff, 0x25, 0, 0, 0 };
	static const unsigned char own[5] = { 0xb8, SYS_munmap, 0, 0, 0 };
	static const unsigned char other[5] = { 0xb8, SYS_madvise, 0, 0, 0 };

	assert_int_equal(uhmm__patch_test_check("munmap", jmp), -EEXIST);
	assert_int_equal(uhmm__patch_test_check("munmap", jmp8), -EEXIST);
	assert_int_equal(uhmm__patch_test_check("munmap", int3), -EEXIST);
	assert_int_equal(uhmm__patch_test_check("mremap", ind), -EEXIST);
	assert_int_equal(uhmm__patch_test_check("munmap", own), 0);
	assert_int_equal(uhmm__patch_test_check("munmap", other), -ENOEXEC);
	/* A multi-instruction prologue, with threads about: not safe. */
	assert_int_equal(uhmm__patch_test_check("mremap", own), -EBUSY);
}

static void poke_libc(void *at, const unsigned char *b, size_t n)
{
	int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		SKIP("no /proc/self/mem (%s)", strerror(errno));
	if (pwrite(fd, b, n, (off_t)(unsigned long)at) != (ssize_t)n) {
		close(fd);
		SKIP("/proc/self/mem refuses writes to code here");
	}
	close(fd);
}

/* What uhmm__patch_test_set(@name, true) writes to stderr. */
static int patch_capturing_stderr(const char *name, char *out, size_t n)
{
	int fds[2], saved, ret;
	ssize_t got;

	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	ret = uhmm__patch_test_set(name, true);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	got = read(fds[0], out, n - 1);
	out[got > 0 ? got : 0] = '\0';
	close(fds[0]);
	return ret;
}

/*
 * Someone else jumped from shmat's entry before we patched it (nothing
 * here calls shmat meanwhile: the foreign jump is never run): we say so,
 * write nothing, and keep interposition for it.
 */
static void another_patcher_is_left_alone(void **state)
{
	static const unsigned char foreign[5] = { 0xe9, 0, 0, 0, 0 };
	unsigned char *site = libc_sym("shmat"), orig[5];
	char msg[512];

	need_patched("shmat");
	assert_int_equal(uhmm__patch_test_set("shmat", false), 0);
	memcpy(orig, site, 5);
	poke_libc(site, foreign, 5);
	assert_int_equal(patch_capturing_stderr("shmat", msg, sizeof(msg)),
			 -EEXIST);
	assert_memory_equal(site, foreign, 5);	/* not overwritten */
	assert_false(uhmm__patch_test_patched("shmat"));
	assert_non_null(strstr(msg, "uhmm: capture: shmat is already patched "
			       "by someone else (first bytes e9 00 00 00 00); "
			       "using interposition for it"));
	poke_libc(site, orig, 5);	/* the other patcher leaves */
	assert_int_equal(uhmm__patch_test_set("shmat", true), 0);
	assert_true(uhmm__patch_test_patched("shmat"));
}

/* ------------------------------------------------------------------ */
/* Patching while other threads run the patched code                   */

#define HAMMERS 3

struct hammer {
	pthread_t t;
	int stop;		/* atomic */
	unsigned long calls;
	int bad;		/* a call that returned the wrong thing */
};

static int (*h_munmap)(void *, size_t);
static int (*h_madvise)(void *, size_t, int);

/* Map, clear, unmap its own page, and a call that must fail, forever. */
static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;
	unsigned char *p;

	while (!__atomic_load_n(&h->stop, __ATOMIC_RELAXED)) {
		p = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			h->bad++;
			continue;
		}
		p[0] = MARK;
		h->bad += h_madvise(p, ps(), MADV_DONTNEED) != 0 || p[0];
		h->bad += h_munmap(p + 1, ps()) != -1 || errno != EINVAL;
		h->bad += h_munmap(p, ps()) != 0;
		h->calls++;
	}
	return NULL;
}

static void repatch(unsigned long rounds)
{
	unsigned long i;

	for (i = 0; i < rounds; i++) {
		assert_int_equal(uhmm__patch_test_set("munmap", false), 0);
		assert_int_equal(uhmm__patch_test_set("madvise", false), 0);
		assert_int_equal(uhmm__patch_test_set("munmap", true), 0);
		assert_int_equal(uhmm__patch_test_set("madvise", true), 0);
	}
}

static void repatching_under_concurrent_calls_is_safe(void **state)
{
	static struct hammer h[HAMMERS];
	static struct rec x;
	struct harness_watchdog w;
	unsigned char *p;
	int i;

	need_patched("munmap");
	need_patched("madvise");
	h_munmap = libc_sym("munmap");
	h_madvise = libc_sym("madvise");
	harness_watchdog_start(&w, 100, "repatching under concurrent calls");
	for (i = 0; i < HAMMERS; i++)
		assert_int_equal(pthread_create(&h[i].t, NULL, hammer_fn,
						&h[i]), 0);
	repatch(harness_rounds(1000));
	for (i = 0; i < HAMMERS; i++) {
		__atomic_store_n(&h[i].stop, 1, __ATOMIC_RELAXED);
		assert_int_equal(pthread_join(h[i].t, NULL), 0);
		assert_int_equal(h[i].bad, 0);
		assert_true(h[i].calls > 0);
	}
	harness_watchdog_stop(&w);
	/* After the final patch, a change is announced again. */
	p = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	p[0] = MARK;
	watch(&x, p, ps());
	assert_int_equal(h_madvise(p, ps(), MADV_DONTNEED), 0);
	assert_int_equal(calls(&x), 1);
	assert_int_equal(x.seen, MARK);
	assert_int_equal(h_munmap(p, ps()), 0);
	assert_int_equal(calls(&x), 2);
	assert_int_equal(x.event, UHMM_EVENT_UNMAP);
	unwatch(&x);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(free_of_a_large_chunk_is_announced_before),
		cmocka_unit_test(realloc_that_mremaps_is_announced_before),
		cmocka_unit_test(malloc_trim_is_announced_before),
		cmocka_unit_test(heap_trim_in_free_is_announced_before),
		cmocka_unit_test(munmap_through_a_libc_pointer_is_announced),
		cmocka_unit_test(mmap_misaligned_offset_is_einval),
		cmocka_unit_test(foreign_entries_are_refused),
		cmocka_unit_test(another_patcher_is_left_alone),
		cmocka_unit_test(repatching_under_concurrent_calls_is_safe),
	};

	return HARNESS_MAIN(tests);
}
