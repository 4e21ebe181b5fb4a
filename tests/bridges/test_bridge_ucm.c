/* SPDX-License-Identifier: MIT */
/*
 * test_bridge_ucm.c - uhmm as UCX's UCM source of UCM_EVENT_VM_UNMAPPED
 * (uhmm/bridge_ucm.h), with the real libucm and capture active.
 *
 * A handler registered with ucm_set_event_handler(UCM_EVENT_VM_UNMAPPED)
 * hears munmap(), free() of a block above the mmap threshold and
 * madvise(MADV_DONTNEED) of part of a mapping, once each, with the exact
 * range, before the change (it can still read the memory).  The events
 * are uhmm's: UCM's own hooks are off, and with the bridge stopped nothing
 * arrives.  With UCM's own hooks live the bridge refuses to start.
 *
 * UCM is configured from the environment by libucs's constructor, before
 * main(); the bridge's documented requirement is set for every test:
 * UHMM_TEST_ENV: UCX_MEM_MMAP_HOOK_MODE=none
 */
#include <errno.h>
#include <malloc.h>
#include <sys/mman.h>

#include "harness.h"
#include "util.h"
#include <uhmm/bridge_ucm.h>
#include <uhmm/uhmm.h>

#include <ucm/api/ucm.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_SANITIZER 1
#endif

#define MARK 0x5a

/*
 * What the handler saw of events overlapping the watched range.  Per
 * thread: the handler runs in the thread that makes the change, so each
 * thread watches its own memory.
 */
struct heard {
	unsigned long lo, hi;		/* watched range; empty: none */
	volatile unsigned char *probe;	/* read by the handler, if set */
	int calls;
	unsigned long start, end;	/* last event's range */
	int seen;			/* what the probe held */
};

static __thread struct heard w;

static void handler(ucm_event_type_t type, ucm_event_t *ev, void *arg)
{
	unsigned long a = (unsigned long)ev->vm_unmapped.address;
	unsigned long e = a + ev->vm_unmapped.size;

	if (type != UCM_EVENT_VM_UNMAPPED || a >= w.hi || e <= w.lo)
		return;
	w.calls++;
	w.start = a;
	w.end = e;
	w.seen = w.probe ? *w.probe : -1;
}

static unsigned long ps(void)
{
	return uhmm_page_size();
}

static void watch(void *p, size_t len, void *probe)
{
	memset(&w, 0, sizeof(w));
	w.lo = (unsigned long)p;
	w.hi = w.lo + len;
	w.probe = probe;
}

static void unwatch(void)
{
	memset(&w, 0, sizeof(w));
}

static void bridge_and_handler(void)
{
	const char *mode = getenv("UCX_MEM_MMAP_HOOK_MODE");

	if (!mode || strcmp(mode, "none"))
		fail_msg("run with UCX_MEM_MMAP_HOOK_MODE=none (ctest sets it)");
	assert_int_equal(uhmm_bridge_ucm_start(uhmm_mm_current()), 0);
	assert_int_equal(ucm_set_event_handler(UCM_EVENT_VM_UNMAPPED, 0,
					       handler, NULL), UCS_OK);
}

static void assert_unmapped(void *p, size_t len)
{
	unsigned char vec[16];

	assert_int_equal(mincore(p, len, vec), -1);
	assert_int_equal(errno, ENOMEM);
}

static void munmap_is_delivered_before(void **state)
{
	unsigned char *p;

	bridge_and_handler();
	p = map_pages(4);
	memset(p, MARK, 4 * ps());
	watch(p, 4 * ps(), p + ps());
	assert_int_equal(munmap(p, 4 * ps()), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.start, (unsigned long)p);
	assert_int_equal(w.end, (unsigned long)p + 4 * ps());
	assert_int_equal(w.seen, MARK);		/* still mapped: before */
	assert_unmapped(p, 4 * ps());
	unwatch();
	assert_int_equal(uhmm_bridge_ucm_stop(), 0);
}

