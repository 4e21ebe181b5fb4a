/* SPDX-License-Identifier: MIT */
/*
 * test_headers_c.c - the public headers work alone and from C++.
 *
 * tests/extra.cmake compiles every public header alone (twice included,
 * for the guard) as strict C11 and as strict C++17, each in its own
 * translation unit, and links them and test_headers_cxx.cpp into this test.
 * A header that does not compile alone breaks the build; the tests below
 * check what only a run can: every header was covered in both languages, C
 * and C++ agree on the layout of every public struct and on what the inline
 * helpers compute, and C++ reaches every exported symbol through C linkage.
 *
 * Keep the lists below in step with test_headers_cxx.cpp.
 */
#include "harness.h"

#include <uhmm/uhmm.h>

#include "hdrtest_lists.h"

#define HDR_PRAGMA(x) _Pragma(#x)
#define HDR_WEAK(sym) HDR_PRAGMA(weak sym)

/* Weak as in the C++ half: a listed symbol nobody defines yet is null in
 * both languages instead of failing the link. */
HDRTEST_API(HDR_WEAK)

typedef void (*hdr_fn)(void);

size_t hdrtest_cxx_layout(size_t *out, size_t n);
size_t hdrtest_cxx_inlines(uint64_t w, uint64_t *out, size_t n);
size_t hdrtest_cxx_api(hdr_fn *out, size_t n);

#define HDR_DECL(id) const char *hdrtest_c_##id(void); \
		     const char *hdrtest_cxx_##id(void);
HDRTEST_HEADERS(HDR_DECL)

#define MAX_ITEMS 128

