/* SPDX-License-Identifier: MIT */
/*
 * test_capture_uffd_quiet.c - the userfaultfd mechanism on by default, and
 * quiet where capture already announced: a change made through libc is
 * told before it happens and sends the reader no event (so it neither
 * waits for the reader nor invalidates every subscription after the fact),
 * yet the memory stays registered, so a later change that bypasses libc is
 * still caught.  Registration follows the subscriptions one range at a
 * time: removing one ends its registration and keeps its neighbour's; a
 * MAP_FIXED mapping laid over subscribed memory is registered; mremap
 * still works on a mapping the registration split; an application's own
 * userfaultfd registered later gets the memory; and past a budget nothing
 * more is registered, so the process keeps room under vm.max_map_count.
 *
 * How "no event" is seen: the kernel holds a thread that unmaps or
 * discards registered memory until the reader has read the event, and the
 * reader starts its wide UHMM_RANGE_AFTER invalidation before reading.  So
 * if a call made an event, the recorder has its AFTER call by the time the
 * call returns; no waiting, no timing.
 *
 * UHMM_TEST_LINK: interpose
 */
#include <malloc.h>
#include <sys/wait.h>

#include "capture_rec.h"
#include "uffd_util.h"

static struct rec a, b;	/* static: capture_rec.h */