static void free_of_a_large_block_is_delivered_before(void **state)
{
	size_t len = 4u << 20;	/* far above the 128 KiB threshold */
	unsigned long page;
	unsigned char *m;

#ifdef TEST_SANITIZER
	SKIP("the sanitizer's allocator replaces glibc's free() and unmaps "
	     "with raw system calls");
#endif
	mallopt(M_MMAP_THRESHOLD, 128 << 10);	/* no dynamic threshold */
	bridge_and_handler();
	m = malloc(len);
	assert_non_null(m);
	memset(m, MARK, len);
	page = ((unsigned long)m + ps()) & ~(ps() - 1);
	watch((void *)page, ps(), (void *)page);
	free(m);
	/* GCC assumes free() leaves other memory alone: the handler that ran
	 * inside it wrote w. */
	__asm__ volatile("" ::: "memory");
	assert_int_equal(w.calls, 1);
	assert_true(w.start <= page && w.end >= page + ps());
	assert_int_equal(w.seen, MARK);
	assert_unmapped((void *)page, ps());
	unwatch();
	assert_int_equal(uhmm_bridge_ucm_stop(), 0);
}

static void madvise_dontneed_of_a_range_is_delivered_before(void **state)
{
	unsigned char *p;

	bridge_and_handler();
	p = map_pages(8);
	memset(p, MARK, 8 * ps());
	watch(p, 8 * ps(), p + 3 * ps());
	assert_int_equal(madvise(p + 2 * ps(), 3 * ps(), MADV_DONTNEED), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.start, (unsigned long)p + 2 * ps());
	assert_int_equal(w.end, (unsigned long)p + 5 * ps());
	assert_int_equal(w.seen, MARK);		/* before the discard */
	assert_int_equal(p[3 * ps()], 0);	/* discarded after it */
	assert_int_equal(p[ps()], MARK);	/* outside: untouched */
	unwatch();
	assert_int_equal(munmap(p, 8 * ps()), 0);
	assert_int_equal(uhmm_bridge_ucm_stop(), 0);
}

/* A protection drop keeps the pages: UCM's caches need not hear it. */
static void mprotect_is_not_delivered(void **state)
{
	unsigned char *p;

	bridge_and_handler();
	p = map_pages(2);
	watch(p, 2 * ps(), NULL);
	assert_int_equal(mprotect(p, 2 * ps(), PROT_READ), 0);
	assert_int_equal(w.calls, 0);
	assert_int_equal(munmap(p, 2 * ps()), 0);
	assert_int_equal(w.calls, 1);		/* the unmap is */
	unwatch();
	assert_int_equal(uhmm_bridge_ucm_stop(), 0);
}

/* One madvise and one munmap of fresh memory: the events the handler
 * heard, or -1 if a call failed.  No cmocka: threads use it too. */