static void every_header_compiled_alone_in_c_and_cxx(void **state)
{
	unsigned int n = 0;

#define HDR_CHECK(id)						\
	assert_string_equal(hdrtest_c_##id(), #id);		\
	assert_string_equal(hdrtest_cxx_##id(), #id);		\
	n++;
	HDRTEST_HEADERS(HDR_CHECK)
	/* uhmm.h and the five concept headers at least. */
	assert_true(n >= 6);
}

#define LAYOUT(T, f) sizeof(T), offsetof(T, f)

static size_t c_layout(size_t *out, size_t n)
{
	const size_t l[] = {
		LAYOUT(struct uhmm_notifier_range, mm),
		LAYOUT(struct uhmm_notifier_range, event),
		LAYOUT(struct uhmm_notifier_range, flags),
		LAYOUT(struct uhmm_notifier_range, owner),
		LAYOUT(struct uhmm_notifier_ops, release),
		LAYOUT(struct uhmm_notifier_ops, free_notifier),
		LAYOUT(struct uhmm_notifier, ops),
		LAYOUT(struct uhmm_notifier, mm),
		LAYOUT(struct uhmm_notifier, rcu_head),
		LAYOUT(struct uhmm_interval_sub_ops, invalidate),
		LAYOUT(struct uhmm_interval_sub, it_start),
		LAYOUT(struct uhmm_interval_sub, it_last),
		LAYOUT(struct uhmm_interval_sub, mm),
		LAYOUT(struct uhmm_interval_sub, invalidate_seq),
		LAYOUT(struct uhmm_range, notifier_seq),
		LAYOUT(struct uhmm_range, pfns),
		LAYOUT(struct uhmm_range, pfn_flags_mask),
		LAYOUT(struct uhmm_range, flags),
		sizeof(enum uhmm_event),
	};
	size_t i, len = sizeof(l) / sizeof(l[0]);

	for (i = 0; i < len && i < n; i++)
		out[i] = l[i];
	return len;
}

static void struct_layout_same_in_c_and_cxx(void **state)
{
	size_t c[MAX_ITEMS], cxx[MAX_ITEMS], i;
	size_t nc = c_layout(c, MAX_ITEMS);

	assert_int_equal(hdrtest_cxx_layout(cxx, MAX_ITEMS), nc);
	for (i = 0; i < nc; i++) {
		if (cxx[i] != c[i])
			fail_msg("layout item %zu: C++ %zu, C %zu", i, cxx[i],
				 c[i]);
	}
}

/* The same computation as hdrtest_cxx_inlines(). */
static size_t c_inlines(uint64_t w, uint64_t *out, size_t n)
{
	struct uhmm_interval_sub sub = { 0 };
	struct uhmm_notifier_range r;
	size_t i = 0;

	sub.it_start = (unsigned long)w;
	sub.it_last = (unsigned long)w + 4095;
	uhmm_notifier_range_init(&r, UHMM_EVENT_CLEAR, (unsigned int)w,
				 NULL, (unsigned long)w, (unsigned long)w + 1);
	uhmm_interval_set_seq(&sub, (unsigned long)w | 1);

	const uint64_t v[] = {
		uhmm_pfn_to_map_order(w),
		uhmm_pfn_to_pfn(w),
		uhmm_range_blockable(&r),
		r.flags, r.end, (uint64_t)r.event,
		uhmm_interval_read_retry(&sub, (unsigned long)w | 1),
		uhmm_interval_check_retry(&sub, (unsigned long)w),
		uhmm_interval_sub_start(&sub),
		uhmm_interval_sub_last(&sub),
		uhmm_interval_sub_mm(&sub) == NULL,
	};
	for (; i < sizeof(v) / sizeof(v[0]) && i < n; i++)
		out[i] = v[i];
	return sizeof(v) / sizeof(v[0]);
}

static void inline_helpers_same_in_c_and_cxx(void **state)
{
	const uint64_t words[] = {
		0, 1, 0x1000, UHMM_PFN_VALID | UHMM_PFN_WRITE | 0x1234,
		UHMM_PFN_ERROR, (9ULL << UHMM_PFN_ORDER_SHIFT) | 0x200,
		UHMM_PFN_ZERO | UHMM_PFN_VALID, ~0ULL,
	};
	uint64_t c[MAX_ITEMS], cxx[MAX_ITEMS];
	size_t i, k, nc;

	for (k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
		nc = c_inlines(words[k], c, MAX_ITEMS);
		assert_int_equal(hdrtest_cxx_inlines(words[k], cxx, MAX_ITEMS),
				 nc);
		for (i = 0; i < nc; i++)
			assert_int_equal(cxx[i], c[i]);
	}
	/* And the C side computes what the header comments promise. */
	c_inlines((9ULL << UHMM_PFN_ORDER_SHIFT) | 0x200, c, MAX_ITEMS);
	assert_int_equal(c[0], 9);
	assert_int_equal(c[1], 0x200);
}

#define HDR_ADDR(sym) (hdr_fn)&sym,
#define HDR_NAME(sym) #sym,

static void cxx_reaches_every_export_with_c_linkage(void **state)
{
	const hdr_fn c[] = { HDRTEST_API(HDR_ADDR) };
	const char *const names[] = { HDRTEST_API(HDR_NAME) };
	size_t nc = sizeof(c) / sizeof(c[0]), i;
	hdr_fn cxx[MAX_ITEMS];

	assert_int_equal(hdrtest_cxx_api(cxx, MAX_ITEMS), nc);
	for (i = 0; i < nc; i++) {
		if (cxx[i] != c[i])
			fail_msg("%s: C++ sees %p, C sees %p", names[i],
				 (void *)cxx[i], (void *)c[i]);
	}
	/* Weak references did resolve (the library is linked shared). */
	assert_non_null((void *)(uintptr_t)&uhmm_version);
}

/* UHMM_TEST_LINK: shared (weak references resolve against the .so) */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_header_compiled_alone_in_c_and_cxx),
		cmocka_unit_test(struct_layout_same_in_c_and_cxx),
		cmocka_unit_test(inline_helpers_same_in_c_and_cxx),
		cmocka_unit_test(cxx_reaches_every_export_with_c_linkage),
	};

	return HARNESS_MAIN(tests);
}
