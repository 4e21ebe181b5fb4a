/* SPDX-License-Identifier: MIT */
/*
 * test_dmirror_collide.c - the two places the device meets a change it
 * cannot wait for, made to happen deterministically with a userfaultfd
 * whose handler thread makes the change while a command is stopped on a
 * missing page:
 *
 *   - during the range fault (no device lock held): the round is thrown
 *     away and counted in stats.retries, the command still succeeds in one
 *     fault round with the right data;
 *   - during the copy (device lock held): a non-blockable invalidation is
 *     refused (-EAGAIN, the callback's trylock), rather than waiting for a
 *     lock whose holder waits for the handler.
 *
 * Needs userfaultfd with kernel-mode faults (root, or
 * vm.unprivileged_userfaultfd=1); skipped otherwise.
 */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include "dm_util.h"

#define N 8
#define FILL 0x5a

struct handler {
	int uffd, stop;
	pthread_t thread;
	char *page;			/* what missing pages are filled with */
	/* run once, at the first missing page, before it is filled */
	void (*action)(struct handler *h);
	int faults;			/* atomic: missing pages seen */
	int result;			/* action's result */
};

static int uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		return -1;
	}
	return fd;
}

static void fill_page(struct handler *h, unsigned long addr)
{
	struct uffdio_copy c = {
		.dst = addr & ~(ps - 1),
		.src = (uintptr_t)h->page,
		.len = ps,
	};

	if (ioctl(h->uffd, UFFDIO_COPY, &c) && errno != EEXIST)
		abort();	/* the faulting thread would wait forever */
}

static void *handler_fn(void *arg)
{
	struct handler *h = arg;
	struct pollfd pf[2] = { { .fd = h->uffd, .events = POLLIN },
				{ .fd = h->stop, .events = POLLIN } };
	struct uffd_msg msg;

	while (poll(pf, 2, -1) > 0 && !(pf[1].revents & POLLIN)) {
		if (read(h->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
		    msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		if (__atomic_fetch_add(&h->faults, 1, __ATOMIC_SEQ_CST) == 0 &&
		    h->action)
			h->action(h);
		fill_page(h, (unsigned long)msg.arg.pagefault.address);
	}
	return NULL;
}

/* Missing pages of [p, p + n pages) go to a handler running @action. */
static void handler_start(struct handler *h, char *p, unsigned long n,
			  void (*action)(struct handler *h))
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p, .len = n * ps },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	memset(h, 0, sizeof(*h));
	h->uffd = uffd_open();
	if (h->uffd < 0)
		SKIP("no userfaultfd for kernel-mode faults: %s",
		     strerror(errno));
	assert_int_equal(ioctl(h->uffd, UFFDIO_REGISTER, &reg), 0);
	h->stop = eventfd(0, EFD_CLOEXEC);
	assert_true(h->stop >= 0);
	h->page = anon(1);
	memset(h->page, FILL, ps);
	h->action = action;
	assert_int_equal(pthread_create(&h->thread, NULL, handler_fn, h), 0);
}

static void handler_stop(struct handler *h)
{
	uint64_t one = 1;

	assert_int_equal(write(h->stop, &one, sizeof(one)), sizeof(one));
	assert_int_equal(pthread_join(h->thread, NULL), 0);
	close(h->stop);
	close(h->uffd);
	munmap(h->page, ps);
}

/* ------------------------------------------------------------------ */

/* A change anywhere hits the device's whole-space subscription. */
static char *elsewhere;

static void change_elsewhere(struct handler *h)
{
	h->result = invalidate_unmap(uhmm_mm_current(), (uintptr_t)elsewhere,
				     (uintptr_t)elsewhere + ps,
				     UHMM_RANGE_BLOCKABLE);
}

static void retry_in_fault(void **state)
{
	struct harness_watchdog wd;
	struct uhmm_dmirror *dev;
	struct handler h;
	char *p = anon(N), *buf = malloc(N * ps);
	unsigned long i;

	assert_non_null(buf);
	elsewhere = anon(1);
	handler_start(&h, p, N, change_elsewhere);
	harness_watchdog_start(&wd, 60, "retry_in_fault");
	dev = dm_open();
	dm_expect(uhmm_dmirror_read, dev, p, buf, N, 1);
	harness_watchdog_stop(&wd);
	handler_stop(&h);
	assert_int_equal(h.result, 0);
	assert_true(ld(&h.faults) >= 1);
	/* The change came between read_begin and the commit. */
	assert_true(dm_stats(dev).retries >= 1);
	assert_int_equal(dm_stats(dev).faults, 1);
	for (i = 0; i < N * ps; i++)
		assert_int_equal(buf[i], FILL);
	uhmm_dmirror_close(dev);
	munmap(p, N * ps);
	munmap(elsewhere, ps);
	free(buf);
}

/* ------------------------------------------------------------------ */

static char *mirrored;

static void change_nonblocking(struct handler *h)
{
	h->result = invalidate_unmap(uhmm_mm_current(), (uintptr_t)mirrored,
				     (uintptr_t)mirrored + ps, 0);
}

static void nonblockable_refused_during_copy(void **state)
{
	struct harness_watchdog wd;
	struct uhmm_dmirror *dev = dm_open();
	struct handler h;
	char *dst = anon(N);
	uint64_t inv;

	mirrored = anon(N);
	fill_words(mirrored, N, 77);
	dm_expect(uhmm_dmirror_read, dev, mirrored, dst, N, 1);
	munmap(dst, N * ps);
	dst = anon(N);			/* missing again: the copy stops */
	handler_start(&h, dst, N, change_nonblocking);
	harness_watchdog_start(&wd, 60, "nonblockable_refused_during_copy");
	/* Counted from here: making threads changes memory too. */
	inv = dm_stats(dev).invalidations;
	dm_expect(uhmm_dmirror_read, dev, mirrored, dst, N, 0);
	/* Refused: nothing dropped, nothing counted. */
	assert_int_equal(dm_stats(dev).invalidations, inv);
	harness_watchdog_stop(&wd);
	handler_stop(&h);
	assert_int_equal(h.result, -EAGAIN);
	assert_int_equal(uhmm_dmirror_lookup(dev, (uintptr_t)mirrored, NULL),
			 UHMM_DMIRROR_PROT_WRITE);
	expect_words(dst, N, 77);
	uhmm_dmirror_close(dev);
	munmap(mirrored, N * ps);
	munmap(dst, N * ps);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(retry_in_fault),
		cmocka_unit_test(nonblockable_refused_during_copy),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
