/* SPDX-License-Identifier: MIT */
/*
 * ofi_ranges.c - the subscribed-range table of the libfabric bridge (the
 * protocol is at ofi_ranges.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "ofi_ranges.h"

#define LIVE(state)	(((state) & 1) != 0)

int ranges_init(struct range_table *t, size_t cap)
{
	t->slot = calloc(cap, sizeof(*t->slot));
	if (!t->slot)
		return -ENOMEM;
	t->cap = cap;
	t->used = 0;
	t->live = 0;
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void ranges_fini(struct range_table *t)
{
	pthread_mutex_destroy(&t->lock);
	free(t->slot);
	t->slot = NULL;
}

static unsigned long load_state(const struct range_slot *s)
{
	return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

static bool same(const struct range_slot *s, unsigned long start,
		 unsigned long end)
{
	return __atomic_load_n(&s->start, __ATOMIC_RELAXED) == start &&
	       __atomic_load_n(&s->end, __ATOMIC_RELAXED) == end;
}

/* Take live slot @s with state @state out; false if a scan took it. */
static bool drop(struct range_table *t, struct range_slot *s,
		 unsigned long state)
{
	if (!__atomic_compare_exchange_n(&s->state, &state, state + 1, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return false;
	__atomic_sub_fetch(&t->live, 1, __ATOMIC_RELAXED);
	return true;
}

/* Under the lock: a free slot, raising ->used if none below it is. */
static struct range_slot *free_slot(struct range_table *t)
{
	size_t i, used = __atomic_load_n(&t->used, __ATOMIC_RELAXED);

	for (i = 0; i < used; i++)
		if (!LIVE(load_state(&t->slot[i])))
			return &t->slot[i];
	if (used == t->cap)
		return NULL;
	/* Release: a scan that sees the new ->used sees a valid slot. */
	__atomic_store_n(&t->used, used + 1, __ATOMIC_RELEASE);
	return &t->slot[used];
}

/* Under the lock: the live slot holding exactly [start, end), or NULL. */
static struct range_slot *find(struct range_table *t, unsigned long start,
			       unsigned long end, unsigned long *state)
{
	size_t i, used = __atomic_load_n(&t->used, __ATOMIC_RELAXED);

	for (i = 0; i < used; i++) {
		*state = load_state(&t->slot[i]);
		if (LIVE(*state) && same(&t->slot[i], start, end))
			return &t->slot[i];
	}
	return NULL;
}

static void fill(struct range_table *t, struct range_slot *s,
		 unsigned long start, unsigned long end)
{
	unsigned long state = load_state(s);	/* even: only we write it */

	__atomic_store_n(&s->start, start, __ATOMIC_RELAXED);
	__atomic_store_n(&s->end, end, __ATOMIC_RELAXED);
	s->refs = 1;
	__atomic_add_fetch(&t->live, 1, __ATOMIC_RELAXED);
	/* Pairs with the acquire in ranges_drop_overlapping(). */
	__atomic_store_n(&s->state, state + 1, __ATOMIC_RELEASE);
}

int ranges_add(struct range_table *t, unsigned long start, unsigned long end)
{
	struct range_slot *s;
	unsigned long state;
	int ret = 0;

	pthread_mutex_lock(&t->lock);
	s = find(t, start, end, &state);
	if (s)
		s->refs++;	/* a racing scan may drop it: it notifies */
	else if ((s = free_slot(t)))
		fill(t, s, start, end);
	else
		ret = -ENOSPC;
	pthread_mutex_unlock(&t->lock);
	return ret;
}

void ranges_del(struct range_table *t, unsigned long start, unsigned long end)
{
	struct range_slot *s;
	unsigned long state;

	pthread_mutex_lock(&t->lock);
	s = find(t, start, end, &state);
	if (s && --s->refs == 0)
		drop(t, s, state);
	pthread_mutex_unlock(&t->lock);
}

void ranges_reset(struct range_table *t)
{
	size_t i, used;
	unsigned long state;

	pthread_mutex_lock(&t->lock);
	used = __atomic_load_n(&t->used, __ATOMIC_RELAXED);
	for (i = 0; i < used; i++) {
		state = load_state(&t->slot[i]);
		if (LIVE(state))
			drop(t, &t->slot[i], state);
	}
	pthread_mutex_unlock(&t->lock);
}

static bool overlaps(const struct range_slot *s, unsigned long start,
		     unsigned long end)
{
	return __atomic_load_n(&s->start, __ATOMIC_RELAXED) < end &&
	       __atomic_load_n(&s->end, __ATOMIC_RELAXED) > start;
}

bool ranges_any_overlapping(struct range_table *t, unsigned long start,
			    unsigned long end)
{
	size_t i, used;

	if (!__atomic_load_n(&t->live, __ATOMIC_ACQUIRE))
		return false;
	used = __atomic_load_n(&t->used, __ATOMIC_ACQUIRE);
	for (i = 0; i < used; i++)
		if (LIVE(load_state(&t->slot[i])) &&
		    overlaps(&t->slot[i], start, end))
			return true;
	return false;
}

bool ranges_drop_overlapping(struct range_table *t, unsigned long start,
			     unsigned long end)
{
	size_t i, used;
	unsigned long state;
	bool any = false;

	if (!__atomic_load_n(&t->live, __ATOMIC_ACQUIRE))
		return false;
	used = __atomic_load_n(&t->used, __ATOMIC_ACQUIRE);
	for (i = 0; i < used; i++) {
		state = load_state(&t->slot[i]);
		if (LIVE(state) && overlaps(&t->slot[i], start, end) &&
		    drop(t, &t->slot[i], state))
			any = true;
	}
	return any;
}
