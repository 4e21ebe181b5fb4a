/* SPDX-License-Identifier: MIT */
/*
 * uffd_util.h - what the userfaultfd capture tests share: a bare system
 * call that nothing in libc or uhmm's wrappers sees, and the skip for a
 * machine without a userfaultfd that has the non-cooperative events.
 */
#ifndef UHMM_TEST_UFFD_UTIL_H
#define UHMM_TEST_UFFD_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/* A bare system call: nothing in libc or uhmm's wrappers sees it. */
static inline long asm_syscall(long nr, long a0, long a1, long a2, long a3,
				long a4)
{
	long r;
#if defined(__x86_64__)
	register long r10 __asm__("r10") = a3;
	register long r8 __asm__("r8") = a4;

	__asm__ volatile("syscall" : "=a"(r)
			 : "0"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10),
			   "r"(r8)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a0;
	register long x1 __asm__("x1") = a1;
	register long x2 __asm__("x2") = a2;
	register long x3 __asm__("x3") = a3;
	register long x4 __asm__("x4") = a4;

	__asm__ volatile("svc 0" : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
			 : "memory");
	r = x0;
#else
	r = -ENOSYS;
	(void)nr; (void)a0; (void)a1; (void)a2; (void)a3; (void)a4;
#endif
	return r;
}

/* Skip unless this machine gives us a userfaultfd with the events. */
static inline void need_uffd(void)
{
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_EVENT_UNMAP |
			    UFFD_FEATURE_EVENT_REMOVE |
			    UFFD_FEATURE_EVENT_REMAP,
	};

#if !defined(__x86_64__) && !defined(__aarch64__)
	SKIP("no inline syscall for this architecture");
#endif
	if (fd < 0)
		fd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd < 0)
		SKIP("userfaultfd unavailable: %s", strerror(errno));
	if (ioctl((int)fd, UFFDIO_API, &api))
		SKIP("userfaultfd without UNMAP/REMOVE/REMAP events: %s",
		     strerror(errno));
	close((int)fd);
}

/* The application's own userfaultfd on [p, p + len), missing mode. */
static inline int own_uffd(void *p, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { (unsigned long)p, len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	long fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);

	if (fd < 0)
		fd = syscall(SYS_userfaultfd, O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ioctl((int)fd, UFFDIO_API, &api), 0);
	assert_int_equal(ioctl((int)fd, UFFDIO_REGISTER, &reg), 0);
	return (int)fd;
}

/* Run @fn with stderr going to a file; return what it wrote. */
static inline void capture_stderr(void (*fn)(void *), void *arg, char *out,
			   size_t size)
{
	int saved = dup(STDERR_FILENO);
	int f = memfd_create("stderr", MFD_CLOEXEC);
	ssize_t n;

	assert_true(saved >= 0 && f >= 0);
	fflush(stderr);
	assert_true(dup2(f, STDERR_FILENO) >= 0);
	fn(arg);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	n = pread(f, out, size - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(f);
	close(saved);
	fputs(out, stderr);	/* keep it visible in the test's output */
}

#endif /* UHMM_TEST_UFFD_UTIL_H */
