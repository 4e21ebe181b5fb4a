/* SPDX-License-Identifier: MIT */
/*
 * pt.c - the device's page table (contract and locking in pt.h).
 *
 * Levels are numbered from the leaves: a leaf is level 0 and holds entries;
 * a node of level L > 0 holds links to nodes of level L - 1, indexed by
 * bits [L * DM_PT_BITS, (L + 1) * DM_PT_BITS) of the page index.  The root
 * is level DM_PT_LEVELS - 1.
 */
#include <errno.h>
#include <stdlib.h>

#include "pt.h"

_Static_assert(sizeof(uint64_t) == sizeof(void *),
	       "a leaf of entries is the size of a node of links");

static unsigned long slot_index(unsigned long idx, int level)
{
	return (idx >> (level * DM_PT_BITS)) & (DM_PT_FANOUT - 1);
}

/* Page indexes one slot of a level-@level node covers. */
static unsigned long slot_span(int level)
{
	return 1ul << (level * DM_PT_BITS);
}

static uint64_t *leaf_entries(struct dm_node *leaf)
{
	return (uint64_t *)leaf->slot;
}

static struct dm_node *link_load(struct dm_node *n, unsigned long i)
{
	return __atomic_load_n(&n->slot[i], __ATOMIC_ACQUIRE);
}

void dm_pt_init(struct dm_pt *pt, unsigned int shift)
{
	unsigned int i;

	for (i = 0; i < DM_PT_FANOUT; i++)
		pt->root.slot[i] = NULL;
	pt->shift = shift;
	pt->limit = 1ul << (shift + DM_PT_INDEX_BITS);
	pt->entries = 0;
}

/* The leaf holding page @idx, or NULL if it was never prepared. */
static struct dm_node *leaf_find(struct dm_pt *pt, unsigned long idx)
{
	struct dm_node *n = &pt->root;
	int level;

	for (level = DM_PT_LEVELS - 1; level > 0 && n; level--)
		n = link_load(n, slot_index(idx, level));
	return n;
}

/*
 * The child in slot @i of @n, made if missing.  Two threads may race to
 * make it: the compare-and-swap publishes one (release: its zeroed content
 * before the link, pairs with link_load()), the loser frees its own.
 */
static struct dm_node *child_make(struct dm_node *n, unsigned long i)
{
	struct dm_node *child = link_load(n, i), *fresh;

	if (child)
		return child;
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return NULL;
	if (__atomic_compare_exchange_n(&n->slot[i], (void **)&child, fresh,
					false, __ATOMIC_RELEASE,
					__ATOMIC_ACQUIRE))
		return fresh;
	free(fresh);
	return child;
}

static int leaf_make(struct dm_pt *pt, unsigned long idx)
{
	struct dm_node *n = &pt->root;
	int level;

	for (level = DM_PT_LEVELS - 1; level > 0; level--) {
		n = child_make(n, slot_index(idx, level));
		if (!n)
			return -ENOMEM;
	}
	return 0;
}

int dm_pt_prepare(struct dm_pt *pt, unsigned long start, unsigned long end)
{
	unsigned long idx = start >> pt->shift;
	unsigned long last = (end - 1) >> pt->shift;
	int ret;

	for (;;) {
		ret = leaf_make(pt, idx);
		if (ret)
			return ret;
		/* The first page of the next leaf. */
		idx = (idx | (DM_PT_FANOUT - 1)) + 1;
		if (idx > last)
			return 0;
	}
}

uint64_t dm_pt_get(struct dm_pt *pt, unsigned long addr)
{
	unsigned long idx = addr >> pt->shift;
	struct dm_node *leaf;

	if (addr >= pt->limit)
		return 0;
	leaf = leaf_find(pt, idx);
	return leaf ? leaf_entries(leaf)[slot_index(idx, 0)] : 0;
}

void dm_pt_set(struct dm_pt *pt, unsigned long addr, uint64_t entry)
{
	unsigned long idx = addr >> pt->shift;
	struct dm_node *leaf = leaf_find(pt, idx);
	uint64_t *e;

	/* dm_pt_prepare() made it, and nodes are never freed before close:
	 * a missing leaf is a broken invariant, not a failure to report. */
	if (!leaf)
		abort();
	e = &leaf_entries(leaf)[slot_index(idx, 0)];
	pt->entries += (entry != 0) - (*e != 0);
	*e = entry;
}

/* Zero the present entries of pages [first, last] of @leaf. */
static unsigned long leaf_clear(struct dm_node *leaf, unsigned long first,
				unsigned long last)
{
	uint64_t *e = leaf_entries(leaf);
	unsigned long i, n = 0;

	for (i = first; i <= last; i++) {
		n += e[i] != 0;
		e[i] = 0;
	}
	return n;
}

/*
 * Clear pages [first, last] (indexes relative to @node's first page) of a
 * level-@level node, visiting only the children that exist.
 */
static unsigned long node_clear(struct dm_node *node, int level,
				unsigned long first, unsigned long last)
{
	unsigned long span = slot_span(level), i, n = 0;
	unsigned long lo, hi, base;
	struct dm_node *child;

	if (level == 0)
		return leaf_clear(node, first, last);
	for (i = first / span; i <= last / span; i++) {
		child = link_load(node, i);
		if (!child)
			continue;
		base = i * span;
		lo = first > base ? first - base : 0;
		hi = last < base + span - 1 ? last - base : span - 1;
		n += node_clear(child, level - 1, lo, hi);
	}
	return n;
}

unsigned long dm_pt_clear(struct dm_pt *pt, unsigned long start,
			  unsigned long end)
{
	unsigned long n;

	if (end > pt->limit)
		end = pt->limit;
	if (start >= end)
		return 0;
	n = node_clear(&pt->root, DM_PT_LEVELS - 1, start >> pt->shift,
		       (end - 1) >> pt->shift);
	pt->entries -= n;
	return n;
}

static void node_free(struct dm_node *node, int level)
{
	unsigned long i;

	if (level > 0)
		for (i = 0; i < DM_PT_FANOUT; i++)
			if (node->slot[i])
				node_free(node->slot[i], level - 1);
	free(node);
}

void dm_pt_destroy(struct dm_pt *pt)
{
	unsigned long i;

	for (i = 0; i < DM_PT_FANOUT; i++) {
		if (pt->root.slot[i])
			node_free(pt->root.slot[i], DM_PT_LEVELS - 2);
		pt->root.slot[i] = NULL;
	}
	pt->entries = 0;
}
