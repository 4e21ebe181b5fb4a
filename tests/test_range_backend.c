/* SPDX-License-Identifier: MIT */
/*
 * test_range_backend.c - the readers behind uhmm_range_fault(): the
 * page-state reader chosen by UHMM_PAGEMAP, frame numbers (the same through
 * both page-state readers), and the two VMA readers (PROCMAP_QUERY and the
 * /proc/self/maps fallback), which must describe every kind of VMA alike.
 *
 * Every test runs once per page-state reader:
 * UHMM_TEST_ENV: UHMM_PAGEMAP=scan UHMM_PAGEMAP=proc
 */
#include <sys/utsname.h>

#include "range_util.h"
/* The VMA reader's backend and lookups are internal (src/os/os.h). */
#include "internal.h"

static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return false;
	return ma > major || (ma == major && mi >= minor);
}

/* ------------------------------------------------------------------ */
/* Backends                                                            */

static void backend_honours_env(void **state)
{
	const char *env = getenv("UHMM_PAGEMAP");
	const char *b = uhmm_range_backend();

	if (!env)
		SKIP("UHMM_PAGEMAP not set: nothing to honour");
	if (!strcmp(env, "proc"))
		assert_string_equal(b, "proc_pagemap");
	if (!strcmp(env, "scan")) {
		if (!kernel_at_least(6, 7))
			SKIP("kernel before 6.7 has no PAGEMAP_SCAN");
		assert_string_equal(b, "pagemap_scan");
	}
}

/* Frame numbers of a shared page, read by the child with the other reader. */
static void want_pfn(void **state)
{
	const char *mine = getenv("UHMM_PAGEMAP");
	uint64_t *res, got[2];
	char *p;
	pid_t pid;

	if (!pfns_readable())
		SKIP("frame numbers need CAP_SYS_ADMIN");
	res = (void *)map(1, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1);
	p = map(2, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
	memset(p, 0x11, 2 * ps);
	pid = fork_checked();	/* before this process picks a reader */
	if (pid == 0) {
		setenv("UHMM_PAGEMAP", mine && !strcmp(mine, "proc") ?
		       "scan" : "proc", 1);
		/* fork copies no PTEs of shared mappings: fault them. */
		_exit(rf(p, 2, res, FAULT, 0, UHMM_RANGE_WANT_PFN) ? 1 : 0);
	}
	expect_child_ok(pid);
	run(p, 2, got, 0);
	assert_int_equal(uhmm_pfn_to_pfn(got[0]), 0);	/* not asked */
	assert_int_equal(rf(p, 2, got, 0, 0, UHMM_RANGE_WANT_PFN), 0);
	assert_int_equal(got[0] & UHMM_PFN_FLAGS, V | W);
	assert_true(uhmm_pfn_to_pfn(got[0]) != 0);
	assert_int_equal(uhmm_pfn_to_pfn(got[0]),
			 pagemap_entry(p) & ((1ULL << 55) - 1));
	assert_int_equal(uhmm_pfn_to_pfn(got[0]), uhmm_pfn_to_pfn(res[0]));
	assert_int_equal(uhmm_pfn_to_pfn(got[1]), uhmm_pfn_to_pfn(res[1]));
	munmap(p, 2 * ps);
	munmap(res, ps);
}

/* ------------------------------------------------------------------ */
/* VMA readers                                                         */

static char *vvar_addr(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long s = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "[vvar]"))
			s = strtoul(line, NULL, 16);
	fclose(f);
	return (char *)s;
}

/* Mappings whose VMA both readers must describe alike. */
struct probe_set {
	char *addr[10];
	unsigned int n;
	int vvar;			/* index of [vvar], or -1 */
	int huge;			/* index of a hugetlb mapping, or -1 */
};

