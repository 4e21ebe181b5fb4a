/* SPDX-License-Identifier: MIT */
/*
 * test_capture_uffd.c - changes that bypass libc (a bare `syscall`
 * instruction) to subscribed memory are announced by the userfaultfd
 * mechanism, after the change (UHMM_RANGE_AFTER), with the right event and
 * range, and with the guarantee capture owes: once the system call has
 * returned, read_retry on a sequence taken before it is true.  Also: a range
 * the application's own userfaultfd holds falls back and is reported; page
 * faults never wait for the reader; UHMM_CAPTURE_UFFD=off turns it off.
 * The mechanism is on by default (test_capture_uffd_quiet.c checks that
 * changes made through libc send it no event).
 *
 * UHMM_TEST_LINK: interpose
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <semaphore.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "harness.h"
#include "uffd_util.h"
#include <uhmm/uhmm.h>

#define LOG_MAX 64

struct entry {
	unsigned long start, end;
	int event;
	unsigned int flags;
};

/* Static: a failed assertion leaves it inserted; RELEASE must find it. */
static struct rec {
	struct uhmm_interval_sub sub;
	int n;				/* atomic: entries logged */
	struct entry log[LOG_MAX];
	int block_once;			/* atomic: wait on `gate` once */
	sem_t entered, gate;
} rec;

static bool rec_invalidate(struct uhmm_interval_sub *sub,
			   const struct uhmm_notifier_range *r,
			   unsigned long cur_seq)
{
	int i;

	uhmm_interval_set_seq(sub, cur_seq);
	if (r->event == UHMM_EVENT_RELEASE)
		return true;
	i = __atomic_fetch_add(&rec.n, 1, __ATOMIC_SEQ_CST);
	if (i < LOG_MAX)
		rec.log[i] = (struct entry){ r->start, r->end, r->event,
					     r->flags };
	if (__atomic_exchange_n(&rec.block_once, 0, __ATOMIC_SEQ_CST)) {
		sem_post(&rec.entered);
		sem_wait(&rec.gate);
	}
	return true;
}

static const struct uhmm_interval_sub_ops rec_ops = {
	.invalidate = rec_invalidate,
};

static unsigned long ps(void)
{
	return uhmm_page_size();
}

