/* SPDX-License-Identifier: MIT */
/*
 * test_range_fault.c - uhmm_range_fault() return codes (-EBUSY after a
 * collision, -EDEADLK from a callback, -EINVAL, -ESRCH after teardown),
 * copy-on-write after fork, one range over many VMAs, and faults racing
 * mprotect/madvise of the same pages.
 *
 * Every test runs once per page-state reader:
 * UHMM_TEST_ENV: UHMM_PAGEMAP=scan UHMM_PAGEMAP=proc
 */
#include <errno.h>

#include "range_util.h"

/* ------------------------------------------------------------------ */
/* Return codes                                                        */

struct cb_sub {
	struct uhmm_interval_sub sub;
	int calls;
	int range_ret;
	bool call_range;
	char *mem;
};

static bool cb_invalidate(struct uhmm_interval_sub *sub,
			  const struct uhmm_notifier_range *r,
			  unsigned long cur_seq)
{
	struct cb_sub *c = (struct cb_sub *)sub;
	uint64_t pfns[1];

	uhmm_interval_set_seq(sub, cur_seq);
	c->calls++;
	if (c->call_range)
		c->range_ret = rf(c->mem, 1, pfns, FAULT, 0, 0);
	return true;
}

static const struct uhmm_interval_sub_ops cb_ops = {
	.invalidate = cb_invalidate,
};

static int invalidate(char *p, unsigned long n)
{
	struct uhmm_notifier_range r;

	uhmm_notifier_range_init(&r, UHMM_EVENT_CLEAR, UHMM_RANGE_BLOCKABLE,
				 uhmm_mm_current(), (uintptr_t)p,
				 (uintptr_t)p + n * ps);
	return uhmm_invalidate(&r);
}

static void ebusy(void **state)
{
	struct cb_sub c = { .calls = 0 };
	struct uhmm_range r = { 0 };
	uint64_t got[4];
	char *p = anon(8);

	assert_int_equal(uhmm_interval_sub_insert(&c.sub, uhmm_mm_current(),
						  (uintptr_t)p, 4 * ps, &cb_ops), 0);
	r.notifier = &c.sub;
	r.start = (uintptr_t)p;
	r.end = (uintptr_t)p + 4 * ps;
	r.pfns = got;
	r.default_flags = FAULT;
	r.notifier_seq = uhmm_interval_read_begin(&c.sub);
	assert_int_equal(invalidate(p + 4 * ps, 4), 0);	/* elsewhere */
	assert_int_equal(uhmm_range_fault(&r), 0);
	assert_int_equal(invalidate(p + ps, 1), 0);	/* this range */
	assert_int_equal(c.calls, 1);
	assert_int_equal(uhmm_range_fault(&r), -EBUSY);
	r.notifier_seq = uhmm_interval_read_begin(&c.sub);
	assert_int_equal(uhmm_range_fault(&r), 0);
	expect_all(got, zero_result(), 4);
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
	munmap(p, 8 * ps);
}

static void edeadlk_in_callback(void **state)
{
	struct cb_sub c = { .call_range = true, .range_ret = 1 };
	char *p = anon(1);

	c.mem = p;
	assert_int_equal(uhmm_interval_sub_insert(&c.sub, uhmm_mm_current(),
						  (uintptr_t)p, ps, &cb_ops), 0);
	assert_int_equal(invalidate(p, 1), 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.range_ret, -EDEADLK);
	assert_int_equal(uhmm_interval_sub_remove(&c.sub), 0);
	munmap(p, ps);
}

static void einval(void **state)
{
	uint64_t got[2];
	char *p = anon(2);
	struct uhmm_range r = {
		.mm = uhmm_mm_current(), .start = (uintptr_t)p,
		.end = (uintptr_t)p + ps, .pfns = got,
	};
	struct uhmm_range bad;

	assert_int_equal(uhmm_range_fault(NULL), -EINVAL);
	bad = r, bad.pfns = NULL;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	bad = r, bad.start += 8;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	bad = r, bad.end -= 8;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	bad = r, bad.end = bad.start;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	bad = r, bad.start = bad.end + ps;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	bad = r, bad.mm = NULL;
	assert_int_equal(uhmm_range_fault(&bad), -EINVAL);
	assert_int_equal(uhmm_range_fault(&r), 0);	/* the control */
	munmap(p, 2 * ps);
}

