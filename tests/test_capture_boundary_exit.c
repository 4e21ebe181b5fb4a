/* SPDX-License-Identifier: MIT */
/*
 * test_capture_boundary_exit.c - capture where threads and processes end
 * (issue 3): thousands of short-lived threads that each subscribe, unmap
 * and unsubscribe while others keep unmapping subscribed memory (every
 * change told, nothing leaked: ASan's leak check runs at exit); and a
 * process that calls exit() while its threads unmap subscribed memory
 * exits 0, with ->release run exactly once.  vfork, posix_spawn and exec:
 * test_capture_boundary.c.
 *
 * UHMM_TEST_LINK: interpose
 * UHMM_TEST_ENV: UHMM_CAPTURE=patch UHMM_CAPTURE=interpose
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "harness.h"
#include <uhmm/uhmm.h>

#include "capture_churn.h"
#include "capture_rec.h"
#include "util.h"

#define NCHURN	2	/* threads that keep unmapping meanwhile */
#define WAVE	8	/* short-lived threads alive at once */
#define NEXIT	3	/* unmapping threads in the exiting child */

static struct churn churners[NEXIT];
static struct rec last;		/* static: see capture_rec.h */
static int bad;			/* atomic: threads that saw a wrong thing */

/* ------------------------------------------------------------------ */
/* Short-lived threads                                                  */

/*
 * What a short-lived thread's subscription was told first (its own
 * munmap); later calls are counted only: once the page is a hole, another
 * thread's mapping may take it and be announced to this one too.
 * Static, as capture_rec.h's recorders.
 */
static struct life {
	struct uhmm_interval_sub sub;
	volatile unsigned char *probe;
	int calls;			/* atomic */
	int first_event, first_seen;
	unsigned long first_start;
	pid_t first_tid;
} lives[WAVE];

static bool life_invalidate(struct uhmm_interval_sub *sub,
			    const struct uhmm_notifier_range *r,
			    unsigned long cur_seq)
{
	struct life *l = (struct life *)sub;	/* sub is the first member */

	uhmm_interval_set_seq(sub, cur_seq);
	/* AFTER: the userfaultfd reader's, for a change it saw afterwards. */
	if (r->event == UHMM_EVENT_RELEASE || (r->flags & UHMM_RANGE_AFTER))
		return true;
	if (__atomic_add_fetch(&l->calls, 1, __ATOMIC_SEQ_CST) == 1) {
		l->first_event = r->event;
		l->first_start = r->start;
		l->first_tid = (pid_t)syscall(SYS_gettid);
		l->first_seen = *l->probe;	/* mapped: before the change */
	}
	return true;
}

static const struct uhmm_interval_sub_ops life_ops = {
	.invalidate = life_invalidate,
};

/* Its own munmap was told first, before, in this thread. */
static bool life_told(struct life *l, unsigned char *p, unsigned long seq)
{
	return ld(&l->calls) >= 1 && l->first_event == UHMM_EVENT_UNMAP &&
	       l->first_start == (unsigned long)p && l->first_seen == MARK &&
	       l->first_tid == (pid_t)syscall(SYS_gettid) &&
	       uhmm_interval_read_retry(&l->sub, seq);
}

/*
 * One short-lived thread (no cmocka here): subscribe to a fresh marked
 * page, wait for the insert to land (one made while another thread's
 * invalidation runs is deferred), unmap the page through libc, check it
 * was told, unsubscribe, exit.
 */
static void *short_lived(void *arg)
{
	struct life *l = arg;
	unsigned char *p = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long seq;

	if (p == MAP_FAILED)
		goto fail;
	p[0] = MARK;
	memset(l, 0, sizeof(*l));
	l->probe = p;
	if (uhmm_interval_sub_insert(&l->sub, uhmm_mm_current(),
				     (unsigned long)p, ps(), &life_ops))
		goto fail;
	seq = uhmm_interval_read_begin(&l->sub);
	if (munmap(p, ps()) || !life_told(l, p, seq))
		inc(&bad);
	if (uhmm_interval_sub_remove(&l->sub))
		goto fail;
	return NULL;
fail:
	inc(&bad);
	return NULL;
}

/*
 * Fails if a thread's change goes untold (bad), if a thread's exit trips
 * over what capture left in it (its RCU registration, per-thread values:
 * a crash), if each exit leaks what the thread's first announcement set
 * up (ASan's leak check at exit), or if the churners lose announcements
 * meanwhile (told < 3 per round) or stall (the watchdog).
 */
static void exiting_threads_leave_nothing_behind(void **state)
{
	unsigned long i, waves = harness_rounds(4000) / WAVE + 1;
	struct harness_watchdog w;
	pthread_t t[WAVE];
	unsigned char *p;
	int k;

	harness_watchdog_start(&w, 100, __func__);
	for (k = 0; k < NCHURN; k++)
		assert_int_equal(churn_start(&churners[k]), 0);
	for (i = 0; i < waves; i++) {
		for (k = 0; k < WAVE; k++)
			assert_int_equal(pthread_create(&t[k], NULL,
						short_lived, &lives[k]), 0);
		for (k = 0; k < WAVE; k++)
			assert_int_equal(pthread_join(t[k], NULL), 0);
		assert_int_equal(ld(&bad), 0);
	}
	churn_stop_all(churners, NCHURN);
	/* And this thread still captures after all those exits. */
	p = map_pages(1);
	p[0] = MARK;
	watch(&last, p, ps());
	assert_int_equal(munmap(p, ps()), 0);
	assert_int_equal(calls(&last), 1);
	assert_int_equal(last.seen, MARK);
	unwatch(&last);
	harness_watchdog_stop(&w);
}

