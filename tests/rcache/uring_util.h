/* SPDX-License-Identifier: MIT */
/*
 * uring_util.h - what the io_uring backend's tests share: temporary files,
 * one with a known pattern and the check for it, and one READ_FIXED
 * through a slot.
 * Included only where liburing is (UHMM_RCACHE_HAVE_URING).
 */
#ifndef UHMM_TEST_URING_UTIL_H
#define UHMM_TEST_URING_UTIL_H

#include <liburing.h>
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

static inline unsigned char uring_pattern_byte(size_t i)
{
	return (unsigned char)(i * 7 + 3);
}

/* An empty temporary file, already unlinked. */
static inline int temp_file(void)
{
	char path[] = "/tmp/uhmm-uring-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

/* A temporary file of @len bytes, byte i = uring_pattern_byte(i). */
static inline int pattern_file(size_t len)
{
	unsigned char *b = malloc(len);
	int fd = temp_file();
	size_t i;

	assert_non_null(b);
	for (i = 0; i < len; i++)
		b[i] = uring_pattern_byte(i);
	assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
	free(b);
	return fd;
}

static inline bool has_pattern(const unsigned char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != uring_pattern_byte(i))
			return false;
	return true;
}

/* READ_FIXED of @len bytes at offset 0 of @fd into @buf through @slot.
 * Return: the completion's result (bytes read or -errno). */
static inline int read_fixed(struct io_uring *ring, int fd, void *buf,
			     size_t len, int slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int res;

	assert_non_null(sqe);
	io_uring_prep_read_fixed(sqe, fd, buf, (unsigned int)len, 0, slot);
	assert_int_equal(io_uring_submit(ring), 1);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

#endif /* UHMM_TEST_URING_UTIL_H */