static unsigned char *map_marked(size_t pages)
{
	unsigned char *p = mmap(NULL, pages * ps(), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	memset(p, MARK, pages * ps());
	return p;
}

static int after(struct rec *x)
{
	return __atomic_load_n(&x->after, __ATOMIC_SEQ_CST);
}

/* Wait until the reader's invalidation (if any) over @x has ended. */
static void settle(struct rec *x)
{
	(void)uhmm_interval_read_begin(&x->sub);
}

/* The control: a bare munmap of @p's page is caught, after the fact. */
static void raw_munmap_caught(struct rec *x, unsigned char *p)
{
	int before = after(x);
	unsigned long seq = uhmm_interval_read_begin(&x->sub);

	assert_int_equal(asm_syscall(SYS_munmap, (long)p, (long)ps(), 0, 0,
				     0), 0);
	assert_true(uhmm_interval_read_retry(&x->sub, seq));
	settle(x);
	assert_true(after(x) > before);
}

static void libc_changes_send_no_event(void **state)
{
	unsigned char *p;

	need_uffd();
	p = map_marked(8);
	watch(&a, p, 8 * ps());
	assert_int_equal(madvise(p, ps(), MADV_DONTNEED), 0);
	assert_int_equal(calls(&a), 1);		/* told, before */
	assert_int_equal(mprotect(p + ps(), ps(), PROT_READ), 0);
	assert_int_equal(calls(&a), 2);
	assert_int_equal(munmap(p + 2 * ps(), ps()), 0);
	assert_int_equal(calls(&a), 3);
	assert_true(mmap(p + 3 * ps(), ps(), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    p + 3 * ps());
	assert_int_equal(calls(&a), 4);
	settle(&a);
	/* None of them made an event for the reader. */
	assert_int_equal(after(&a), 0);
	/* Still registered where libc discarded and remapped: caught. */
	raw_munmap_caught(&a, p);
	raw_munmap_caught(&a, p + 3 * ps());
	/* And where nothing happened before. */
	raw_munmap_caught(&a, p + 5 * ps());
	unwatch(&a);
	munmap(p + ps(), ps());
	munmap(p + 4 * ps(), ps());
	munmap(p + 6 * ps(), 2 * ps());
}

static void removing_one_keeps_the_other_registered(void **state)
{
	unsigned char *p;

	need_uffd();
	p = map_marked(3);
	watch(&a, p, 2 * ps());			/* pages 0, 1 */
	watch(&b, p + ps(), 2 * ps());		/* pages 1, 2 */
	unwatch(&a);
	/* Page 0 was a's alone: no longer registered, no event. */
	assert_int_equal(asm_syscall(SYS_munmap, (long)p, (long)ps(), 0, 0,
				     0), 0);
	settle(&b);
	assert_int_equal(after(&b), 0);
	/* Page 1 is still b's: caught. */
	raw_munmap_caught(&b, p + ps());
	unwatch(&b);
	munmap(p + 2 * ps(), ps());
}

static void map_fixed_page(unsigned char *p)
{
	assert_true(mmap(p, ps(), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p);
	*p = MARK;
}

/*
 * A libc munmap leaves its span bare, and the thread's next quiet change
 * there skips the unregister ioctl (nothing of ours can be registered in
 * it) until anything is registered anywhere.  Both halves of that rule:
 * memory mapped into the bare span by libc is still registered (a raw
 * munmap of it is caught), and once it is, a libc munmap of it unregisters
 * first, so it still makes no event.
 */
static void bare_span_is_registered_again_and_stays_quiet(void **state)
{
	unsigned char *p;
	int i;

	need_uffd();
	p = map_marked(2);
	watch(&a, p, 2 * ps());
	a.probe = p + ps();	/* page 0 comes and goes */
	for (i = 0; i < 3; i++) {
		assert_int_equal(munmap(p, ps()), 0);	/* leaves it bare */
		map_fixed_page(p);			/* registered again */
		settle(&a);
		assert_int_equal(after(&a), 0);
		assert_int_equal(munmap(p, ps()), 0);	/* must unregister */
		settle(&a);
		assert_int_equal(after(&a), 0);		/* so: no event */
		map_fixed_page(p);
	}
	raw_munmap_caught(&a, p);
	map_fixed_page(p);
	assert_int_equal(munmap(p, ps()), 0);
	map_fixed_page(p);
	raw_munmap_caught(&a, p);
	unwatch(&a);
	munmap(p + ps(), ps());
}

/*
 * Map page 1 of @p's three (a hole, watched by a) with a hint and @flags;
 * skip, cleaning up, if the kernel puts it elsewhere.
 */
static unsigned char *map_into_hole(unsigned char *p, int flags)
{
	unsigned char *q = mmap(p + ps(), ps(), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);

	assert_true(q != MAP_FAILED);
	if (q != p + ps()) {
		munmap(q, ps());
		unwatch(&a);
		munmap(p, 3 * ps());
		SKIP("the kernel did not take the hint");
	}
	return q;
}

/*
 * Memory libc maps into a subscribed hole without MAP_FIXED (a hint, or
 * MAP_FIXED_NOREPLACE: nothing existing changes, so nothing is announced)
 * is registered after the call: a raw munmap of it is caught.
 */
static void memory_mapped_into_a_subscription_is_registered(void **state)
{
	static const int how[] = { 0, MAP_FIXED_NOREPLACE };
	unsigned char *p, *q;
	unsigned int i;

	need_uffd();
	p = map_marked(3);
	watch(&a, p, 3 * ps());
	a.probe = p;		/* page 1 comes and goes */
	for (i = 0; i < sizeof(how) / sizeof(how[0]); i++) {
		assert_int_equal(munmap(p + ps(), ps()), 0);
		q = map_into_hole(p, how[i]);
		*q = MARK;
		raw_munmap_caught(&a, q);
		assert_true(mmap(q, ps(), PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
				 0) == q);
	}
	unwatch(&a);
	munmap(p, 3 * ps());
}

/*
 * A retired subscription (its owner needs no more, as a registration
 * cache's dead region awaiting deregistration) gets no new memory
 * registered on its account, while what was registered stays: a libc
 * munmap there is still quiet, a raw one still caught.
 */
static void retired_subscription_gets_nothing_new_registered(void **state)
{
	unsigned char *p, *q;

	need_uffd();
	p = map_marked(3);
	watch(&a, p, 3 * ps());
	a.probe = p;
	uhmm_interval_sub_retire(&a.sub);
	assert_int_equal(munmap(p + ps(), ps()), 0);
	settle(&a);
	assert_int_equal(after(&a), 0);		/* unregistered first */
	q = map_into_hole(p, 0);
	assert_int_equal(asm_syscall(SYS_munmap, (long)q, (long)ps(), 0, 0,
				     0), 0);
	settle(&a);
	assert_int_equal(after(&a), 0);		/* not registered: no event */
	raw_munmap_caught(&a, p + 2 * ps());	/* still registered */
	unwatch(&a);
	munmap(p, ps());
}

/*
 * Subscribing to page 1 of a 4-page mapping registers page 1 alone, which
 * splits the mapping in three; mremap cannot cross mappings, so growing it
 * in place fails with EFAULT unless capture joins it for the call.
 */
static void mremap_grows_a_mapping_registration_split(void **state)
{
	unsigned char *p, *q;

	need_uffd();
	p = map_marked(8);
	assert_int_equal(munmap(p + 4 * ps(), 4 * ps()), 0);	/* room */
	watch(&a, p + ps(), ps());
	q = mremap(p, 4 * ps(), 8 * ps(), 0);
	if (q == MAP_FAILED && errno == ENOMEM)
		SKIP("the room after the mapping was taken meanwhile");
	assert_true(q == p);
	assert_int_equal(p[3 * ps()], MARK);
	/* Grown, and page 1 still registered. */
	raw_munmap_caught(&a, p + ps());
	unwatch(&a);
	munmap(p, ps());
	munmap(p + 2 * ps(), 6 * ps());
}

/*
 * glibc's free() of an mmapped chunk calls its internal munmap, which
 * interposition cannot see (test_capture_interpose.c); with interposition
 * alone, userfaultfd still catches it, after the fact.  In a child started
 * with UHMM_CAPTURE=interpose.
 */
static void free_under_interposition_is_caught_after(void **state)
{
	const char *mode = getenv("UHMM_CAPTURE");
	char *argv[] = { "test_capture_uffd_quiet",
			 "free_under_interposition_is_caught_after", NULL };
	unsigned char *m;
	unsigned long page;
	int status;
	pid_t pid;

#ifdef TEST_SANITIZER
	SKIP("the sanitizer's allocator replaces glibc's free()");
#endif
	need_uffd();
	if (!mode || strcmp(mode, "interpose")) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			setenv("UHMM_CAPTURE", "interpose", 1);
			execv("/proc/self/exe", argv);
			_exit(127);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		return;
	}
	mallopt(M_MMAP_THRESHOLD, 128 << 10);	/* no dynamic threshold */
	m = malloc(4u << 20);
	assert_non_null(m);
	page = ((unsigned long)m + ps()) & ~(ps() - 1);
	memset(m, MARK, 4u << 20);
	watch(&a, (void *)page, ps());
	free(m);
	assert_int_equal(calls(&a), 0);		/* not before ... */
	assert_true(after(&a) >= 1);		/* ... but after */
	unwatch(&a);
}

struct own {
	void *addr;
	int fd;
};

static void own_uffd_on(void *arg)
{
	struct own *o = arg;

	o->fd = own_uffd(o->addr, 2 * ps());
}

/*
 * The application registers memory uhmm already registered: one VMA has
 * one userfaultfd, so the kernel says EBUSY; capture gives the range up
 * (said on stderr) and the application's registration succeeds.  A raw
 * change there is then the application's to see, not ours.
 */
static void application_userfaultfd_registered_later_wins(void **state)
{
	unsigned char *p;
	char msg[512];
	struct own o;

	need_uffd();
	p = map_marked(2);
	watch(&a, p, 2 * ps());
	o.addr = p;
	capture_stderr(own_uffd_on, &o, msg, sizeof(msg));
	assert_non_null(strstr(msg, "application's own userfaultfd"));
	assert_int_equal(asm_syscall(SYS_munmap, (long)p, (long)ps(), 0, 0,
				     0), 0);
	settle(&a);
	assert_int_equal(after(&a), 0);
	unwatch(&a);
	close(o.fd);
	munmap(p + ps(), ps());
}

static long max_map_count(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}


/*
 * Each registered subscription may split a mapping in three; registering
 * all of 60% of vm.max_map_count scattered subscriptions would take the
 * process past the cap, and then its own mmap fails with ENOMEM.  Past a
 * budget, capture registers no more (and says so): the application keeps
 * room for its own mappings.
 */
static void many_subscriptions_leave_room_for_the_application(void **state)
{
	long cap = max_map_count(), n, i, k;
	struct uhmm_interval_sub *subs;
	static const struct uhmm_interval_sub_ops ops = {
		.invalidate = rec_ops.invalidate,
	};
	unsigned char *resv;
	void *extra[512];

	need_uffd();
	if (cap < 1024 || cap > 200000)
		SKIP("vm.max_map_count is %ld: not testable in bounded time",
		     cap);
	n = cap * 6 / 10;
	subs = calloc((size_t)n, sizeof(*subs));
	assert_non_null(subs);
	resv = mmap(NULL, (size_t)n * 2 * ps(), PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(resv != MAP_FAILED);
	for (i = 0; i < n; i++)
		assert_int_equal(uhmm_interval_sub_insert(&subs[i],
				uhmm_mm_current(),
				(unsigned long)resv + (unsigned long)i * 2 *
				ps(), ps(), &ops), 0);
	/* The application can still make mappings of its own. */
	for (k = 0; k < 512; k++) {
		extra[k] = mmap(NULL, ps(), k & 1 ? PROT_READ : PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(extra[k] != MAP_FAILED);
	}
	for (k = 0; k < 512; k++)
		munmap(extra[k], ps());
	for (i = 0; i < n; i++)
		assert_int_equal(uhmm_interval_sub_remove(&subs[i]), 0);
	munmap(resv, (size_t)n * 2 * ps());
	free(subs);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(libc_changes_send_no_event),
		cmocka_unit_test(removing_one_keeps_the_other_registered),
		cmocka_unit_test(mremap_grows_a_mapping_registration_split),
		cmocka_unit_test(
			bare_span_is_registered_again_and_stays_quiet),
		cmocka_unit_test(
			memory_mapped_into_a_subscription_is_registered),
		cmocka_unit_test(
			retired_subscription_gets_nothing_new_registered),
		cmocka_unit_test(free_under_interposition_is_caught_after),
		cmocka_unit_test(
			application_userfaultfd_registered_later_wins),
		cmocka_unit_test(
			many_subscriptions_leave_room_for_the_application),
	};

	return HARNESS_MAIN(tests);
}
