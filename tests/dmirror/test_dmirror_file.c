/* SPDX-License-Identifier: MIT */
/*
 * test_dmirror_file.c - file-backed memory (hmm-tests file_read,
 * file_write): the device reads a file's pages through a shared or private
 * mapping; its writes through a shared mapping reach the file, through a
 * private one they stay in the process (copy-on-write broken for the device,
 * the file unchanged); a read-only file mapping refuses writes with -EPERM.
 */
#include "dm_util.h"

#define N 8

/* A temp file of N pages holding words base + i. */
static int file_of_words(unsigned long base)
{
	int fd = temp_file(N);
	char *buf = malloc(N * ps);

	assert_non_null(buf);
	fill_words(buf, N, base);
	assert_int_equal(pwrite(fd, buf, N * ps, 0), (ssize_t)(N * ps));
	free(buf);
	return fd;
}

static void expect_file_words(int fd, unsigned long base)
{
	char *buf = malloc(N * ps);

	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, N * ps, 0), (ssize_t)(N * ps));
	expect_words(buf, N, base);
	free(buf);
}

static void file_read(void **state)
{
	int fd = file_of_words(40), flags[2] = { MAP_SHARED, MAP_PRIVATE }, i;
	struct uhmm_dmirror *dev = dm_open();
	char *buf = malloc(N * ps), *p;

	assert_non_null(buf);
	for (i = 0; i < 2; i++) {
		p = map(N, PROT_READ, flags[i], fd);
		memset(buf, 0, N * ps);
		dm_expect(uhmm_dmirror_read, dev, p, buf, N, 1);
		expect_words(buf, N, 40);
		expect_entries(dev, p, N, UHMM_DMIRROR_PROT_READ);
		munmap(p, N * ps);
		assert_int_equal(dm_stats(dev).entries, 0);
	}
	uhmm_dmirror_close(dev);
	close(fd);
	free(buf);
}

static void file_write_shared(void **state)
{
	int fd = file_of_words(40);
	struct uhmm_dmirror *dev = dm_open();
	char *buf = malloc(N * ps);
	char *p = map(N, PROT_READ | PROT_WRITE, MAP_SHARED, fd);

	assert_non_null(buf);
	fill_words(buf, N, 900);
	dm_expect(uhmm_dmirror_write, dev, p, buf, N, 1);
	expect_words(p, N, 900);
	expect_file_words(fd, 900);
	uhmm_dmirror_close(dev);
	munmap(p, N * ps);
	close(fd);
	free(buf);
}

/* The device's write breaks copy-on-write: the file keeps its content. */
static void file_write_private(void **state)
{
	int fd = file_of_words(40);
	struct uhmm_dmirror *dev = dm_open();
	char *buf = malloc(N * ps);
	char *p = map(N, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd);

	assert_non_null(buf);
	/* First mirrored read-only (file pages), then written. */
	dm_expect(uhmm_dmirror_read, dev, p, buf, N, 1);
	expect_entries(dev, p, N, UHMM_DMIRROR_PROT_READ);
	fill_words(buf, N, 900);
	dm_expect(uhmm_dmirror_write, dev, p, buf, N, 1);
	expect_entries(dev, p, N, UHMM_DMIRROR_PROT_WRITE);
	expect_words(p, N, 900);
	expect_file_words(fd, 40);
	uhmm_dmirror_close(dev);
	munmap(p, N * ps);
	close(fd);
	free(buf);
}

static void file_write_readonly(void **state)
{
	int fd = file_of_words(40);
	struct uhmm_dmirror *dev = dm_open();
	char *buf = malloc(N * ps);
	char *p = map(N, PROT_READ, MAP_SHARED, fd);
	struct uhmm_dmirror_cmd cmd;

	assert_non_null(buf);
	fill_words(buf, N, 900);
	assert_int_equal(dm_write(dev, p, buf, N, &cmd), -EPERM);
	assert_int_equal(cmd.cpages, 0);
	expect_file_words(fd, 40);
	uhmm_dmirror_close(dev);
	munmap(p, N * ps);
	close(fd);
	free(buf);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(file_read),
		cmocka_unit_test(file_write_shared),
		cmocka_unit_test(file_write_private),
		cmocka_unit_test(file_write_readonly),
	};

	ps = uhmm_page_size();
	return HARNESS_MAIN(tests);
}