/* ------------------------------------------------------------------ */
/* exit() while other threads unmap                                     */

/* What the exiting child tells us, in a page it shares with us. */
struct report {
	int releases;		/* atomic: ->release() calls */
	int failed;		/* the child's set-up step that failed */
};

static struct report *report;
static struct uhmm_notifier whole;	/* static: lives until the end */

static void count_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	inc(&report->releases);
}

static const struct uhmm_notifier_ops release_ops = {
	.release = count_release,
};

/* Does a bare `syscall` munmap (no libc) of a subscribed page get told?
 * Then the userfaultfd route is on in this process. */
static bool raw_munmap_told(void)
{
#if defined(__x86_64__)
	static struct rec r;
	unsigned char *p = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long ret;

	if (p == MAP_FAILED ||
	    uhmm_interval_sub_insert(&r.sub, uhmm_mm_current(),
				     (unsigned long)p, ps(), &rec_ops))
		return false;
	__asm__ volatile("syscall" : "=a"(ret)
			 : "0"((long)SYS_munmap), "D"(p), "S"(ps())
			 : "rcx", "r11", "memory");
	return ret == 0 && calls(&r) > 0 && !uhmm_interval_sub_remove(&r.sub);
#else
	return false;
#endif
}

/*
 * With userfaultfd on, a thread keeps discarding a subscribed page: it
 * stays registered (a churner's remapped page is not: registration
 * happens at insert), so every madvise waits until the reader has read
 * its event, also while exit() stops the reader.
 */
static struct churn discarder;

static void *discard_fn(void *arg)
{
	struct churn *c = arg;

	for (;;) {
		c->page[0] = 1;
		madvise(c->page, ps(), MADV_DONTNEED);
		inc(&c->rounds);
	}
	return NULL;
}

static int discarder_start(void)
{
	pthread_t t;

	discarder.page = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (discarder.page == MAP_FAILED || churn_subscribe(&discarder))
		return -1;
	return pthread_create(&t, NULL, discard_fn, &discarder);
}

/*
 * A thread that keeps subscribing and unsubscribing a page: each insert
 * holds a users reference for a moment, so exit() often finds one held
 * and must still run ->release() (it cannot wait: the thread dies next).
 * Inserts fail with -ESRCH once teardown has begun.
 */
static struct {
	struct uhmm_interval_sub sub;
	unsigned char *page;
	int rounds;		/* atomic */
} subscriber;

static void *subscribe_fn(void *arg)
{
	for (;;) {
		if (!uhmm_interval_sub_insert(&subscriber.sub,
					      uhmm_mm_current(),
					      (unsigned long)subscriber.page,
					      ps(), &churn_ops))
			(void)uhmm_interval_sub_remove(&subscriber.sub);
		inc(&subscriber.rounds);
	}
	return arg;
}

static int subscriber_start(void)
{
	pthread_t t;

	subscriber.page = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (subscriber.page == MAP_FAILED)
		return -1;
	return pthread_create(&t, NULL, subscribe_fn, NULL);
}

/*
 * The exiting child (no cmocka): its threads churn subscribed memory, one
 * keeps subscribing and unsubscribing, a whole-space notifier watches;
 * once every thread has done a round, exit() tears uhmm down under them.
 * With @uffd (and userfaultfd here) a discarder waits on the reader too.
 * Exit status 0 is the parent's verdict to check.
 */
static void exiting_child(bool uffd)
{
	int k;

	if (uffd)
		setenv("UHMM_CAPTURE_UFFD", "on", 1);
	whole.ops = &release_ops;
	if (uhmm_notifier_register(&whole, uhmm_mm_current()))
		_exit(report->failed = 2);
	if (uffd && raw_munmap_told() && discarder_start())
		_exit(report->failed = 3);
	for (k = 0; k < NEXIT; k++)
		if (churn_start(&churners[k]))
			_exit(report->failed = 3);
	if (subscriber_start())
		_exit(report->failed = 3);
	for (k = 0; k < NEXIT; k++)
		churn_wait_round(&churners[k], 0);
	for (k = 0; k < NEXIT; k++)
		if (ld(&churners[k].err))
			_exit(report->failed = 4);
	while ((discarder.page && !ld(&discarder.rounds)) ||
	       !ld(&subscriber.rounds))
		sched_yield();
	exit(0);	/* with every thread still at work */
}

/*
 * Fails if exit() racing with unmapping and subscribing threads crashes
 * or hangs the child (killed after 60 s, reported), makes it exit non-zero
 * (a sanitizer report, a uhmm abort), or runs ->release other than exactly
 * once (0: the teardown was skipped, left to a thread holding a users
 * reference that exit killed; 2: it ran twice).
 */
static void exit_while_threads_unmap(void **state)
{
	unsigned long i, rounds = harness_rounds(40);
	pid_t pid;

	report = mmap(NULL, ps(), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(report != MAP_FAILED);
	for (i = 0; i < rounds; i++) {
		memset(report, 0, sizeof(*report));
		pid = fork_checked();
		if (pid == 0)
			exiting_child(i & 1);
		expect_child_ok(pid);
		assert_int_equal(report->failed, 0);
		assert_int_equal(ld(&report->releases), 1);
	}
	munmap(report, ps());
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exiting_threads_leave_nothing_behind),
		cmocka_unit_test(exit_while_threads_unmap),
	};

	return HARNESS_MAIN(tests);
}
