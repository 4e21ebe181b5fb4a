/* SPDX-License-Identifier: MIT */
/*
 * patch_fn.c - what libc's patched functions become (patch.h).  Each is
 * called exactly as glibc's function was, by the application or by glibc
 * itself (free(), realloc(), heap trimming), with the caller's return
 * address: it routes, announces, makes the system call itself and returns
 * as glibc does (-1 or MAP_FAILED with errno set on error).  errno is set
 * after uhmm__change_end(), which preserves it.
 *
 * Hook hygiene as the wrappers: no malloc, no call back into a patched
 * function (the system call is a bare `syscall`).
 */
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/shm.h>

#include "../os/linux/raw.h"
#include "capture.h"
#include "interpose.h"
#include "patch.h"
#include "uffd.h"

#define NR(x)	uhmm__raw_nr(UHMM__NR_##x)
#define SYS(nr, a0, a1, a2, a3, a4, a5)                                    \
	uhmm__raw_syscall((nr), (long)(a0), (long)(a1), (long)(a2),         \
			  (long)(a3), (long)(a4), (long)(a5))

/* Announce @s (if @hit) around system call @nr; glibc's result. */
static long around(bool hit, const struct uhmm__span *s, long nr,
		   long a0, long a1, long a2, long a3, long a4)
{
	struct uhmm__change c;
	long ret;

	uhmm__change_begin(&c, hit ? s : NULL);
	ret = SYS(nr, a0, a1, a2, a3, a4, 0);
	if (nr == NR(MUNMAP) && ret == 0)
		uhmm__change_unmapped(&c);
	uhmm__change_end(&c);
	return uhmm__raw_result(ret);
}

static int p_munmap(void *addr, size_t len)
{
	struct uhmm__span s;

	return (int)around(uhmm__route_munmap(&s, (unsigned long)addr, len),
			   &s, NR(MUNMAP), (long)addr, (long)len, 0, 0, 0);
}

/*
 * glibc's start_thread(), as a thread exits after its TLS destructors ran,
 * gives back the unused part of its own stack: madvise(DONTNEED) of a range
 * ending PTHREAD_STACK_MIN (16 KiB) and a page below its stack pointer.
 * Nothing of any thread's can live below the caller's own stack pointer,
 * and announcing from a thread whose TLS is gone would register it with
 * RCU again for good: such a range is not announced.
 */
#define OWN_STACK_GAP	(64ul << 10)

static bool below_own_stack(unsigned long addr, size_t len)
{
	unsigned long sp = (unsigned long)__builtin_frame_address(0);

	return addr + len <= sp && sp - (addr + len) < OWN_STACK_GAP;
}

static int p_madvise(void *addr, size_t len, int advice)
{
	struct uhmm__span s;
	bool hit = !below_own_stack((unsigned long)addr, len) &&
		   uhmm__route_madvise(&s, (unsigned long)addr, len, advice);

	return (int)around(hit, &s, NR(MADVISE), (long)addr, (long)len,
			   advice, 0, 0);
}

static int p_mprotect(void *addr, size_t len, int prot)
{
	struct uhmm__span s;

	return (int)around(uhmm__route_mprotect(&s, (unsigned long)addr, len,
						prot),
			   &s, NR(MPROTECT), (long)addr, (long)len, prot, 0,
			   0);
}

/* glibc: pkey -1 is plain mprotect. */
static int p_pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
	struct uhmm__span s;
	bool hit = uhmm__route_mprotect(&s, (unsigned long)addr, len, prot);

	if (pkey == -1)
		return (int)around(hit, &s, NR(MPROTECT), (long)addr,
				   (long)len, prot, 0, 0);
	return (int)around(hit, &s, NR(PKEY_MPROTECT), (long)addr, (long)len,
			   prot, pkey, 0);
}

