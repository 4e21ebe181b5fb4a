/* SPDX-License-Identifier: MIT */
/*
 * demo_slots.c - the slot table, the pin protocol (demo.h says why it cannot
 * deadlock) and the content patterns every check compares against.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "demo.h"

struct demo demo;

static void die_on(int err, const char *what)
{
	if (err) {
		fprintf(stderr, "uhmm demo: %s failed: %s\n", what,
			strerror(err));
		abort();
	}
}

static void slot_lock(struct demo_slot *s)
{
	die_on(pthread_mutex_lock(&s->lock), "pthread_mutex_lock");
}

static void slot_unlock(struct demo_slot *s)
{
	die_on(pthread_mutex_unlock(&s->lock), "pthread_mutex_unlock");
}

/**
 * demo_slots_init() - allocate the slot table and the reuse lock.
 *
 * Return: 0 or -ENOMEM.
 */
int demo_slots_init(void)
{
	pthread_rwlockattr_t attr;
	unsigned int i;

	demo.nr_slots = demo.cfg.threads * demo.cfg.slots_per_thread;
	demo.slots = calloc(demo.nr_slots, sizeof(*demo.slots));
	if (!demo.slots)
		return -ENOMEM;
	for (i = 0; i < demo.nr_slots; i++) {
		die_on(pthread_mutex_init(&demo.slots[i].lock, NULL), "mutex");
		die_on(pthread_cond_init(&demo.slots[i].drained, NULL),
		       "cond");
		demo.slots[i].index = i;
	}
	/* A change that gives memory back must not wait behind a stream
	 * of allocations. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	die_on(pthread_rwlock_init(&demo.reuse_lock, &attr), "rwlock");
	pthread_rwlockattr_destroy(&attr);
	return 0;
}

void demo_slots_free(void)
{
	unsigned int i;

	for (i = 0; i < demo.nr_slots; i++) {
		pthread_mutex_destroy(&demo.slots[i].lock);
		pthread_cond_destroy(&demo.slots[i].drained);
	}
	pthread_rwlock_destroy(&demo.reuse_lock);
	free(demo.slots);
	demo.slots = NULL;
}

/**
 * demo_pin() - try to pin a live slot against changes.
 * @s: the slot.
 * @write: an exclusive pin (the device will write), else a shared one.
 * @rec: out: the record, stable while the pin is held (but for the seed a
 *	WRITE pin holder changes itself).
 *
 * Context: device threads.  Never waits for the slot.
 * Return: true if pinned: pair with demo_unpin().
 */
bool demo_pin(struct demo_slot *s, bool write, struct demo_record *rec)
{
	bool ok;

	slot_lock(s);
	ok = s->state == SLOT_LIVE && !s->writer && (!write || !s->readers);
	if (ok) {
		if (write)
			s->writer = true;
		else
			s->readers++;
		*rec = s->rec;
	}
	slot_unlock(s);
	return ok;
}

/**
 * demo_unpin() - drop a pin taken by demo_pin().
 * @s: the slot.
 * @write: as pinned.
 * @rec: for a WRITE pin, the record with the content the device left.
 *
 * Wakes the workload thread waiting in demo_change_begin() for the last pin.
 */
void demo_unpin(struct demo_slot *s, bool write, const struct demo_record *rec)
{
	slot_lock(s);
	if (write) {
		s->rec.seed = rec->seed;
		s->rec.unknown = rec->unknown;
		s->rec.cows = rec->cows;
		s->writer = false;
	} else {
		s->readers--;
	}
	if (s->state == SLOT_BUSY && !s->readers && !s->writer)
		die_on(pthread_cond_broadcast(&s->drained), "cond_broadcast");
	slot_unlock(s);
}

/**
 * demo_change_begin() - take a live slot for a change: no new pins, and wait
 * until the pins held drain.
 * @s: a live slot of the calling workload thread.
 * @rec: out: its record.
 *
 * Context: workload thread, holding no lock (pin holders may need the device
 * lock, which a callback of ours could be waiting for otherwise).
 */
void demo_change_begin(struct demo_slot *s, struct demo_record *rec)
{
	slot_lock(s);
	s->state = SLOT_BUSY;
	while (s->readers || s->writer)
		die_on(pthread_cond_wait(&s->drained, &s->lock), "cond_wait");
	*rec = s->rec;
	slot_unlock(s);
}

/**
 * demo_change_end() - publish the slot's record after a change, or mark it
 * empty when @rec->addr is NULL.
 */
void demo_change_end(struct demo_slot *s, const struct demo_record *rec)
{
	slot_lock(s);
	s->rec = *rec;
	s->state = rec->addr ? SLOT_LIVE : SLOT_EMPTY;
	slot_unlock(s);
}

/**
 * demo_publish() - make a new incarnation live: what the devices saw of the
 * previous one no longer applies.
 */
void demo_publish(struct demo_slot *s, const struct demo_record *rec)
{
	slot_lock(s);
	memset(s->seen, 0, sizeof(s->seen));
	s->rec = *rec;
	s->state = SLOT_LIVE;
	slot_unlock(s);
}

bool demo_stopping(void)
{
	return __atomic_load_n(&demo.stop, __ATOMIC_ACQUIRE);
}

size_t demo_page(void)
{
	static size_t page;

	if (!__atomic_load_n(&page, __ATOMIC_RELAXED))
		__atomic_store_n(&page, uhmm_page_size(), __ATOMIC_RELAXED);
	return __atomic_load_n(&page, __ATOMIC_RELAXED);
}

/* splitmix64's finaliser: every input bit reaches every output bit. */
uint64_t demo_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* xorshift64*: a thread's own generator; @state is never 0. */
uint64_t demo_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t word(uint64_t seed, size_t i)
{
	return seed ? demo_mix(seed + i * 0x9e3779b97f4a7c15ULL) : 0;
}

/**
 * demo_fill() - write the content of @seed: word i is a mix of (seed, i), so
 * a page copied to the wrong place, or an old content, never matches.
 */
void demo_fill(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / sizeof(*w); i++)
		w[i] = word(seed, i);
}

/**
 * demo_compare() - compare @len bytes at @p with the content of @seed.
 * Return: -1 if equal, else the offset of the first differing word.
 */
long demo_compare(const void *p, size_t len, uint64_t seed)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / sizeof(*w); i++)
		if (w[i] != word(seed, i))
			return (long)(i * sizeof(*w));
	return -1;
}
