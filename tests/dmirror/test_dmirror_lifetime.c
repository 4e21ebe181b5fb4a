/* SPDX-License-Identifier: MIT */
/*
 * test_dmirror_lifetime.c - the device and the life of its address space:
 * teardown (the last users reference of a uhmm_mm_create()d handle, and
 * process exit) empties the table and every command after it fails with
 * -ESRCH while close still works; a device inherited over fork is inert in
 * the child, which can open its own; and bad commands are errors, never
 * crashes.
 */
#include <limits.h>

#include "dm_util.h"

#define N 4

static char buf[N * 4096];

/* Every command on @dev fails with -ESRCH and the device has no entry. */
static void expect_dead(struct uhmm_dmirror *dev, char *p)
{
	struct uhmm_dmirror_cmd cmd;

	assert_int_equal(dm_read(dev, p, buf, N, &cmd), -ESRCH);
	assert_int_equal(dm_write(dev, p, buf, N, &cmd), -ESRCH);
	assert_int_equal(dm_snap(dev, p, buf, N, &cmd), -ESRCH);
	expect_entries(dev, p, N, UHMM_DMIRROR_PROT_NONE);
}

static void teardown_created_mm(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct uhmm_dmirror *dev = NULL;
	char *p = anon(N);

	if (ps != 4096)
		SKIP("page size is not 4 KiB");
	assert_int_equal(uhmm_dmirror_open(mm, &dev), 0);
	fill_words(p, N, 1);
	dm_expect(uhmm_dmirror_read, dev, p, buf, N, 1);
	assert_int_equal(dm_stats(dev).entries, N);
	uhmm_mm_put(mm);	/* the last users reference: teardown */
	assert_int_equal(dm_stats(dev).entries, 0);
	assert_int_equal(dm_stats(dev).entries_dropped, N);
	expect_dead(dev, p);
	uhmm_dmirror_close(dev);	/* drops the last struct reference */
	munmap(p, N * ps);
}

static void open_torn_down(void **state)
{
	struct uhmm_mm *mm = mm_new();
	struct uhmm_dmirror *dev = NULL;

	uhmm_mm_grab(mm);
	uhmm_mm_put(mm);
	assert_int_equal(uhmm_dmirror_open(mm, &dev), -ESRCH);
	assert_null(dev);
	uhmm_mm_drop(mm);
}

/* ------------------------------------------------------------------ */
/* Process exit, in a child: exit() tears the process handle down; a   */
/* whole-space subscription's ->release() holds teardown until another */
/* thread has tried the device.                                        */

static struct {
	struct uhmm_notifier n;
	struct uhmm_dmirror *dev;
	char *p;
	int pipe_w;
	int released;		/* atomic */
	int done;		/* atomic */
} ex;

static void ex_release(struct uhmm_notifier *n, struct uhmm_mm *mm)
{
	int i;

	__atomic_store_n(&ex.released, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 10000 && !__atomic_load_n(&ex.done, __ATOMIC_SEQ_CST);
	     i++)
		usleep(1000);
}

static const struct uhmm_notifier_ops ex_ops = { .release = ex_release };

