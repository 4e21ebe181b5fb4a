/* SPDX-License-Identifier: MIT */
/*
 * test_dmirror_race.c - device commands racing with changes of the memory
 * they mirror.  Readers and a writer issue READ / WRITE on random pieces of
 * a window while a mutator thread unmaps and remaps, discards, and
 * write-protects its pages.  Every command must return 0 with correct data,
 * or one of the errors the change explains (-EFAULT: gone; -EPERM:
 * read-only now; -EBUSY: kept colliding); never crash, hang, or return
 * data that was never there.
 *
 * Correct data: the CPU never writes the window; only the device's WRITE
 * does, one value per page (a tag it took from a counter), and unmapping or
 * discarding gives zero pages.  So a page read back is uniform and holds 0
 * or a tag already issued; a torn page (a READ copying while a WRITE was
 * half done: they must serialise on the device lock) or foreign content
 * fails the test.
 *
 * And no translation outlives a change: right after munmap() returns the
 * device has no entry for the page, right after mprotect(PROT_READ) no
 * write entry (the mutator checks with lookup).
 *
 * raw_unmap: the mutator also unmaps with the system call instruction
 * itself, which capture does not see: the device keeps entries for memory
 * that is gone, and only its fault-safe copy stands between a command and
 * SIGSEGV.
 *
 * An unmapped page can be taken by any mapping anyone makes (a sanitizer's
 * own, a thread stack) before the mutator maps it again, and the device's
 * WRITE would then write into it.  The window therefore lies low in the
 * address space, far below where the kernel places mappings (top-down,
 * into the highest gap that fits), so its holes are never chosen; the
 * mutator checks that each remap found its hole free.
 */
#include "dm_util.h"

#define PAGES	16
#define TAG	(2ul << 56)
#define SEQ	((1ul << 56) - 1)

struct race {
	struct uhmm_dmirror *dev;
	char *win;		/* immutable: the window's address */
	bool raw;		/* immutable: the mutator uses raw munmap */
	int stop;		/* atomic */
	unsigned long seq;	/* atomic: last tag issued */
	unsigned long ok, errors, wrong, unexpected;	/* atomic counters */
	int first_unexpected;	/* atomic: the first unexpected return */
	unsigned long stale;	/* mutator only: entries a change left */
	int stolen;		/* atomic: 1 + the page someone else took */
};

