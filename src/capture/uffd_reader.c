/* SPDX-License-Identifier: MIT */
/*
 * uffd_reader.c - the userfaultfd reader thread (contract in uffd.h).
 *
 * The kernel makes the thread that unmaps, moves or discards registered
 * memory wait until its event has been read.  The reader turns that wait
 * into the guarantee capture owes for a change it sees only afterwards:
 *
 *     once the system call has returned in any thread, no read_retry can
 *     succeed on a translation made before it.
 *
 * When poll() says an event is pending, and before read() lets the waiting
 * thread go, the reader starts one invalidation (UHMM_RANGE_AFTER |
 * UHMM_RANGE_BLOCKABLE) over the hull of every registered range on every
 * live handle.  Every subscription over registered memory gets its new
 * sequence now, before the system call can return, so a read_retry on a
 * sequence taken before the call fails; and until the wide invalidation
 * ends, read_begin on such a subscription waits.  Then read() (which
 * releases the waiting threads), each event announced precisely (UNMAP,
 * CLEAR), and only then the wide invalidation ends.
 *
 * The reader never waits for anything but poll() and the callbacks it
 * runs: it takes no lock that is held across a system call that could
 * wait for it.  It never allocates.
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "../internal.h"
#include "../os/linux/uffd.h"
#include "capture.h"
#include "uffd.h"

#define BATCH 16

struct batch {
	int n;			/* handles started */
	struct uhmm_notifier_range wide[UHMM__CAPTURE_MAX_MM];
};

/* Start the wide invalidation on every live handle. */
static void wide_begin(struct batch *b)
{
	struct uhmm_mm *mm[UHMM__CAPTURE_MAX_MM];
	unsigned long lo = __atomic_load_n(&uhmm__uffd_hull.lo,
					   __ATOMIC_ACQUIRE);
	unsigned long hi = __atomic_load_n(&uhmm__uffd_hull.hi,
					   __ATOMIC_ACQUIRE);
	const unsigned int flags = UHMM_RANGE_AFTER | UHMM_RANGE_BLOCKABLE;
	int i, n;

	b->n = 0;
	if (lo >= hi)
		return;	/* nothing registered yet: nobody to tell */
	n = uhmm__mm_grab_live(mm, UHMM__CAPTURE_MAX_MM);
	for (i = 0; i < n; i++) {
		struct uhmm_notifier_range *r = &b->wide[b->n];

		uhmm_notifier_range_init(r, UHMM_EVENT_UNMAP, flags, mm[i],
					 lo, hi);
		if (uhmm_invalidate_range_start(r) == 0)
			b->n++;
		else
			uhmm_mm_drop(mm[i]);	/* inert or torn down */
	}
}

static void wide_end(struct batch *b)
{
	int i;

	for (i = b->n - 1; i >= 0; i--) {
		uhmm_invalidate_range_end(&b->wide[i]);
		uhmm_mm_drop(b->wide[i].mm);	/* pairs with grab_live */
	}
	b->n = 0;
}

/* Tell every started handle that [start, end) changed with @event. */
static void announce(struct batch *b, enum uhmm_event event,
		     unsigned long start, unsigned long end)
{
	struct uhmm_notifier_range r;
	int i;

	for (i = 0; i < b->n && start < end; i++) {
		uhmm_notifier_range_init(&r, event, UHMM_RANGE_AFTER |
					 UHMM_RANGE_BLOCKABLE, b->wide[i].mm,
					 start, end);
		if (uhmm_invalidate(&r))
			continue;	/* cannot fail: blockable, started */
	}
}

static void handle(struct batch *b, const struct uhmm__uffd_event *e)
{
	switch (e->kind) {
	case UHMM__UFFD_UNMAP:
		announce(b, UHMM_EVENT_UNMAP, e->start, e->end);
		break;
	case UHMM__UFFD_REMOVE:
		announce(b, UHMM_EVENT_CLEAR, e->start, e->end);
		break;
	case UHMM__UFFD_REMAP:
		/*
		 * The kernel keeps the moved range registered (we asked for
		 * REMAP events): widen the hull so its events stay covered.
		 */
		uhmm__uffd_hull_add(e->to, e->to + (e->end - e->start));
		uhmm__uffd_registered_more();
		announce(b, UHMM_EVENT_UNMAP, e->start, e->end);
		break;
	case UHMM__UFFD_WP_FAULT:
		/* We protect nothing; never leave a faulting thread waiting. */
		uhmm__os_uffd_unprotect(uhmm__uffd_fd(),
					e->start & -uhmm_page_size(),
					uhmm_page_size());
		break;
	default:
		break;
	}
}

/* One readable poll(): invalidate wide, read (release), announce, end. */
static void handle_pending(int fd)
{
	struct uhmm__uffd_event ev[BATCH];
	static struct batch b;	/* only the reader thread uses it */
	int i, n;

	wide_begin(&b);
	do {
		n = uhmm__os_uffd_read(fd, ev, BATCH);
		for (i = 0; i < n; i++)
			handle(&b, &ev[i]);
	} while (n == BATCH);
	wide_end(&b);
}

void *uhmm__uffd_reader(void *arg)
{
	struct pollfd p[2] = {
		{ .fd = uhmm__uffd_fd(), .events = POLLIN },
		{ .fd = uhmm__uffd_stop_fd(), .events = POLLIN },
	};

	(void)arg;
	for (;;) {
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			handle_pending(p[0].fd);
		else if (p[0].revents)
			break;	/* POLLERR/POLLHUP: the fd is gone */
	}
	/* Unregisters everything and releases any thread still waiting. */
	close(p[0].fd);
	__atomic_store_n(&uhmm__uffd_reader_done, 1, __ATOMIC_RELEASE);
	for (;;)
		pause();	/* until the process ends (uffd.h) */
	return NULL;
}
