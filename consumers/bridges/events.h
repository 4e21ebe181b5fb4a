/* SPDX-License-Identifier: MIT */
/*
 * events.h - which uhmm events the bridges pass on (private to bridges/).
 *
 * UCM's and libfabric's caches hold pinned registrations: the device keeps
 * the pages it pinned, whatever the CPU mapping becomes.  What they must
 * hear is "the old pages of this range may be reused", so that a later
 * lookup does not hand out a registration of pages the range no longer
 * maps.  A change that keeps the same pages (a protection drop, exclusive
 * device access) does not make a registration stale, and teardown of a
 * uhmm handle unmaps nothing.
 */
#ifndef UHMM_BRIDGES_EVENTS_H
#define UHMM_BRIDGES_EVENTS_H

#include <uhmm/invalidate.h>

static inline bool bridge_event_reuses_pages(enum uhmm_event event)
{
	switch (event) {
	case UHMM_EVENT_UNMAP:		/* munmap, mremap away, brk */
	case UHMM_EVENT_CLEAR:		/* discarded: new pages next */
	case UHMM_EVENT_MIGRATE:	/* pages replaced by others */
		return true;
	default:			/* PROTECTION, EXCLUSIVE, RELEASE */
		return false;
	}
}

#endif /* UHMM_BRIDGES_EVENTS_H */