static unsigned char *map_anon(size_t pages)
{
	unsigned char *p = mmap(NULL, pages * ps(), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	memset(p, 0x5a, pages * ps());
	return p;
}

static void watch(void *addr, size_t len)
{
	memset(&rec.log, 0, sizeof(rec.log));
	__atomic_store_n(&rec.n, 0, __ATOMIC_SEQ_CST);
	assert_int_equal(uhmm_interval_sub_insert(&rec.sub, uhmm_mm_current(),
						  (unsigned long)addr, len,
						  &rec_ops), 0);
}

/*
 * Wait for the reader's work on a change to be over: the wide invalidation
 * it began before the change's system call returned makes read_begin wait
 * until the precise announcements are made.  No timing involved.
 */
static void settle(void)
{
	(void)uhmm_interval_read_begin(&rec.sub);
}

/* Was [start, end) announced as @event, after the fact? */
static bool logged_after(int event, void *start, size_t len)
{
	int i, n = __atomic_load_n(&rec.n, __ATOMIC_SEQ_CST);

	for (i = 0; i < n && i < LOG_MAX; i++)
		if (rec.log[i].event == event &&
		    rec.log[i].start == (unsigned long)start &&
		    rec.log[i].end == (unsigned long)start + len &&
		    (rec.log[i].flags & UHMM_RANGE_AFTER))
			return true;
	return false;
}

static void raw_munmap_is_announced_after(void **state)
{
	unsigned char *p;
	unsigned long seq;

	need_uffd();
	p = map_anon(4);
	watch(p, 4 * ps());
	seq = uhmm_interval_read_begin(&rec.sub);
	assert_int_equal(asm_syscall(SYS_munmap, (long)(p + ps()),
				     (long)(2 * ps()), 0, 0, 0), 0);
	/* The guarantee: the call returned, the old translation is stale. */
	assert_true(uhmm_interval_read_retry(&rec.sub, seq));
	settle();
	assert_true(logged_after(UHMM_EVENT_UNMAP, p + ps(), 2 * ps()));
	assert_int_equal(uhmm_interval_sub_remove(&rec.sub), 0);
	/* Only what is left: the hole may hold someone else's mapping now. */
	munmap(p, ps());
	munmap(p + 3 * ps(), ps());
}

static void raw_madvise_dontneed_is_announced_after(void **state)
{
	unsigned char *p;
	unsigned long seq;

	need_uffd();
	p = map_anon(4);
	watch(p, 4 * ps());
	seq = uhmm_interval_read_begin(&rec.sub);
	assert_int_equal(asm_syscall(SYS_madvise, (long)p, (long)(2 * ps()),
				     MADV_DONTNEED, 0, 0), 0);
	assert_true(uhmm_interval_read_retry(&rec.sub, seq));
	settle();
	assert_true(logged_after(UHMM_EVENT_CLEAR, p, 2 * ps()));
	assert_int_equal(p[0], 0);	/* it really was discarded */
	assert_int_equal(p[2 * ps()], 0x5a);
	assert_int_equal(uhmm_interval_sub_remove(&rec.sub), 0);
	munmap(p, 4 * ps());
}

static void raw_mremap_move_is_announced_after(void **state)
{
	unsigned char *p, *to;
	unsigned long seq;
	long r;

	need_uffd();
	p = map_anon(2);
	to = map_anon(2);
	watch(p, 2 * ps());
	seq = uhmm_interval_read_begin(&rec.sub);
	r = asm_syscall(SYS_mremap, (long)p, (long)(2 * ps()), (long)(2 * ps()),
			MREMAP_MAYMOVE | MREMAP_FIXED, (long)to);
	assert_int_equal(r, (long)to);
	assert_true(uhmm_interval_read_retry(&rec.sub, seq));
	settle();
	assert_true(logged_after(UHMM_EVENT_UNMAP, p, 2 * ps()));
	assert_int_equal(to[0], 0x5a);	/* moved, contents kept */
	assert_int_equal(uhmm_interval_sub_remove(&rec.sub), 0);
	munmap(to, 2 * ps());
}

struct unmapper {
	void *addr;
	size_t len;
	long ret;
};

static void *unmap_thread(void *arg)
{
	struct unmapper *u = arg;

	u->ret = asm_syscall(SYS_munmap, (long)u->addr, (long)u->len, 0, 0, 0);
	return NULL;
}

/*
 * From another thread, with the reader held inside a callback: the
 * unmapping thread waits (the kernel holds it until its event is read),
 * but touching registered memory never does: no fault reaches the reader.
 */
static void faults_never_wait_for_the_reader(void **state)
{
	struct harness_watchdog w;
	struct unmapper u;
	unsigned char *p;
	pthread_t t;
	size_t i, pages = 256;
	unsigned long seq;

	need_uffd();
	p = mmap(NULL, (pages + 1) * ps(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);	/* not populated */
	assert_true(p != MAP_FAILED);
	sem_init(&rec.entered, 0, 0);
	sem_init(&rec.gate, 0, 0);
	watch(p, (pages + 1) * ps());
	seq = uhmm_interval_read_begin(&rec.sub);
	harness_watchdog_start(&w, 60, "faults while the reader is held");
	u = (struct unmapper){ p + pages * ps(), ps(), -1 };
	__atomic_store_n(&rec.block_once, 1, __ATOMIC_SEQ_CST);
	assert_int_equal(pthread_create(&t, NULL, unmap_thread, &u), 0);
	sem_wait(&rec.entered);		/* the reader is in our callback */
	/*
	 * Faults only: a madvise or munmap here would wait for its own event
	 * to be read, i.e. for the callback we hold.
	 */
	for (i = 0; i < pages / 2; i++)	/* read faults (zero page) */
		assert_int_equal(p[i * ps()], 0);
	for (i = 0; i < pages; i++)	/* write faults, also over zero page */
		p[i * ps()] = (unsigned char)i;
	for (i = 0; i < pages; i++)
		assert_int_equal(p[i * ps()], (unsigned char)i);
	sem_post(&rec.gate);
	assert_int_equal(pthread_join(t, NULL), 0);
	harness_watchdog_stop(&w);
	assert_int_equal(u.ret, 0);
	assert_true(uhmm_interval_read_retry(&rec.sub, seq));
	settle();
	assert_true(logged_after(UHMM_EVENT_UNMAP, p + pages * ps(), ps()));
	assert_int_equal(uhmm_interval_sub_remove(&rec.sub), 0);
	munmap(p, pages * ps());
}

static void insert_rec(void *addr)
{
	watch(addr, 2 * ps());
}

static void range_of_another_userfaultfd_falls_back(void **state)
{
	char msg[512];
	unsigned char *p;
	int fd;

	need_uffd();
	p = map_anon(2);	/* populated: no missing fault on it */
	fd = own_uffd(p, 2 * ps());
	capture_stderr(insert_rec, p, msg, sizeof(msg));
	assert_non_null(strstr(msg, "another userfaultfd"));
	/* Not ours: the raw unmap is not announced (and does not wait). */
	assert_int_equal(asm_syscall(SYS_munmap, (long)p, (long)ps(), 0, 0, 0),
			 0);
	settle();
	assert_false(logged_after(UHMM_EVENT_UNMAP, p, ps()));
	assert_int_equal(uhmm_interval_sub_remove(&rec.sub), 0);
	close(fd);
	munmap(p + ps(), ps());	/* the first page is gone already */
}

/* In a child (the setting is read once, when the mechanism starts). */
static void off_means_no_after_the_fact_events(void **state)
{
	int status;
	pid_t pid;

	need_uffd();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned char *p = map_anon(2);

		setenv("UHMM_CAPTURE_UFFD", "off", 1);
		watch(p, 2 * ps());
		if (asm_syscall(SYS_munmap, (long)p, (long)ps(), 0, 0, 0))
			_exit(2);
		settle();
		_exit(__atomic_load_n(&rec.n, __ATOMIC_SEQ_CST) ? 3 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The control: the same in this process (on by default) is seen. */
	raw_munmap_is_announced_after(state);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(raw_munmap_is_announced_after),
		cmocka_unit_test(raw_madvise_dontneed_is_announced_after),
		cmocka_unit_test(raw_mremap_move_is_announced_after),
		cmocka_unit_test(faults_never_wait_for_the_reader),
		cmocka_unit_test(range_of_another_userfaultfd_falls_back),
		cmocka_unit_test(off_means_no_after_the_fact_events),
	};

	return HARNESS_MAIN(tests);
}