static int changes_heard(void)
{
	unsigned char *p = mmap(NULL, 2 * ps(), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int calls;

	if (p == MAP_FAILED)
		return -1;
	p[0] = MARK;
	watch(p, 2 * ps(), NULL);
	if (madvise(p, ps(), MADV_DONTNEED) || munmap(p, 2 * ps()))
		return -1;
	calls = w.calls;
	unwatch();
	return calls;
}

/*
 * UCM's own hooks are off (the bridge set hook mode none and made
 * VM_UNMAPPED external before the handler was added): stopped, the bridge
 * delivers nothing and nothing else does either; started again, it does.
 */
static void events_come_from_the_bridge_only(void **state)
{
	bridge_and_handler();
	assert_int_equal(ucm_global_opts.mmap_hook_mode, UCM_MMAP_HOOK_NONE);
	assert_int_equal(ucm_global_opts.enable_malloc_hooks, 0);
	assert_int_equal(changes_heard(), 2);
	assert_int_equal(uhmm_bridge_ucm_stop(), 0);
	assert_int_equal(changes_heard(), 0);
	assert_int_equal(uhmm_bridge_ucm_stop(), -EINVAL);
	assert_int_equal(uhmm_bridge_ucm_start(uhmm_mm_current()), 0);
	assert_int_equal(uhmm_bridge_ucm_start(uhmm_mm_current()), -EALREADY);
	assert_int_equal(changes_heard(), 2);
	assert_int_equal(uhmm_bridge_ucm_stop(), 0);
}

/*
 * Run as "test_bridge_ucm --ucm-hooks", without the hook mode set: libucs's
 * constructor has had UCM patch libc with its defaults before main().  The
 * bridge must refuse.  Exit 0 for that, 3 if UCM's hooks did not come live
 * (the handler below did not hear a munmap), 1 otherwise.
 */
static int ucm_hooks_child(void)
{
	unsigned char *p;

	if (ucm_set_event_handler(UCM_EVENT_VM_UNMAPPED, 0, handler,
				  NULL) != UCS_OK)
		return 3;
	p = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	watch(p, ps(), NULL);
	munmap(p, ps());
	if (w.calls != 1)
		return 3;
	return uhmm_bridge_ucm_start(uhmm_mm_current()) == -EBUSY ? 0 : 1;
}

static void refused_while_ucm_hooks_are_live(void **state)
{
	char *argv[] = { "test_bridge_ucm", "--ucm-hooks", NULL };
	pid_t pid = fork_checked();
	int status;

	if (pid == 0) {
		unsetenv("UCX_MEM_MMAP_HOOK_MODE");
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	status = wait_bounded(pid, 60);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 3)
		SKIP("UCM's own hooks did not come live in this process");
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */

struct churn {
	unsigned long rounds;
	int heard;		/* the unmapper's own events */
	bool stop;		/* atomic */
};

static void *unmapper(void *arg)
{
	struct churn *c = arg;
	unsigned long i;

	for (i = 0; i < c->rounds; i++)
		c->heard += changes_heard() == 2;
	return NULL;
}

static void quiet_handler(ucm_event_type_t type, ucm_event_t *ev, void *arg)
{
}

/* UCM's handler list changes under its write lock while deliveries hold
 * its read lock. */
static void *handler_churn(void *arg)
{
	struct churn *c = arg;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		if (ucm_set_event_handler(UCM_EVENT_VM_UNMAPPED, 1,
					  quiet_handler, c) != UCS_OK)
			abort();
		ucm_unset_event_handler(UCM_EVENT_VM_UNMAPPED, quiet_handler,
					c);
	}
	return NULL;
}

static void deliveries_race_handler_changes(void **state)
{
	struct churn a = { .rounds = harness_rounds(2000) };
	struct churn b = a;
	struct churn h = { 0 };
	struct harness_watchdog wd;
	pthread_t t[3];

	bridge_and_handler();
	harness_watchdog_start(&wd, 60, "deliveries_race_handler_changes");
	assert_int_equal(pthread_create(&t[0], NULL, unmapper, &a), 0);
	assert_int_equal(pthread_create(&t[1], NULL, unmapper, &b), 0);
	assert_int_equal(pthread_create(&t[2], NULL, handler_churn, &h), 0);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	__atomic_store_n(&h.stop, true, __ATOMIC_RELEASE);
	pthread_join(t[2], NULL);
	harness_watchdog_stop(&wd);
	/* Every change heard exactly once, by the one watching handler. */
	assert_int_equal(a.heard, (int)a.rounds);
	assert_int_equal(b.heard, (int)b.rounds);
	assert_int_equal(uhmm_bridge_ucm_stop(), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(munmap_is_delivered_before),
		cmocka_unit_test(free_of_a_large_block_is_delivered_before),
		cmocka_unit_test(madvise_dontneed_of_a_range_is_delivered_before),
		cmocka_unit_test(mprotect_is_not_delivered),
		cmocka_unit_test(events_come_from_the_bridge_only),
		cmocka_unit_test(refused_while_ucm_hooks_are_live),
		cmocka_unit_test(deliveries_race_handler_changes),
	};
	if (argc > 1 && !strcmp(argv[1], "--ucm-hooks"))
		return ucm_hooks_child();
	return HARNESS_MAIN(tests);
}