/* glibc checks the offset's page alignment itself, before the kernel. */
static void *p_mmap64(void *addr, size_t len, int prot, int flags, int fd,
		      off_t off)
{
	struct uhmm__change c;
	struct uhmm__span s;
	bool hit;
	long ret;

	if (off & 0xfff) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	hit = uhmm__route_mmap(&s, (unsigned long)addr, len, flags);
	uhmm__change_begin(&c, hit ? &s : NULL);
	ret = SYS(NR(MMAP), addr, len, prot, flags, fd, off);
	uhmm__change_end(&c);
	if (!hit && !(ret < 0 && ret > -4096))	/* mapped: no kernel error */
		uhmm__uffd_mapped((unsigned long)ret, len);
	return (void *)uhmm__raw_result(ret);
}

static void *p_mremap(void *old, size_t old_size, size_t new_size,
		      int flags, ...)
{
	struct uhmm__change c[2];
	struct uhmm__span s[2];
	void *new_addr = NULL;
	va_list ap;
	long ret;
	int n;

	if (flags & (MREMAP_FIXED | 4 /* MREMAP_DONTUNMAP */)) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	n = uhmm__route_mremap(s, (unsigned long)old, old_size, new_size,
			       flags, (unsigned long)new_addr);
	uhmm__change_begin(&c[0], n > 0 ? &s[0] : NULL);
	uhmm__change_begin(&c[1], n > 1 ? &s[1] : NULL);
	ret = SYS(NR(MREMAP), old, old_size, new_size, flags, new_addr, 0);
	uhmm__change_end(&c[1]);
	uhmm__change_end(&c[0]);
	if (ret == -EFAULT && uhmm__mremap_split(&s[0], old, old_size)) {
		/* Our registration split the mapping: once more, quiet. */
		uhmm__change_begin(&c[0], &s[0]);
		ret = SYS(NR(MREMAP), old, old_size, new_size, flags, new_addr,
			  0);
		uhmm__change_end(&c[0]);
	}
	return (void *)uhmm__raw_result(ret);
}

static int p_shmdt(const void *addr)
{
	struct uhmm__span s;

	return (int)around(uhmm__shmdt_span(&s, (unsigned long)addr), &s,
			   NR(SHMDT), (long)addr, 0, 0, 0, 0);
}

static void *p_shmat(int id, const void *addr, int flags)
{
	struct uhmm__span s;
	bool hit = (flags & SHM_REMAP) &&
		   uhmm__route_shmat(&s, (unsigned long)addr, flags,
				     uhmm__os_shm_size(id));

	return (void *)around(hit, &s, NR(SHMAT), id, (long)addr, flags, 0,
			      0);
}

extern void *__curbrk;	/* glibc's cached break, which __brk keeps */

/*
 * __brk, which glibc's sbrk and malloc's heap trim call internally: the
 * kernel's current break tells whether the heap shrinks.  Like glibc's,
 * it stores the new break in __curbrk and fails with ENOMEM if the kernel
 * did not move the break as far as asked.
 */
static int p_brk(void *addr)
{
	struct uhmm__span s;
	struct uhmm__change c;
	unsigned long cur = (unsigned long)SYS(NR(BRK), 0, 0, 0, 0, 0, 0);
	void *now;

	uhmm__change_begin(&c, uhmm__route_brk(&s, cur, (unsigned long)addr) ?
				       &s : NULL);
	now = (void *)SYS(NR(BRK), addr, 0, 0, 0, 0, 0);
	uhmm__change_end(&c);
	__curbrk = now;
	if ((unsigned long)now < (unsigned long)addr) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

#define FN(f)	((void *)(unsigned long)(f))

void *uhmm__patch_replacement(enum uhmm__patch_fn fn)
{
	void *const fns[UHMM__PATCH_NR] = {
		[UHMM__PATCH_MUNMAP] = FN(p_munmap),
		[UHMM__PATCH_MADVISE] = FN(p_madvise),
		[UHMM__PATCH_MPROTECT] = FN(p_mprotect),
		[UHMM__PATCH_MREMAP] = FN(p_mremap),
		[UHMM__PATCH_MMAP64] = FN(p_mmap64),
		[UHMM__PATCH_PKEY_MPROTECT] = FN(p_pkey_mprotect),
		[UHMM__PATCH_SHMDT] = FN(p_shmdt),
		[UHMM__PATCH_SHMAT] = FN(p_shmat),
		[UHMM__PATCH_BRK] = FN(p_brk),
	};

	return fns[fn];
}
