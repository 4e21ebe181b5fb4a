/* SPDX-License-Identifier: MIT */
/*
 * itree.c - interval tree: an AVL tree ordered by (start, node address),
 * each node augmented with the largest 'last' in its subtree, so an overlap
 * query visits O(log n + k) nodes.
 *
 * Why not a library: liburcu 0.13 has no tree, and the augmented trees in
 * Debian's C libraries (BSD tree.h, GLib's GTree) cannot carry the subtree
 * maximum through their rotations.  The structure is ~150 lines and tested
 * against a brute-force model in tests/test_itree.c.
 *
 * Concurrency: none here.  The caller (interval.c) serialises writers with
 * mm->itree_lock and guarantees no writer runs while readers walk.
 */
#include "internal.h"

typedef struct uhmm_interval_sub node_t;

static int height(const node_t *n)
{
	return n ? n->it_height : 0;
}

static unsigned long sub_last(const node_t *n)
{
	return n ? n->it_subtree_last : 0;
}

static void update(node_t *n)
{
	unsigned long m = n->it_last;
	int hl = height(n->it_left), hr = height(n->it_right);

	if (n->it_left && sub_last(n->it_left) > m)
		m = sub_last(n->it_left);
	if (n->it_right && sub_last(n->it_right) > m)
		m = sub_last(n->it_right);
	n->it_subtree_last = m;
	n->it_height = 1 + (hl > hr ? hl : hr);
}

static node_t *rotate_right(node_t *n)
{
	node_t *l = n->it_left;

	n->it_left = l->it_right;
	l->it_right = n;
	update(n);
	update(l);
	return l;
}

static node_t *rotate_left(node_t *n)
{
	node_t *r = n->it_right;

	n->it_right = r->it_left;
	r->it_left = n;
	update(n);
	update(r);
	return r;
}

static node_t *balance(node_t *n)
{
	int bf;

	update(n);
	bf = height(n->it_left) - height(n->it_right);
	if (bf > 1) {
		if (height(n->it_left->it_left) < height(n->it_left->it_right))
			n->it_left = rotate_left(n->it_left);
		return rotate_right(n);
	}
	if (bf < -1) {
		if (height(n->it_right->it_right) < height(n->it_right->it_left))
			n->it_right = rotate_right(n->it_right);
		return rotate_left(n);
	}
	return n;
}

/* Total order: by start, then by address (several subs may share a start). */
static bool less(const node_t *a, const node_t *b)
{
	if (a->it_start != b->it_start)
		return a->it_start < b->it_start;
	return (uintptr_t)a < (uintptr_t)b;
}

static node_t *insert(node_t *root, node_t *n)
{
	if (!root)
		return n;
	if (less(n, root))
		root->it_left = insert(root->it_left, n);
	else
		root->it_right = insert(root->it_right, n);
	return balance(root);
}

/* Detach the leftmost node of @root into *@min; return the new subtree. */
static node_t *remove_min(node_t *root, node_t **min)
{
	if (!root->it_left) {
		*min = root;
		return root->it_right;
	}
	root->it_left = remove_min(root->it_left, min);
	return balance(root);
}

static node_t *remove_node(node_t *root, node_t *n)
{
	node_t *min;

	if (!root)
		UHMM_DIE("interval tree: removing a node that is not in the tree");
	if (root == n) {
		if (!n->it_right)
			return n->it_left;
		n->it_right = remove_min(n->it_right, &min);
		min->it_left = n->it_left;
		min->it_right = n->it_right;
		return balance(min);
	}
	if (less(n, root))
		root->it_left = remove_node(root->it_left, n);
	else
		root->it_right = remove_node(root->it_right, n);
	return balance(root);
}

void uhmm__itree_insert(struct uhmm__itree *t, struct uhmm_interval_sub *n)
{
	n->it_left = n->it_right = NULL;
	n->it_height = 1;
	n->it_subtree_last = n->it_last;
	t->root = insert(t->root, n);
	t->count++;
}

void uhmm__itree_remove(struct uhmm__itree *t, struct uhmm_interval_sub *n)
{
	t->root = remove_node(t->root, n);
	n->it_left = n->it_right = NULL;
	t->count--;
}

/* Push @n and its left spine, skipping subtrees that end before start. */
static void push_left(struct uhmm__itree_iter *it, node_t *n)
{
	while (n && n->it_subtree_last >= it->start) {
		if (it->depth == UHMM__ITREE_MAX_DEPTH)
			UHMM_DIE("interval tree deeper than an AVL tree can be");
		it->stack[it->depth++] = n;
		n = n->it_left;
	}
}

struct uhmm_interval_sub *uhmm__itree_iter_first(struct uhmm__itree *t,
						 struct uhmm__itree_iter *it,
						 unsigned long start,
						 unsigned long last)
{
	it->start = start;
	it->last = last;
	it->depth = 0;
	push_left(it, t->root);
	return uhmm__itree_iter_next(it);
}

/*
 * In-order: a popped node's left subtree is done.  Everything after a node
 * that starts beyond last starts beyond last too, so the walk ends there.
 */
struct uhmm_interval_sub *uhmm__itree_iter_next(struct uhmm__itree_iter *it)
{
	while (it->depth) {
		node_t *n = it->stack[--it->depth];

		if (n->it_start > it->last) {
			it->depth = 0;
			return NULL;
		}
		push_left(it, n->it_right);
		if (n->it_last >= it->start)
			return n;
	}
	return NULL;
}

int uhmm__itree_for_each(struct uhmm__itree *t, unsigned long start,
			 unsigned long last,
			 int (*fn)(struct uhmm_interval_sub *, void *), void *arg)
{
	struct uhmm__itree_iter it;
	node_t *n;
	int ret;

	for (n = uhmm__itree_iter_first(t, &it, start, last); n;
	     n = uhmm__itree_iter_next(&it)) {
		ret = fn(n, arg);
		if (ret)
			return ret;
	}
	return 0;
}