static void esrch_after_teardown(void **state)
{
	uint64_t got[1];
	char *p = anon(1);
	struct uhmm_range r = {
		.start = (uintptr_t)p, .end = (uintptr_t)p + ps, .pfns = got,
	};

	assert_int_equal(uhmm_mm_create(&r.mm), 0);
	assert_int_equal(uhmm_range_fault(&r), 0);
	uhmm_mm_grab(r.mm);
	uhmm_mm_put(r.mm);			/* teardown */
	assert_int_equal(uhmm_range_fault(&r), -ESRCH);
	uhmm_mm_drop(r.mm);
	munmap(p, ps);
}

/* ------------------------------------------------------------------ */
/* fork                                                                */

/* Child side of cow_after_fork: each check its own exit code. */
static int cow_child(char *p, struct uhmm_mm *parent_mm, int rd, int wr)
{
	struct uhmm_range r = { .mm = parent_mm };
	uint64_t got[4];
	char x;

	close(wr);		/* a parent that dies gives EOF, not a hang */
	if (read(rd, &x, 1) != 1)
		return 10;
	if (p[0] != 0x11)
		return 11;		/* the parent's write leaked in */
	r.start = (uintptr_t)p;
	r.end = r.start + ps;
	r.pfns = got;
	if (uhmm_range_fault(&r) != -ESRCH)
		return 12;		/* inherited handles are inert */
	if (rf(p, 2, got, 0, 0, 0) || got[1] != V)
		return 13;		/* still shared with the parent */
	if (rf(p + ps, 1, got, WRITE, 0, 0) || got[0] != (V | W))
		return 14;
	if (p[ps] != 0x22)
		return 15;
	/* The child's own VMAs and pages, not the parent's. */
	munmap(p + 2 * ps, ps);
	memset(p + 3 * ps, 0x44, ps);
	if (rf(p + 2 * ps, 2, got, 0, 0, 0) || got[0] != E ||
	    got[1] != (V | W))
		return 16;
	return 0;
}

static void cow_after_fork(void **state)
{
	struct uhmm_mm *mm = uhmm_mm_current();
	uint64_t got[4];
	char *p = anon(4);
	int pipefd[2];
	pid_t pid;

	memset(p, 0x11, ps);
	memset(p + ps, 0x22, ps);
	run(p, 4, got, 0);			/* readers opened before fork */
	assert_int_equal(got[0], V | W);
	assert_int_equal(pipe(pipefd), 0);
	pid = fork_checked();
	if (pid == 0)
		_exit(cow_child(p, mm, pipefd[0], pipefd[1]));
	run(p, 4, got, 0);
	assert_int_equal(got[0], V);		/* shared copy-on-write */
	assert_int_equal(got[1], V);
	assert_int_equal(got[3], 0);
	run(p, 1, got, WRITE);			/* breaks COW for us */
	assert_int_equal(got[0], V | W);
	expect_bytes(p, 0x11);
	memset(p, 0x77, ps);
	assert_int_equal(write(pipefd[1], "x", 1), 1);
	expect_child_ok(pid);
	run(p + 2 * ps, 2, got, 0);		/* the child's changes stay there */
	assert_int_equal(got[0], 0);
	assert_int_equal(got[1], 0);
	close(pipefd[0]);
	close(pipefd[1]);
	munmap(p, 4 * ps);
}

/* ------------------------------------------------------------------ */
/* Many VMAs, chunks and regions                                       */