static unsigned long rnd(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void count(unsigned long *c)
{
	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/* A page read back: uniform, 0 or an issued tag. */
static bool page_ok(struct race *r, const unsigned long *w)
{
	unsigned long v = w[0], i;

	for (i = 1; i < ps / sizeof(*w); i++)
		if (w[i] != v)
			return false;
	return v == 0 || ((v & ~SEQ) == TAG &&
			  (v & SEQ) <= __atomic_load_n(&r->seq,
						       __ATOMIC_ACQUIRE));
}

static void check_result(struct race *r, int ret, bool write)
{
	if (ret == 0)
		count(&r->ok);
	else if (ret == -EFAULT || ret == -EBUSY || (write && ret == -EPERM))
		count(&r->errors);
	else {	/* reported by the main thread: cmocka is not thread-safe */
		int none = 0;

		__atomic_compare_exchange_n(&r->first_unexpected, &none, ret,
					    false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
		count(&r->unexpected);
	}
}

static void one_command(struct race *r, char *buf, unsigned long *s,
			bool write)
{
	unsigned long first = rnd(s) % PAGES, n = 1 + rnd(s) % (PAGES - first);
	struct uhmm_dmirror_cmd cmd;
	unsigned long i, j, tag;
	int ret;

	for (i = 0; write && i < n; i++) {
		tag = TAG | __atomic_add_fetch(&r->seq, 1, __ATOMIC_RELEASE);
		for (j = 0; j < ps / sizeof(long); j++)
			((unsigned long *)(buf + i * ps))[j] = tag;
	}
	ret = dm_do(write ? uhmm_dmirror_write : uhmm_dmirror_read, r->dev,
		    r->win + first * ps, buf, n, &cmd);
	check_result(r, ret, write);
	for (i = 0; !write && i < cmd.cpages && i < n; i++)
		if (!page_ok(r, (unsigned long *)(buf + i * ps)))
			count(&r->wrong);
}

struct worker {
	struct race *r;
	bool write;
	unsigned long seed;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	char *buf = malloc(PAGES * ps);

	if (!buf)
		abort();
	while (!__atomic_load_n(&w->r->stop, __ATOMIC_ACQUIRE))
		one_command(w->r, buf, &w->seed, w->write);
	free(buf);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The mutator                                                          */

/* Map page @k again (zero-filled) where it was unmapped. */
static void remap(struct race *r, unsigned long k)
{
	char *q = mmap(r->win + k * ps, ps, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		       0);

	if (q == MAP_FAILED)
		__atomic_store_n(&r->stolen, (int)k + 1, __ATOMIC_SEQ_CST);
}

static void mutate(struct race *r, unsigned long *s)
{
	unsigned long k = rnd(s) % PAGES, op = rnd(s) % (r->raw ? 5 : 3);
	char *pg = r->win + k * ps;

	switch (op) {
	case 0:
		assert_int_equal(munmap(pg, ps), 0);
		/* No command can fault a hole in again: an entry now is one
		 * a fault that started before the unmap committed after it
		 * (read_retry missed it) or the callback left. */
		if (uhmm_dmirror_lookup(r->dev, (uintptr_t)pg, NULL) !=
		    UHMM_DMIRROR_PROT_NONE)
			r->stale++;
		remap(r, k);
		break;
	case 1:
		assert_int_equal(madvise(pg, ps, MADV_DONTNEED), 0);
		break;
	case 2:
		assert_int_equal(mprotect(pg, ps, PROT_READ), 0);
		/* Read entries may come back, write entries may not. */
		if (uhmm_dmirror_lookup(r->dev, (uintptr_t)pg, NULL) ==
		    UHMM_DMIRROR_PROT_WRITE)
			r->stale++;
		assert_int_equal(mprotect(pg, ps, PROT_READ | PROT_WRITE), 0);
		break;
	default:	/* raw: unseen by capture */
		assert_int_equal(asm_syscall3(SYS_munmap, (long)pg, (long)ps,
					      0), 0);
		usleep(50);	/* let commands meet the hole */
		remap(r, k);
		break;
	}
}

/* The window, low in the address space (see above): app memory for ASan
 * (below 2 GiB) and TSan alike. */
static char *map_window(void)
{
	unsigned long a;
	void *p;

	for (a = 256ul << 20; a <= 1ul << 30; a <<= 1) {
		p = mmap((void *)a, PAGES * ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			 0);
		if (p != MAP_FAILED)
			return p;
	}
	SKIP("no free low window for the race");
	return NULL;
}

static void race(bool raw, const char *what)
{
	struct race r = { .raw = raw };
	struct worker w[3] = {
		{ &r, false, 0x9e3779b97f4a7c15ul },
		{ &r, false, 0xbf58476d1ce4e5b9ul },
		{ &r, true, 0x94d049bb133111ebul },
	};
	unsigned long rounds = harness_rounds(3000), i, done, s = 12345;
	struct harness_watchdog wd;
	pthread_t t[3];

	if (raw && asm_syscall3(SYS_getpid, 0, 0, 0) != getpid())
		SKIP("no raw system call instruction for this machine");
	r.win = map_window();
	r.dev = dm_open();
	harness_watchdog_start(&wd, 100, what);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_fn, &w[i]),
				 0);
	/*
	 * Past the rounds until a device command has run: on a loaded host
	 * the workers may not have been scheduled yet (the watchdog bounds
	 * it).
	 */
	for (done = 0; (done < rounds || !(__atomic_load_n(&r.ok, __ATOMIC_RELAXED) +
					  __atomic_load_n(&r.errors, __ATOMIC_RELAXED))) &&
		       !ld(&r.stolen); done++)
		mutate(&r, &s);
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	harness_watchdog_stop(&wd);
	print_message("%s: %lu rounds, %lu ok, %lu errors, %lu retries\n",
		      what, done, r.ok, r.errors, dm_stats(r.dev).retries);
	if (r.unexpected)
		fail_msg("%lu commands returned an unexpected error, the first "
			 "%d", r.unexpected, r.first_unexpected);
	assert_int_equal(r.stale, 0);
	/* A taken hole would have let the device write someone else's
	 * memory: the placement above no longer holds on this machine. */
	if (ld(&r.stolen))
		fail_msg("page %d of the window was taken by another mapping "
			 "while unmapped", ld(&r.stolen) - 1);
	assert_int_equal(r.wrong, 0);
	assert_true(r.ok > 0);
	uhmm_dmirror_close(r.dev);
	munmap(r.win, PAGES * ps);
}

static void race_captured(void **state)
{
	race(false, "race_captured");
}

static void race_raw_unmap(void **state)
{
	race(true, "race_raw_unmap");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(race_captured),
		cmocka_unit_test(race_raw_unmap),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
