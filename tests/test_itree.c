/* SPDX-License-Identifier: MIT */
/*
 * test_itree.c - the interval tree against a brute-force model: random
 * inserts, removes and overlap queries; results must match exactly and come
 * in address order.
 */
#include "harness.h"
#include "internal.h"

#define N 3000

static struct uhmm_interval_sub subs[N];
static bool in[N];

static unsigned long rng_state = 88172645463325252UL;
static unsigned long rnd(void)
{
	return harness_rnd(&rng_state);
}

struct collect {
	unsigned long n;
	unsigned long prev_start;
	bool sorted;
	bool seen[N];
};

static int collect_fn(struct uhmm_interval_sub *s, void *arg)
{
	struct collect *c = arg;

	if (c->n && s->it_start < c->prev_start)
		c->sorted = false;
	c->prev_start = s->it_start;
	c->seen[s - subs] = true;
	c->n++;
	return 0;
}

static int check_height(const struct uhmm_interval_sub *n, unsigned long *max_last)
{
	unsigned long l = 0, r = 0;
	int hl, hr;

	if (!n)
		return 0;
	hl = check_height(n->it_left, &l);
	hr = check_height(n->it_right, &r);
	assert_true(hl - hr <= 1 && hr - hl <= 1);	/* AVL balance */
	*max_last = n->it_last;
	if (n->it_left && l > *max_last)
		*max_last = l;
	if (n->it_right && r > *max_last)
		*max_last = r;
	assert_int_equal(n->it_subtree_last, *max_last);
	return 1 + (hl > hr ? hl : hr);
}

static void itree_matches_model(void **state)
{
	struct uhmm__itree t = { 0 };
	static struct collect c;
	unsigned long round, i, ml;

	for (round = 0; round < 60000; round++) {
		i = rnd() % N;
		if (!in[i]) {
			subs[i].it_start = rnd() % 100000;
			subs[i].it_last = subs[i].it_start + rnd() % 3000;
			uhmm__itree_insert(&t, &subs[i]);
			in[i] = true;
		} else if (rnd() % 2) {
			uhmm__itree_remove(&t, &subs[i]);
			in[i] = false;
		}
		if (round % 97 == 0) {
			unsigned long s = rnd() % 103000, l = s + rnd() % 5000;
			unsigned long expect = 0, j;

			memset(&c, 0, sizeof(c));
			c.sorted = true;
			uhmm__itree_for_each(&t, s, l, collect_fn, &c);
			for (j = 0; j < N; j++) {
				bool ov = in[j] && subs[j].it_start <= l &&
					  subs[j].it_last >= s;
				assert_int_equal(ov, c.seen[j]);
				expect += ov;
			}
			assert_int_equal(expect, c.n);
			assert_true(c.sorted);
			{
				struct uhmm__itree_iter it;

				assert_int_equal(expect != 0,
						 uhmm__itree_iter_first(&t, &it, s, l) != NULL);
			}
		}
		if (round % 1999 == 0)
			check_height(t.root, &ml);
	}
}

static int stop_at_first(struct uhmm_interval_sub *s, void *arg)
{
	(*(int *)arg)++;
	return 7;
}

static void itree_walk_stops(void **state)
{
	struct uhmm__itree t = { 0 };
	static struct uhmm_interval_sub a[4];
	int calls = 0, i;

	for (i = 0; i < 4; i++) {
		a[i].it_start = (unsigned long)i * 10;
		a[i].it_last = a[i].it_start + 100;
		uhmm__itree_insert(&t, &a[i]);
	}
	assert_int_equal(7, uhmm__itree_for_each(&t, 0, 1000, stop_at_first, &calls));
	assert_int_equal(1, calls);
	assert_int_equal(4, t.count);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(itree_matches_model),
		cmocka_unit_test(itree_walk_stops),
	};
	return HARNESS_MAIN(tests);
}
