/* SPDX-License-Identifier: MIT */
/*
 * cache.h - the registration cache's private state (include/uhmm/rcache.h
 * is the contract).  Built on uhmm's public API only.
 *
 * Files:
 *   cache.c          create, destroy, get (hit path), put, invalidate, stats
 *   cache_tlb.h      the hit path's per-thread lookaside of recent hits
 *   cache_hits.c     hit counting in per-thread shards
 *   cache_miss.c     get's miss path: merge, reserve, ->reg, publish
 *   cache_region.c   a region's life: kill, pending list, deregistration
 *   cache_index.c    the lock-free lookup structure (below)
 *   cache_lru.c      limits and clock eviction
 *   cache_reclaim.c  the background reclaimer thread
 *   cache_rcu.c      liburcu, flavour chosen as the core does
 *
 * Lock order: cache->lock is a leaf.  Nothing that can change memory or
 * call the backend runs under it: no malloc/free, no munmap, no ->reg or
 * ->dereg, no interval insert/remove/read_begin, no call_rcu.  The
 * interval callback takes it inside free() or munmap() of any thread, so
 * holding it across such a call would deadlock that thread on itself; the
 * lock is named with uhmm_interval_sub_set_owner_lock() so debug builds of
 * the core abort instead.
 *
 * A region's reference word (refs) holds the number of holders (low 32
 * bits), the region's generation (bits 32-62) and the RC_DEAD bit.  DEAD
 * is sticky for the generation and means "invalid": no new reference can
 * be taken (get's increment-if-not-dead), and whoever moves refs to
 * DEAD with no holder (the killer when nobody holds it, else the last put)
 * hands the region to the pending list, exactly once.
 *
 * Regions are type-stable: once deregistered and past a grace period a
 * region goes on the cache's free list (dead, same generation) and the
 * next miss reuses it with the generation moved on; the memory goes back to
 * malloc only at destroy.  A pointer to a region that a thread kept
 * without a reference (cache_tlb.h) therefore always points at a region of
 * the same cache, and an increment that compares the whole word takes a
 * reference only on the generation that pointer was kept for.
 *
 *   state    where                       refs
 *   NEW      c->inflight, not indexed    1 (the registering thread)
 *   LIVE     index + c->lru              n >= 0
 *   DEAD     nowhere (held), or pending  n | RC_DEAD
 *            or an eviction's list
 *   FREE     c->free_regions             RC_DEAD (generation kept)
 */
#ifndef UHMM_RCACHE_CACHE_H
#define UHMM_RCACHE_CACHE_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stddef.h>

#include <urcu/list.h>

#include <uhmm/interval.h>
#include <uhmm/mm.h>
#include <uhmm/rcache.h>

#define RC_DEAD		(1UL << 63)
#define RC_COUNT_MASK	0xffffffffUL		/* holders */
#define RC_GEN_ONE	(1UL << 32)
#define RC_GEN_MASK	(~RC_DEAD & ~RC_COUNT_MASK)	/* generation */

/* Holders of the generation in @refs. */
static inline unsigned long rc_holders(unsigned long refs)
{
	return refs & RC_COUNT_MASK;
}
#define RC_ACCESS_ALL	(UHMM_RCACHE_READ | UHMM_RCACHE_WRITE)

#define rc_container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

#define rc_likely(x)	__builtin_expect(!!(x), 1)
#define rc_unlikely(x)	__builtin_expect(!!(x), 0)

