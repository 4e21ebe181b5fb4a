/* SPDX-License-Identifier: MIT */
/*
 * invalidate.c - the entry points that announce a change to every
 * subscription it hits: intervals first, then whole-space subscriptions, as
 * the kernel's __mmu_notifier_invalidate_range_start() does.
 */
#include <limits.h>

#include "internal.h"

/* Validate and page-align @in into @out. */
static int prepare(const struct uhmm_notifier_range *in,
		   struct uhmm_notifier_range *out)
{
	unsigned long mask = uhmm__os_page_size() - 1;

	if (!in || !in->mm || in->start >= in->end ||
	    (unsigned int)in->event >= UHMM_EVENT__COUNT ||
	    (in->flags & ~UHMM_RANGE__ALL))
		return -EINVAL;
	if (in->end > ULONG_MAX - mask)
		return -EINVAL;
	*out = *in;
	out->start = in->start & ~mask;
	out->end = (in->end + mask) & ~mask;
	if (uhmm__mm_inert(in->mm))
		return -ESRCH;
	return 0;
}

int uhmm_invalidate_range_start(const struct uhmm_notifier_range *range)
{
	struct uhmm_notifier_range r;
	bool hit;
	int ret = prepare(range, &r);

	if (ret)
		return ret;
	ret = uhmm__interval_invalidate_start(&r, &hit);
	if (ret)
		return ret;
	ret = uhmm__notifier_invalidate_start(&r);
	if (ret)
		uhmm__interval_invalidate_end(r.mm);
	return ret;
}

void uhmm_invalidate_range_end(const struct uhmm_notifier_range *range)
{
	struct uhmm_notifier_range r;

	if (prepare(range, &r))
		return;
	uhmm__interval_invalidate_end(r.mm);
	uhmm__notifier_invalidate_end(&r);
}

int uhmm_invalidate(const struct uhmm_notifier_range *range)
{
	int ret = uhmm_invalidate_range_start(range);

	if (ret)
		return ret;
	uhmm_invalidate_range_end(range);
	return 0;
}

static const char *const event_names[UHMM_EVENT__COUNT] = {
	[UHMM_EVENT_UNMAP] = "unmap",
	[UHMM_EVENT_CLEAR] = "clear",
	[UHMM_EVENT_PROTECTION] = "protection",
	[UHMM_EVENT_RELEASE] = "release",
	[UHMM_EVENT_MIGRATE] = "migrate",
	[UHMM_EVENT_EXCLUSIVE] = "exclusive",
};

const char *uhmm_event_name(enum uhmm_event event)
{
	if ((unsigned int)event >= UHMM_EVENT__COUNT)
		return "?";
	return event_names[event];
}