static void *ex_reader(void *arg)
{
	struct uhmm_dmirror_cmd cmd;
	char msg[64];
	int n;

	while (!__atomic_load_n(&ex.released, __ATOMIC_SEQ_CST))
		usleep(1000);
	n = snprintf(msg, sizeof(msg), "%d %d %d",
		     dm_read(ex.dev, ex.p, buf, N, &cmd),
		     dm_write(ex.dev, ex.p, buf, N, &cmd),
		     dm_snap(ex.dev, ex.p, buf, N, &cmd));
	if (write(ex.pipe_w, msg, (size_t)n) != n)
		_exit(3);
	__atomic_store_n(&ex.done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void ex_child(int pipe_w)
{
	struct uhmm_dmirror_cmd cmd;
	pthread_t t;

	ex.pipe_w = pipe_w;
	ex.p = mmap(NULL, N * ps, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ex.n.ops = &ex_ops;
	if (ex.p == MAP_FAILED || uhmm_dmirror_open(NULL, &ex.dev) ||
	    dm_read(ex.dev, ex.p, buf, N, &cmd) ||
	    uhmm_notifier_register(&ex.n, uhmm_mm_current()) ||
	    pthread_create(&t, NULL, ex_reader, NULL) || pthread_detach(t))
		_exit(2);
	exit(0);	/* teardown runs in the library's destructor */
}

static void process_exit(void **state)
{
	char got[64];
	int pfd[2];
	size_t n;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork_checked();
	if (pid == 0) {
		close(pfd[0]);
		ex_child(pfd[1]);
	}
	close(pfd[1]);
	n = read_bounded(pfd[0], got, sizeof(got) - 1, 30);
	got[n] = '\0';
	close(pfd[0]);
	expect_child_ok(pid);
	assert_string_equal(got, "-3 -3 -3");	/* -ESRCH thrice */
}

/* ------------------------------------------------------------------ */

static void fork_child_inert(void **state)
{
	struct uhmm_dmirror *dev = dm_open();
	char *p = anon(N);
	pid_t pid;

	fill_words(p, N, 1);
	dm_expect(uhmm_dmirror_read, dev, p, buf, N, 1);
	pid = fork_checked();
	if (pid == 0) {
		struct uhmm_dmirror *own = NULL;
		struct uhmm_dmirror_cmd cmd;

		/* cmocka cannot report from here: plain checks. */
		if (dm_read(dev, p, buf, N, &cmd) != -ESRCH ||
		    dm_write(dev, p, buf, N, &cmd) != -ESRCH ||
		    dm_snap(dev, p, buf, N, &cmd) != -ESRCH ||
		    uhmm_dmirror_lookup(dev, (uintptr_t)p, NULL) !=
		    UHMM_DMIRROR_PROT_NONE)
			_exit(1);
		if (uhmm_dmirror_open(NULL, &own) ||
		    dm_read(own, p, buf, N, &cmd) || cmd.cpages != N ||
		    cmd.faults != 1)
			_exit(2);
		uhmm_dmirror_close(own);
		uhmm_dmirror_close(dev);
		_exit(0);
	}
	expect_child_ok(pid);
	memset(buf, 0, sizeof(buf));
	dm_expect(uhmm_dmirror_read, dev, p, buf, N, 0);
	expect_words(buf, N, 1);
	uhmm_dmirror_close(dev);
	munmap(p, N * ps);
}

/* ------------------------------------------------------------------ */

static void bad_commands(void **state)
{
	struct uhmm_dmirror *dev = dm_open();
	struct uhmm_dmirror_cmd cmd;
	char *p = anon(N), *half = anon(2);
	char *ro = map(1, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	unsigned long top = ULONG_MAX & ~(ps - 1);

	memset(&cmd, 0, sizeof(cmd));
	assert_int_equal(uhmm_dmirror_read(NULL, &cmd), -EINVAL);
	assert_int_equal(uhmm_dmirror_read(dev, NULL), -EINVAL);
	assert_int_equal(uhmm_dmirror_write(dev, NULL), -EINVAL);
	assert_int_equal(uhmm_dmirror_snapshot(dev, NULL), -EINVAL);
	assert_int_equal(dm_read(dev, p + 1, buf, 1, &cmd), -EINVAL);
	assert_int_equal(dm_read(dev, p, buf, 0, &cmd), -EINVAL);
	assert_int_equal(dm_snap(dev, p, buf, 0, &cmd), -EINVAL);
	assert_int_equal(dm_read(dev, p, buf, ULONG_MAX, &cmd), -EINVAL);
	assert_int_equal(dm_read(dev, (void *)top, buf, 1, &cmd), -EINVAL);
	assert_int_equal(dm_write(dev, (void *)top, buf, 2, &cmd), -EINVAL);
	assert_int_equal(dm_snap(dev, (void *)(top - ps), buf, 3, &cmd),
			 -EINVAL);
	/* Bad buffers: NULL, unmapped, read-only for a read. */
	assert_int_equal(dm_read(dev, p, NULL, 1, &cmd), -EFAULT);
	assert_int_equal(dm_write(dev, p, NULL, 1, &cmd), -EFAULT);
	assert_int_equal(dm_snap(dev, p, NULL, 1, &cmd), -EFAULT);
	assert_int_equal(dm_read(dev, p, (void *)(uintptr_t)ps, N, &cmd),
			 -EFAULT);
	assert_int_equal(dm_read(dev, p, ro, 1, &cmd), -EFAULT);
	assert_int_equal(cmd.cpages, 0);
	/* A buffer read-only after one page: that page is copied. */
	assert_int_equal(mprotect(half + ps, ps, PROT_READ), 0);
	assert_int_equal(dm_read(dev, p, half, 2, &cmd), -EFAULT);
	assert_int_equal(cmd.cpages, 1);
	/* Above what the device maps: reads fault, snapshots see holes. */
	assert_int_equal(dm_read(dev, (void *)(1ul << 60), buf, 1, &cmd),
			 -EFAULT);
	assert_int_equal(uhmm_dmirror_lookup(dev, 1ul << 60, NULL),
			 UHMM_DMIRROR_PROT_NONE);
	assert_int_equal(dm_snap(dev, (void *)(1ul << 60), buf, 1, &cmd), 0);
	assert_int_equal((unsigned char)buf[0], UHMM_DMIRROR_PROT_ERROR);
	/* Nothing broke: the device still works. */
	dm_expect(uhmm_dmirror_write, dev, p, buf, N, 1);
	uhmm_dmirror_close(dev);
	uhmm_dmirror_close(NULL);
	munmap(p, N * ps);
	munmap(ro, ps);
	munmap(half, 2 * ps);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(teardown_created_mm),
		cmocka_unit_test(open_torn_down),
		cmocka_unit_test(process_exit),
		cmocka_unit_test(fork_child_inert),
		cmocka_unit_test(bad_commands),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
