/* SPDX-License-Identifier: MIT */
/*
 * uhmm/invalidate.h - describing a change to the address space, and the entry
 * points that announce it to every subscription it hits.
 *
 * Whoever catches a change (the capture layer, or an application that knows
 * it is about to munmap) brackets it, exactly like the kernel's
 * invalidate_range_start / invalidate_range_end:
 *
 *     struct uhmm_notifier_range r;
 *
 *     uhmm_notifier_range_init(&r, UHMM_EVENT_UNMAP, UHMM_RANGE_BLOCKABLE,
 *                              mm, addr, addr + len);
 *     uhmm_invalidate_range_start(&r);   // before the pages can be reused
 *     munmap(addr, len);
 *     uhmm_invalidate_range_end(&r);
 *
 * Between start and end, uhmm_interval_read_begin() on a subscription the
 * range hit waits, so no translation of the old pages can be rebuilt.
 *
 * A change reported only after it happened (userfaultfd events, for example)
 * carries UHMM_RANGE_AFTER and is announced with uhmm_invalidate(), which is
 * start and end in one call.
 */
#ifndef UHMM_INVALIDATE_H
#define UHMM_INVALIDATE_H

#include <uhmm/common.h>

UHMM_BEGIN_DECLS

struct uhmm_mm;

/**
 * enum uhmm_event - why a range is being invalidated.
 * @UHMM_EVENT_UNMAP: the range is unmapped (munmap, mremap away, MAP_FIXED
 *	over it, heap shrink).
 * @UHMM_EVENT_CLEAR: its pages are discarded but the mapping stays
 *	(madvise DONTNEED / FREE / REMOVE).
 * @UHMM_EVENT_PROTECTION: access is being reduced (mprotect).
 * @UHMM_EVENT_RELEASE: the address space is being torn down.
 * @UHMM_EVENT_MIGRATE: pages are moving; @owner names who moves them, so a
 *	device can ignore its own migrations.
 * @UHMM_EVENT_EXCLUSIVE: a device takes exclusive access; @owner as above.
 */
enum uhmm_event {
	UHMM_EVENT_UNMAP = 0,
	UHMM_EVENT_CLEAR,
	UHMM_EVENT_PROTECTION,
	UHMM_EVENT_RELEASE,
	UHMM_EVENT_MIGRATE,
	UHMM_EVENT_EXCLUSIVE,
	UHMM_EVENT__COUNT
};

/* The callbacks may sleep; without it they must not block (return -EAGAIN /
 * false instead). */
#define UHMM_RANGE_BLOCKABLE	(1u << 0)
/* The change has already happened (reported by the kernel afterwards); without
 * it the change is about to happen and the old pages are still mapped. */
#define UHMM_RANGE_AFTER	(1u << 1)
#define UHMM_RANGE__ALL		(UHMM_RANGE_BLOCKABLE | UHMM_RANGE_AFTER)

/**
 * struct uhmm_notifier_range - one change, as the callbacks see it.
 * @mm: the address space (public).
 * @start: first byte of the change, page aligned by the entry points (public).
 * @end: one past the last byte, page aligned up (public).
 * @event: the kind of change (public).
 * @flags: UHMM_RANGE_* (public).
 * @owner: who makes a MIGRATE / EXCLUSIVE change, or NULL (public).
 *
 * Callbacks receive it const: it is read-only for them.
 */
struct uhmm_notifier_range {
	struct uhmm_mm *mm;
	unsigned long start;
	unsigned long end;
	enum uhmm_event event;
	unsigned int flags;
	void *owner;
};

/**
 * uhmm_notifier_range_init() - fill in a range.
 */
static inline void uhmm_notifier_range_init(struct uhmm_notifier_range *r,
					    enum uhmm_event event,
					    unsigned int flags,
					    struct uhmm_mm *mm,
					    unsigned long start,
					    unsigned long end)
{
	r->mm = mm;
	r->start = start;
	r->end = end;
	r->event = event;
	r->flags = flags;
	r->owner = NULL;
}

/**
 * uhmm_range_blockable() - may the callbacks for @r sleep?
 */
static inline bool uhmm_range_blockable(const struct uhmm_notifier_range *r)
{
	return (r->flags & UHMM_RANGE_BLOCKABLE) != 0;
}

/**
 * uhmm_invalidate_range_start() - a change to [start, end) is about to happen.
 * @range: the change; @range->mm must be held by the caller (users or count).
 *
 * Calls ->invalidate() of every interval subscription overlapping the range
 * (under the collision-retry protocol) and ->invalidate_range_start() of every
 * whole-space subscription.  @start is rounded down and @end up to pages
 * before anything is called; the callbacks see the rounded range.
 *
 * If the range is not blockable and a callback cannot proceed, everything
 * already started is ended again and -EAGAIN is returned: the caller must not
 * make the change, and must not call uhmm_invalidate_range_end().
 *
 * Context: any thread, also inside free() or a signal-free hook path: it never
 * allocates.  A range that overlaps none of the mm's interval subscriptions
 * takes no lock at all (one atomic increment; see docs/design.md).  Otherwise
 * it takes the mm's interval lock briefly (never across callbacks).  Holds a
 * read-side section across the whole-space callbacks.  Nested calls from
 * inside a callback are allowed.
 * Return: 0; -EAGAIN as above; -EINVAL for a NULL or empty/overflowing range
 * or unknown event/flags; -ESRCH if @range->mm is an inert handle inherited
 * over fork (nothing is called).
 */
UHMM_API UHMM_MUST_CHECK int
uhmm_invalidate_range_start(const struct uhmm_notifier_range *range);

/**
 * uhmm_invalidate_range_end() - the change announced by _start is done.
 * @range: the same range passed to a uhmm_invalidate_range_start() that
 *	returned 0.
 *
 * Calls ->invalidate_range_end() of the whole-space subscriptions; when the
 * last concurrent invalidation ends, the sequence becomes even again, deferred
 * interval inserts and removes are applied, and readers waiting in
 * uhmm_interval_read_begin() wake (only then is the interval lock taken).
 *
 * Context: as uhmm_invalidate_range_start().
 */
UHMM_API void uhmm_invalidate_range_end(const struct uhmm_notifier_range *range);

/**
 * uhmm_invalidate() - announce a change in one call (start, then end).
 * @range: the change.  For changes reported after they happened set
 *	UHMM_RANGE_AFTER.
 *
 * Context and Return: as uhmm_invalidate_range_start().
 */
UHMM_API UHMM_MUST_CHECK int uhmm_invalidate(const struct uhmm_notifier_range *range);

/**
 * uhmm_event_name() - a short name for @event ("unmap", "clear", ...).
 *
 * Return: a static string; "?" for an unknown value.
 */
UHMM_API const char *uhmm_event_name(enum uhmm_event event);

UHMM_END_DECLS

#endif /* UHMM_INVALIDATE_H */
