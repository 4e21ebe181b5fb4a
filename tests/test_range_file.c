/* SPDX-License-Identifier: MIT */
/*
 * test_range_file.c - uhmm_range_fault() snapshot and fault, page by page,
 * on file and shared memory: shared and private file mappings (a write
 * fault dirties a shared file page), shared anonymous memory and memfd.
 * Contents, in memory and in the file, are checked after every fault.
 *
 * Every test runs once per page-state reader:
 * UHMM_TEST_ENV: UHMM_PAGEMAP=scan UHMM_PAGEMAP=proc
 */
#include <errno.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "range_util.h"

/* Every byte of page @i of file @fd, read past the mapping, is @c. */
static void expect_file_page(int fd, unsigned long i, char c)
{
	char buf[4096];

	assert_int_equal(pread(fd, buf, ps, (off_t)(i * ps)), (ssize_t)ps);
	expect_bytes(buf, c);
}

static void shared_file(void **state)
{
	uint64_t got[4];
	int fd = temp_file(4), i;
	char *p = map(4, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	char *ro = map(4, PROT_READ, MAP_SHARED, fd);

	run(p, 4, got, 0);
	expect_all(got, 0, 4);			/* nothing mapped yet */
	run(p, 4, got, FAULT);
	expect_all(got, V | W, 4);		/* shared: writes go in place */
	run(p, 4, got, WRITE);
	expect_all(got, V | W, 4);
	for (i = 0; i < 4; i++) {
		expect_bytes(p + i * ps, 'a' + i);
		expect_file_page(fd, (unsigned long)i, 'a' + i);
	}
	run(ro, 4, got, FAULT);
	expect_all(got, V, 4);
	assert_int_equal(rf(ro, 4, got, WRITE, 0, 0), -EPERM);
	munmap(p, 4 * ps);
	munmap(ro, 4 * ps);
	close(fd);
}

/* kpageflags of the frame behind @addr (root only), or ~0 if unknown. */
static uint64_t page_flags(void *addr)
{
	uint64_t pfns[1] = { 0 }, flags = ~0ULL;
	int fd = open("/proc/kpageflags", O_RDONLY);

	if (fd < 0)
		return flags;
	if (!rf(addr, 1, pfns, 0, 0, UHMM_RANGE_WANT_PFN) &&
	    uhmm_pfn_to_pfn(pfns[0]) &&
	    pread(fd, &flags, 8, (off_t)(uhmm_pfn_to_pfn(pfns[0]) * 8)) != 8)
		flags = ~0ULL;
	close(fd);
	return flags;
}

#define KPF_DIRTY (1ULL << 4)

/*
 * A clean shared file page reads as writable, but the kernel keeps it
 * write-protected to learn when it is dirtied.  REQ_WRITE must go through
 * the kernel's write fault so the page is marked dirty and written back.
 */
static void shared_file_write_dirties(void **state)
{
	uint64_t got[1];
	int fd = temp_file(1);
	char *p = map(1, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	struct statfs sf;

	assert_int_equal(fstatfs(fd, &sf), 0);
	if (sf.f_type == TMPFS_MAGIC)
		SKIP("/tmp is tmpfs: no dirty tracking to observe");
	assert_int_equal(fsync(fd), 0);
	touch_read(p);
	if (page_flags(p) == ~0ULL)
		SKIP("page flags need CAP_SYS_ADMIN");
	assert_int_equal(page_flags(p) & KPF_DIRTY, 0);	/* clean */
	run(p, 1, got, WRITE);
	assert_int_equal(got[0], V | W);
	assert_int_equal(page_flags(p) & KPF_DIRTY, KPF_DIRTY);
	expect_bytes(p, 'a');
	munmap(p, ps);
	close(fd);
}

static void private_file(void **state)
{
	uint64_t got[3];
	int fd = temp_file(3);
	char *p = map(3, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);

	touch_read(p);
	run(p, 1, got, 0);
	assert_int_equal(got[0], V);		/* the file's page: COW first */
	run(p, 3, got, FAULT);
	expect_all(got, V, 3);
	run(p, 3, got, WRITE);			/* private copies */
	expect_all(got, V | W, 3);
	expect_bytes(p, 'a');
	expect_bytes(p + 2 * ps, 'c');
	p[0] = 'z';
	expect_file_page(fd, 0, 'a');		/* the file never changes */
	munmap(p, 3 * ps);
	close(fd);
}

static void shared_anon(void **state)
{
	uint64_t got[3];
	char *p = map(3, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);

	memset(p, 0x11, ps);
	run(p, 3, got, 0);
	assert_int_equal(got[0], V | W);
	assert_int_equal(got[1], 0);
	run(p, 3, got, FAULT);
	expect_all(got, V | W, 3);
	expect_bytes(p, 0x11);
	expect_bytes(p + ps, 0);
	munmap(p, 3 * ps);
}

static void memfd(void **state)
{
	uint64_t got[3];
	int fd = memfd_create("uhmm-range", MFD_CLOEXEC);
	char buf[4096];
	char *p;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)(3 * ps)), 0);
	memset(buf, 'm', sizeof(buf));
	assert_int_equal(pwrite(fd, buf, ps, (off_t)ps), (ssize_t)ps);
	p = map(3, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	run(p, 3, got, 0);
	expect_all(got, 0, 3);
	run(p, 3, got, FAULT);
	expect_all(got, V | W, 3);
	expect_bytes(p, 0);
	expect_bytes(p + ps, 'm');
	munmap(p, 3 * ps);
	close(fd);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shared_file),
		cmocka_unit_test(shared_file_write_dirties),
		cmocka_unit_test(private_file),
		cmocka_unit_test(shared_anon),
		cmocka_unit_test(memfd),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