/* Die on an impossible failure or a broken contract; never allocates. */
void uhmm__rc_die(const char *where, const char *msg) __attribute__((noreturn));
#define RC_STR2(x) #x
#define RC_STR(x) RC_STR2(x)
#define RC_DIE(msg) uhmm__rc_die(__FILE__ ":" RC_STR(__LINE__), msg)
#define RC_CHECK(call)                                                  \
	do {                                                            \
		if (rc_unlikely((call) != 0))                           \
			RC_DIE(#call " failed");                        \
	} while (0)

/* ------------------------------------------------------------------ */
/* RCU (cache_rcu.c)                                                   */

struct rc_rcu_head {
	void *opaque[2];	/* liburcu's struct rcu_head */
};

/* Returned by read_lock, passed to read_unlock (see cache_rcu.c). */
typedef bool rc_rcu_token;

rc_rcu_token uhmm__rc_rcu_read_lock(void);
void uhmm__rc_rcu_read_unlock(rc_rcu_token t);
/* fn(head) after a grace period, in liburcu's call_rcu thread. */
void uhmm__rc_rcu_call(struct rc_rcu_head *head,
		       void (*fn)(struct rc_rcu_head *head));
/* First call of every uhmm__rc_rcu_call() callback. */
void uhmm__rc_rcu_callback_begin(void);

#define rc_rcu_assign(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define rc_rcu_deref(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)

/* ------------------------------------------------------------------ */
/* Regions                                                             */

enum rc_state {
	RC_NEW = 0,
	RC_LIVE,
	RC_GONE,
};

/*
 * One entry of the index: the region's presence in one chunk of its level.
 * @next is read locklessly (RCU); the rest is immutable once published,
 * @pprev is under the cache lock.
 */
struct rc_link {
	struct rc_link *next;
	struct rc_link **pprev;
	unsigned long chunk;
	unsigned int level;
	unsigned int idx;	/* which of its region's two entries */
};

struct rc_region {
	/* Type-stable: kept across reuse (everything below is reset). */
	unsigned long refs;		/* atomic: gen | holders | RC_DEAD */
	struct uhmm_rcache_region pub;	/* immutable once published */
	struct uhmm_interval_sub sub;
	struct uhmm_rcache *cache;	/* immutable */
	bool referenced;		/* atomic: clock bit, set by hits */
	unsigned int state;		/* under cache->lock */
	bool stale;			/* under cache->lock: invalidated
					 * by a call while NEW */
	unsigned int nlinks;		/* 1 or 2; immutable once indexed */
	struct rc_link link[2];		/* the index's entries */
	struct cds_list_head list;	/* under lock: c->lru or c->inflight */
	struct rc_region *next_dead;	/* pending stack, eviction list or
					 * free list */
	struct rc_rcu_head rcu;
};	/* line aligned: uhmm__rc_region_alloc */

static inline struct rc_region *rc_region_of(struct uhmm_rcache_region *p)
{
	return rc_container_of(p, struct rc_region, pub);
}

static inline unsigned long rc_len(const struct rc_region *r)
{
	return r->pub.end - r->pub.start;
}

/* ------------------------------------------------------------------ */
/* Index (cache_index.c)                                               */

#define RC_LEVELS 32

/*
 * A hashed multi-level grid.  Level i cuts the address space into chunks
 * of 2^shift[i] bytes (page size * 4^i); a region lives at the smallest
 * level whose chunk is at least its length, so it touches one or two
 * chunks there and is linked into one or two hash chains through the
 * rc_link entries embedded in it.
 */
struct rc_index {
	struct rc_link **buckets;	/* RCU: chain heads */
	unsigned int hash_shift;	/* 64 - log2(buckets) */
	unsigned int nlevels;
	unsigned char shift[RC_LEVELS];
	unsigned long occupied;		/* atomic: bit i: level i non-empty */
	unsigned long count[RC_LEVELS];	/* under lock: regions per level */
	unsigned long nr;		/* under lock: regions indexed */
};

int uhmm__rc_index_init(struct rc_index *ix, unsigned long page_size,
			size_t max_regions);
void uhmm__rc_index_fini(struct rc_index *ix);
void uhmm__rc_index_insert(struct rc_index *ix, struct rc_region *r);
void uhmm__rc_index_remove(struct rc_index *ix, struct rc_region *r);
/* In an RCU read-side section: a valid region covering [start, end) with
 * @access, referenced, or NULL. */
struct rc_region *uhmm__rc_index_find(struct rc_index *ix, unsigned long start,
				      unsigned long end, unsigned int access);

/* ------------------------------------------------------------------ */
/* The cache                                                           */

struct rc_stats {			/* all atomic */
	uint64_t misses, merges, invalidations, evictions;
	uint64_t registrations, deregistrations, reg_failures;
	uint64_t reg_bytes, dereg_bytes;
	uint64_t pending_regions, pending_bytes;
};

/*
 * Hits are counted in shards (cache_hits.c): one counter shared by every
 * thread hitting the cache would be a cache line bouncing between their
 * cores on the hit path, and even a private atomic add is a locked
 * instruction the hit path can do without.  A thread's first hit claims
 * a shard for the thread's life (the same index in every cache); while it
 * owns it, it counts with a plain load and store (atomic, but no locked
 * instruction: nobody else writes the shard).  Past RC_HIT_SHARDS threads
 * alive at once, the others share RC_HIT_SHARED more, round robin, with
 * atomic adds.
 */
#define RC_HIT_SHARDS	32
#define RC_HIT_SHARED	4
#define RC_SHARD_OWNED	0x100u		/* in uhmm__rc_hit_shard */

struct rc_hit_shard {
	uint64_t n;			/* atomic */
} __attribute__((aligned(64)));

/* This thread's shard + 1, | RC_SHARD_OWNED if it owns it; 0: none yet. */
extern __thread unsigned int uhmm__rc_hit_shard
	__attribute__((tls_model("initial-exec")));
/* Give this thread a shard; returns the new uhmm__rc_hit_shard. */
unsigned int uhmm__rc_hit_shard_claim(void);

struct uhmm_rcache {
	struct uhmm_rcache_params p;	/* immutable */
	uint64_t id;			/* immutable: unique in the process */
	struct rc_hit_shard hit_shard[RC_HIT_SHARDS + RC_HIT_SHARED];
	struct uhmm_mm *mm;		/* immutable; grabbed */
	unsigned long page_size;	/* immutable */
	pthread_mutex_t lock;
	struct rc_index index;		/* writers under lock */
	struct cds_list_head lru;	/* under lock: LIVE, clock order */
	struct cds_list_head inflight;	/* under lock: NEW regions */
	size_t used_regions;		/* under lock: not yet deregistered, */
	size_t used_bytes;		/* reservations of NEW ones included */
	struct rc_region *pending;	/* atomic: stack head */
	struct rc_stats st;
	/* Regions queued for their deferred free and freed (cache_region.c):
	 * destroy waits for the two to meet.  liburcu's rcu_barrier() would
	 * do, but it hands a heap object between threads in ways TSan cannot
	 * see; a count under a mutex says the same. */
	pthread_mutex_t frees_lock;
	pthread_cond_t frees_cond;	/* with frees_lock: frees_done moved */
	unsigned long frees_queued;	/* under frees_lock */
	unsigned long frees_done;	/* under frees_lock */
	struct rc_region *free_regions;	/* under frees_lock: for reuse */
	/* reclaimer (cache_reclaim.c) */
	bool has_reclaimer;		/* immutable */
	pthread_t reclaimer;
	sem_t kick_sem;
	bool kicked;			/* atomic */
	bool stopping;			/* atomic */
};

/* Count one hit (the hit path; no lock, no locked instruction). */
static inline void uhmm__rc_count_hit(struct uhmm_rcache *c)
{
	unsigned int s = uhmm__rc_hit_shard;
	uint64_t *n;

	if (rc_unlikely(!s))
		s = uhmm__rc_hit_shard_claim();
	n = &c->hit_shard[(s & ~RC_SHARD_OWNED) - 1].n;
	if (rc_likely(s & RC_SHARD_OWNED))
		__atomic_store_n(n, __atomic_load_n(n, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(n, 1, __ATOMIC_RELAXED);
}
/* Hits so far, every shard summed. */
uint64_t uhmm__rc_hits(struct uhmm_rcache *c);

#define rc_stat_add(c, f, v) \
	__atomic_add_fetch(&(c)->st.f, (v), __ATOMIC_RELAXED)
#define rc_stat_sub(c, f, v) \
	__atomic_sub_fetch(&(c)->st.f, (v), __ATOMIC_RELAXED)

static inline void rc_lock(struct uhmm_rcache *c)
{
	RC_CHECK(pthread_mutex_lock(&c->lock));
}

static inline void rc_unlock(struct uhmm_rcache *c)
{
	RC_CHECK(pthread_mutex_unlock(&c->lock));
}

/*
 * Increment-if-not-dead for generation @gen (refs & RC_GEN_MASK): the
 * compare covers the whole word, so a reference is taken only while the
 * region is that generation and not DEAD.  Success means the region was
 * valid at the moment of the increment: DEAD is set (under the cache
 * lock) before a region is unpublished for good.  The acquire pairs with
 * the release of the publishing store, for the holder's reads of pub.
 */
static inline bool rc_tryget_gen(struct rc_region *r, unsigned long gen)
{
	unsigned long old = __atomic_load_n(&r->refs, __ATOMIC_RELAXED);

	while ((old & ~RC_COUNT_MASK) == gen) {
		if (rc_unlikely(rc_holders(old) == RC_COUNT_MASK))
			RC_DIE("region reference count overflow");
		if (__atomic_compare_exchange_n(&r->refs, &old, old + 1, true,
						__ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	}
	return false;
}

/* The same for whatever generation @r is now (the index: under RCU, a
 * region found cannot be reused before the section ends). */
static inline bool rc_tryget(struct rc_region *r)
{
	return rc_tryget_gen(r, __atomic_load_n(&r->refs, __ATOMIC_RELAXED) &
				RC_GEN_MASK);
}

/* The clock bit: a hit sets it, eviction clears it. */
static inline void rc_mark_referenced(struct rc_region *r)
{
	if (!__atomic_load_n(&r->referenced, __ATOMIC_RELAXED))
		__atomic_store_n(&r->referenced, true, __ATOMIC_RELAXED);
}

/* cache_region.c */
extern const struct uhmm_interval_sub_ops uhmm__rc_sub_ops;
/* A NEW region with refs 1 (a reused one if any), or NULL. */
struct rc_region *uhmm__rc_region_alloc(struct uhmm_rcache *c);
/* Back to the free list: a region no lockless reader of the index can be
 * looking at (never published, or past a grace period). */
void uhmm__rc_region_recycle(struct uhmm_rcache *c, struct rc_region *r);
/* At destroy: the free list's memory back to malloc. */
void uhmm__rc_region_free_all(struct uhmm_rcache *c);
void uhmm__rc_publish_locked(struct uhmm_rcache *c, struct rc_region *r);
void uhmm__rc_kill_locked(struct uhmm_rcache *c, struct rc_region *r);
void uhmm__rc_pending_push(struct uhmm_rcache *c, struct rc_region *r);
void uhmm__rc_drain(struct uhmm_rcache *c);
void uhmm__rc_dereg_list(struct uhmm_rcache *c, struct rc_region *list);
/* Wait until every region of @c queued for its deferred free is freed. */
void uhmm__rc_wait_frees(struct uhmm_rcache *c);
bool uhmm__rc_mergeable(struct uhmm_rcache *c, const struct rc_region *old,
			unsigned long start, unsigned long end,
			unsigned int access);

/* cache_index.c: fn(c, r, arg) for each LIVE region overlapping
 * [start, end); fn may kill r (and only r). */
typedef void (*rc_visit_fn)(struct uhmm_rcache *c, struct rc_region *r,
			    void *arg);
void uhmm__rc_for_each_overlap(struct uhmm_rcache *c, unsigned long start,
			       unsigned long end, rc_visit_fn fn, void *arg);

/* cache_lru.c; RC_RETRY (positive): drain and try the miss again */
#define RC_RETRY 1
int uhmm__rc_reserve_locked(struct uhmm_rcache *c, unsigned long bytes,
			    struct rc_region **victims);
void uhmm__rc_unreserve_locked(struct uhmm_rcache *c, unsigned long bytes);

/* cache_miss.c */
int uhmm__rc_miss(struct uhmm_rcache *c, unsigned long addr,
		  unsigned long end, unsigned int access,
		  struct rc_region **out);

/* cache_reclaim.c */
int uhmm__rc_reclaimer_start(struct uhmm_rcache *c);
void uhmm__rc_reclaimer_stop(struct uhmm_rcache *c);
void uhmm__rc_reclaimer_kick(struct uhmm_rcache *c);

#endif /* UHMM_RCACHE_CACHE_H */