static void probe_set_make(struct probe_set *s, int fd)
{
	char *p = anon(6), *h;

	memset(p, 1, 6 * ps);
	mprotect(p + ps, ps, PROT_READ);
	mprotect(p + 2 * ps, ps, PROT_NONE);
	s->n = 0;
	s->addr[s->n++] = p;			/* rw private anon */
	s->addr[s->n++] = p + ps;		/* read-only */
	s->addr[s->n++] = p + 2 * ps;		/* PROT_NONE */
	s->addr[s->n++] = p + 3 * ps;		/* hole, made below */
	s->addr[s->n++] = map(2, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	s->addr[s->n++] = map(2, PROT_READ, MAP_PRIVATE, fd);
	s->addr[s->n++] = map(1, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1);
	munmap(p + 3 * ps, ps);		/* last: nothing mmapped fills it */
	s->vvar = s->huge = -1;
	if (vvar_addr()) {
		s->vvar = (int)s->n;
		s->addr[s->n++] = vvar_addr();
	}
	h = huge_page_size() ? map_hugetlb(huge_page_size(), MAP_SHARED) : NULL;
	if (h) {
		s->huge = (int)s->n;
		s->addr[s->n++] = h;
	} else {
		print_message("no hugetlb mapping: its VMA goes unchecked\n");
	}
}

static void vma_expect_flags(const struct probe_set *s,
			     const struct uhmm__vma *v)
{
	unsigned int rw = UHMM__VMA_READ | UHMM__VMA_WRITE;

	assert_int_equal(v[0].flags, rw);
	assert_int_equal(v[0].page_size, ps);
	assert_int_equal(v[1].flags, UHMM__VMA_READ);
	assert_int_equal(v[2].flags, 0);
	assert_int_equal(v[3].start, (uintptr_t)s->addr[3] + ps); /* above */
	assert_int_equal(v[4].flags, rw | UHMM__VMA_SHARED | UHMM__VMA_FILE);
	assert_int_equal(v[5].flags, UHMM__VMA_READ | UHMM__VMA_FILE);
	assert_int_equal(v[6].flags, rw | UHMM__VMA_SHARED | UHMM__VMA_FILE);
	if (s->vvar >= 0)
		assert_true(v[s->vvar].flags & UHMM__VMA_IO);
	if (s->huge >= 0) {
		assert_true(v[s->huge].flags & UHMM__VMA_HUGETLB);
		assert_int_equal(v[s->huge].page_size, huge_page_size());
	}
}

static void vma_lookup_all(const struct probe_set *s, struct uhmm__vma *v)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		assert_int_equal(uhmm__os_vma_find((uintptr_t)s->addr[i], &v[i]),
				 0);
}

/* UHMM_VMA=maps, set before the first lookup in this process. */
static void vma_maps_fallback(void **state)
{
	struct uhmm__vma v[10];
	struct probe_set s;
	uint64_t got[4];
	int fd;

	setenv("UHMM_VMA", "maps", 1);
	assert_string_equal(uhmm__os_vma_backend(), "proc_maps");
	fd = temp_file(2);
	probe_set_make(&s, fd);
	vma_lookup_all(&s, v);
	vma_expect_flags(&s, v);
	/* The range walk over it: rw, ro, PROT_NONE, hole. */
	run(s.addr[0], 4, got, 0);
	assert_int_equal(got[0], V | W);
	assert_int_equal(got[1], V);
	assert_int_equal(got[2], E);
	assert_int_equal(got[3], E);
	close(fd);
}

/* Both readers, each in a child that picks it first, describe alike. */
static void vma_backends_agree(void **state)
{
	struct uhmm__vma *res, v[10];
	struct probe_set s;
	const char *which[2] = { "query", "maps" };
	int fd = temp_file(2), k;
	unsigned int i;
	pid_t pid;

	if (!kernel_at_least(6, 11))
		SKIP("kernel before 6.11 has no PROCMAP_QUERY");
	res = (void *)map(1, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1);
	probe_set_make(&s, fd);
	for (k = 0; k < 2; k++) {
		pid = fork_checked();
		if (pid == 0) {
			setenv("UHMM_VMA", which[k], 1);
			for (i = 0; i < s.n; i++)
				if (uhmm__os_vma_find((uintptr_t)s.addr[i],
						      &res[k * 10 + i]))
					_exit(1);
			_exit(strcmp(uhmm__os_vma_backend(), k ? "proc_maps" :
				     "procmap_query") ? 2 : 0);
		}
		expect_child_ok(pid);
	}
	for (i = 0; i < s.n; i++) {
		assert_int_equal(res[i].start, res[10 + i].start);
		assert_int_equal(res[i].end, res[10 + i].end);
		assert_int_equal(res[i].flags, res[10 + i].flags);
		assert_int_equal(res[i].page_size, res[10 + i].page_size);
		v[i] = res[i];
	}
	vma_expect_flags(&s, v);
	close(fd);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backend_honours_env),
		cmocka_unit_test(want_pfn),
		cmocka_unit_test_teardown(vma_maps_fallback, restore_hugepages),
		cmocka_unit_test_teardown(vma_backends_agree, restore_hugepages),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