static void long_mixed_range(void **state)
{
	enum { A = 600, HOLE = 3, B = 500, N = A + HOLE + B };
	uint64_t *got = calloc(N, sizeof(*got));
	char *p = anon(N);
	unsigned long i;

	assert_non_null(got);
	/* A: private, every other page written; a hole; B: shared anon,
	 * every third page written.  Runs alternate: many scan regions. */
	assert_true(mmap(p + (A + HOLE) * ps, B * ps, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
		    MAP_FAILED);
	munmap(p + A * ps, HOLE * ps);
	for (i = 0; i < A; i += 2)
		p[i * ps] = 1;
	for (i = 0; i < B; i += 3)
		p[(A + HOLE + i) * ps] = 2;
	run(p, N, got, 0);
	for (i = 0; i < N; i++) {
		uint64_t want = i < A ? (i % 2 ? 0 : V | W) : i < A + HOLE ? E :
				((i - A - HOLE) % 3 ? 0 : V | W);

		if (got[i] != want)
			print_message("page %lu\n", i);
		assert_int_equal(got[i], want);
	}
	for (i = 0; i < N; i++)
		got[i] = i < A || i >= A + HOLE ? FAULT : 0;
	assert_int_equal(rf(p, N, got, 0, FAULT, 0), 0);
	for (i = 0; i < N; i++)
		assert_int_equal(got[i], i < A ? (i % 2 ? zero_result() : V | W) :
				 i < A + HOLE ? E : V | W);
	munmap(p, A * ps);
	munmap(p + (A + HOLE) * ps, B * ps);
	free(got);
}

/* ------------------------------------------------------------------ */
/* Concurrent changes                                                  */

struct churn {
	char *p;
	unsigned long n;
	unsigned long rounds;
	int stop;			/* atomic */
	int bad;			/* atomic: unexpected return codes */
	int ok;				/* atomic: successful faults */
	pthread_barrier_t start;
};

/* Take pages away and give them back, one at a time, until stopped. */
static void *churn_fn(void *arg)
{
	struct churn *c = arg;
	unsigned long i = 0;
	char *pg;

	pthread_barrier_wait(&c->start);
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		pg = c->p + (i++ % c->n) * ps;
		mprotect(pg, ps, PROT_NONE);
		mprotect(pg, ps, PROT_READ | PROT_WRITE);
		madvise(pg, ps, MADV_DONTNEED);
	}
	return NULL;
}

/* Fault for writing; the first call of each thread races the other's. */
static void *fault_fn(void *arg)
{
	struct churn *c = arg;
	uint64_t got[16];
	unsigned long r;
	int ret;

	pthread_barrier_wait(&c->start);
	for (r = 0; r < c->rounds; r++) {
		ret = rf(c->p, c->n, got, WRITE, 0, 0);
		if (ret == 0)
			__atomic_add_fetch(&c->ok, 1, __ATOMIC_RELAXED);
		else if (ret != -EFAULT && ret != -EBUSY)
			__atomic_add_fetch(&c->bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Two threads fault while a third mprotects and discards the same pages:
 * every call ends in 0, -EFAULT (a page was PROT_NONE) or -EBUSY (pages
 * never settled), and nothing hangs.
 */
static void concurrent_changes(void **state)
{
	struct churn c = { .n = 16, .rounds = harness_rounds(1000) };
	struct harness_watchdog wd;
	pthread_t t[3];
	uint64_t got[16];
	int i;

	c.p = anon(c.n);
	assert_int_equal(pthread_barrier_init(&c.start, NULL, 3), 0);
	harness_watchdog_start(&wd, 60, "range fault against mprotect/madvise");
	assert_int_equal(pthread_create(&t[0], NULL, churn_fn, &c), 0);
	for (i = 1; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, fault_fn, &c), 0);
	for (i = 1; i < 3; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t[0], NULL);
	harness_watchdog_stop(&wd);
	print_message("%d of %lu faults succeeded\n", c.ok, 2 * c.rounds);
	assert_int_equal(c.bad, 0);
	run(c.p, c.n, got, WRITE);		/* quiet again: all settle */
	expect_all(got, V | W, c.n);
	pthread_barrier_destroy(&c.start);
	munmap(c.p, c.n * ps);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ebusy),
		cmocka_unit_test(edeadlk_in_callback),
		cmocka_unit_test(einval),
		cmocka_unit_test(esrch_after_teardown),
		cmocka_unit_test(cow_after_fork),
		cmocka_unit_test(long_mixed_range),
		cmocka_unit_test(concurrent_changes),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
