/* SPDX-License-Identifier: MIT */
/*
 * dispatch.c - announce one change to every live handle of the process,
 * before and after the call that makes it (contract in capture.h).
 *
 * The handles are snapshotted by uhmm__mm_grab_live(), which holds the
 * registry lock only while it copies, so no uhmm lock is held while the
 * callbacks run and a callback may itself unmap memory (a nested change:
 * the core supports nesting, so nothing here guards against recursion and
 * no event is ever dropped for being nested).
 */
#include <errno.h>
#include <unistd.h>

#include "../internal.h"
#include "capture.h"
#include "uffd.h"

static unsigned long missed;	/* atomic: handles not told, past the cap */

/*
 * The change this thread is making: set once its callbacks have run, reset
 * before its end callbacks run, so changes made BY callbacks are never
 * mistaken for the change itself.
 */
static __thread const struct uhmm__change *making;

static bool already_announced(const struct uhmm__span *s)
{
	const struct uhmm__change *m = making;

	return m && s->start >= m->span.start && s->end <= m->span.end;
}

unsigned long uhmm__capture_missed(void)
{
	return __atomic_load_n(&missed, __ATOMIC_RELAXED);
}

/* Once per process: say that the cap was hit, without allocating. */
static void warn_missed(void)
{
	static const char msg[] = "uhmm: capture: more than "
		UHMM__STR(UHMM__CAPTURE_MAX_MM)
		" live handles; the rest are not told of a change\n";
	static int warned;	/* atomic */

	__atomic_fetch_add(&missed, 1, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		return;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		return;	/* nowhere to report it */
}

/* Start @s on @mm; keep the range if it started, else drop the grab. */
static void begin_one(struct uhmm__change *c, struct uhmm_mm *mm,
		      const struct uhmm__span *s)
{
	struct uhmm_notifier_range *r = &c->range[c->n];

	uhmm_notifier_range_init(r, s->event, UHMM_RANGE_BLOCKABLE, mm,
				 s->start, s->end);
	/*
	 * -EAGAIN needs a non-blockable range.  Any other failure (inert
	 * handle, torn down since the snapshot) means nobody there is owed
	 * the change: the call itself goes ahead unchanged.
	 */
	if (uhmm_invalidate_range_start(r) == 0)
		c->n++;
	else
		uhmm_mm_drop(mm);	/* pairs with grab_live's grab */
}

void uhmm__change_begin(struct uhmm__change *c, const struct uhmm__span *s)
{
	struct uhmm_mm *mm[UHMM__CAPTURE_MAX_MM + 1];
	int saved, i, n;

	c->n = 0;
	c->making = false;
	c->quiet = false;
	c->unmapped = false;
	if (!s || already_announced(s))
		return;		/* nothing touched errno */
	saved = errno;
	/* One more than fits tells us whether any handle was left out. */
	n = uhmm__mm_grab_live(mm, UHMM__CAPTURE_MAX_MM + 1);
	if (n > UHMM__CAPTURE_MAX_MM) {
		uhmm_mm_drop(mm[--n]);	/* pairs with grab_live's grab */
		warn_missed();
	}
	for (i = 0; i < n; i++)
		begin_one(c, mm[i], s);
	/* Announced now: the call need not make a userfaultfd event too. */
	c->quiet = uhmm__uffd_quiet_begin(c->range, c->n, &c->uffd_gen);
	c->span = *s;
	c->outer = making;
	c->making = true;
	making = c;
	errno = saved;
}

void uhmm__change_end(struct uhmm__change *c)
{
	int saved, i;

	if (!c->making && !c->quiet && c->n == 0)
		return;		/* never begun: nothing to end */
	saved = errno;
	if (c->making) {
		making = c->outer;
		c->making = false;
	}
	if (c->quiet && c->unmapped) {
		/* Nothing left to register: remember the span as bare. */
		uhmm__uffd_quiet_unmapped(c->range, c->uffd_gen);
	} else if (c->quiet) {
		/* Registered again while the range is still open. */
		uhmm__uffd_quiet_end(c->range, c->n);
	}
	c->quiet = false;
	/* In reverse, as nested changes end. */
	for (i = c->n - 1; i >= 0; i--) {
		uhmm_invalidate_range_end(&c->range[i]);
		uhmm_mm_drop(c->range[i].mm);	/* pairs with grab_live */
	}
	c->n = 0;
	errno = saved;
}
