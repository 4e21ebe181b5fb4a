/* SPDX-License-Identifier: MIT */
/*
 * text.c - writing code bytes while other threads run them (contract in
 * text.h).
 *
 * Writes go through /proc/self/mem: the kernel writes into a read-only
 * private mapping for it (breaking copy-on-write), so the code is never
 * writable, not even briefly.  Where that is refused (a kernel built to
 * forbid it), a page-sized mprotect(RWX) window is the fallback; the page
 * stays executable throughout, so a thread running it meanwhile is fine.
 *
 * Instruction fetch is not coherent with these stores on every core until
 * that core serialises: membarrier(PRIVATE_EXPEDITED_SYNC_CORE) runs a
 * core-serialising instruction on every CPU that runs one of our threads.
 * Where only PRIVATE_EXPEDITED exists, its IPI returns with an IRET, which
 * on x86 serialises too (the reason SYNC_CORE is a no-op there on kernels
 * that return with IRET); that is documented as the weaker fallback.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "raw.h"
#include "text.h"

#if defined(__x86_64__)

struct site {
	unsigned long site;	/* atomic: 0 while free */
	unsigned long target;	/* written before site is published */
};

static struct site sites[UHMM__TEXT_MAX_SITES];
static int nsites;			/* atomic */
static int mem_fd = -1;
static int sync_cmd;			/* membarrier command, 0: none */
static bool inited;
static struct sigaction old_trap;

static long membarrier(int cmd)
{
	return uhmm__raw_syscall(SYS_membarrier, cmd, 0, 0, 0, 0, 0);
}

/* SYNC_CORE if the kernel has it, else plain expedited, else none. */
static int setup_membarrier(void)
{
	if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)
	    == 0)
		return MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE;
	if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0)
		return MEMBARRIER_CMD_PRIVATE_EXPEDITED;
	return 0;
}

bool uhmm__text_sync_core(void)
{
	return sync_cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE;
}

/* The stores are a system call (or precede one): membarrier orders them. */
void uhmm__text_sync(void)
{
	if (sync_cmd)
		membarrier(sync_cmd);
}

static unsigned long find_target(unsigned long site)
{
	int i, n = __atomic_load_n(&nsites, __ATOMIC_ACQUIRE);

	for (i = 0; i < n; i++)
		if (__atomic_load_n(&sites[i].site, __ATOMIC_ACQUIRE) == site)
			return sites[i].target;
	return 0;
}

/* A trap that is not at one of our sites: whatever handled it before. */
static void chain_trap(int sig, siginfo_t *info, void *ctx)
{
	ucontext_t *uc = ctx;

	if (old_trap.sa_flags & SA_SIGINFO) {
		old_trap.sa_sigaction(sig, info, ctx);
	} else if (old_trap.sa_handler == SIG_DFL) {
		/* Run the int3 again with the default action: a core dump. */
		uc->uc_mcontext.gregs[REG_RIP]--;
		sigaction(SIGTRAP, &old_trap, NULL);
	} else if (old_trap.sa_handler != SIG_IGN) {
		old_trap.sa_handler(sig);
	}
}

/*
 * After an int3 the saved RIP is one past it.  A thread that entered a
 * site while it was being changed continues in the site's replacement,
 * exactly as if the jump had already been there.  Async-signal-safe: a
 * fixed table read with atomic loads.
 */
static void trap_handler(int sig, siginfo_t *info, void *ctx)
{
	ucontext_t *uc = ctx;
	unsigned long target;

	target = find_target((unsigned long)uc->uc_mcontext.gregs[REG_RIP] - 1);
	if (target)
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)target;
	else
		chain_trap(sig, info, ctx);
}

static int install_trap(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = trap_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGTRAP, &sa, &old_trap) ? -errno : 0;
}

int uhmm__text_init(void)
{
	int ret;

	if (inited)
		return sync_cmd ? 0 : -ENOSYS;
	ret = install_trap();
	if (ret)
		return ret;
	mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	sync_cmd = setup_membarrier();
	inited = true;
	return sync_cmd ? 0 : -ENOSYS;
}

/* The fallback: make the pages writable (still executable) meanwhile. */
static int write_mprotect(void *addr, const void *buf, size_t len)
{
	unsigned long ps = (unsigned long)sysconf(_SC_PAGESIZE);
	unsigned long s = (unsigned long)addr & ~(ps - 1);
	unsigned long e = ((unsigned long)addr + len + ps - 1) & ~(ps - 1);
	volatile unsigned char *dst = addr;
	const unsigned char *src = buf;
	long ret;
	size_t i;

	ret = uhmm__raw_syscall(SYS_mprotect, (long)s, (long)(e - s),
				PROT_READ | PROT_WRITE | PROT_EXEC, 0, 0, 0);
	if (ret)
		return (int)ret;
	for (i = 0; i < len; i++)
		dst[i] = src[i];
	ret = uhmm__raw_syscall(SYS_mprotect, (long)s, (long)(e - s),
				PROT_READ | PROT_EXEC, 0, 0, 0);
	return (int)ret;
}

int uhmm__text_write(void *addr, const void *buf, size_t len)
{
	off_t at = (off_t)(unsigned long)addr;
	int ret = -EIO;

	if (mem_fd >= 0 && pwrite(mem_fd, buf, len, at) == (ssize_t)len)
		ret = 0;
	if (ret)
		ret = write_mprotect(addr, buf, len);
	uhmm__text_sync();
	return ret;
}

int uhmm__text_trap_set(unsigned long site, unsigned long target)
{
	int n = __atomic_load_n(&nsites, __ATOMIC_ACQUIRE);

	if (find_target(site) == target)
		return 0;
	if (n == UHMM__TEXT_MAX_SITES)
		return -ENOSPC;
	sites[n].target = target;
	__atomic_store_n(&sites[n].site, site, __ATOMIC_RELEASE);
	__atomic_store_n(&nsites, n + 1, __ATOMIC_RELEASE);
	return 0;
}

#else /* !__x86_64__ */

int uhmm__text_init(void)
{
	return -ENOSYS;
}

bool uhmm__text_sync_core(void)
{
	return false;
}

void uhmm__text_sync(void)
{
}

int uhmm__text_write(void *addr, const void *buf, size_t len)
{
	return -ENOSYS;
}

int uhmm__text_trap_set(unsigned long site, unsigned long target)
{
	return -ENOSYS;
}

#endif

/* "Threads:\t<n>" from /proc/self/status, read without stdio. */
int uhmm__text_threads(void)
{
	char buf[2048], *p;
	ssize_t n;
	int fd;

	fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nThreads:");
	return p ? atoi(p + 9) : 0;
}
