/* SPDX-License-Identifier: MIT */
/*
 * patch_check.c - may this entry be patched?  Decided from its first five
 * bytes alone (contract in patch.h).
 *
 * glibc 2.36's munmap, madvise, mprotect, shmat, shmdt and brk start with
 * `mov $NR, %eax` (b8 NR 00 00 00): one instruction exactly the size of
 * our jump, so no thread can ever be in the middle of what we overwrite.
 * mremap, mmap64 and pkey_mprotect start with shorter instructions; a
 * thread preempted between the first and the second would resume inside
 * our jump, so those are patched only while no other thread exists.
 *
 * Whatever starts with a control transfer was put there by someone else
 * (UCX, Open MPI, libfabric, a tracer): overwriting it would cut their
 * hook out, restoring ours later would cut ours; we refuse and keep
 * interposition for that function.
 */
#include <errno.h>
#include <sys/syscall.h>

#include "patch.h"

/* The system call a `mov $NR, %eax` entry makes; -1: another prologue. */
static const int entry_nr[UHMM__PATCH_NR] = {
	[UHMM__PATCH_MUNMAP] = SYS_munmap,
	[UHMM__PATCH_MADVISE] = SYS_madvise,
	[UHMM__PATCH_MPROTECT] = SYS_mprotect,
	[UHMM__PATCH_MREMAP] = -1,
	[UHMM__PATCH_MMAP64] = -1,
	[UHMM__PATCH_PKEY_MPROTECT] = -1,
	[UHMM__PATCH_SHMDT] = SYS_shmdt,
	[UHMM__PATCH_SHMAT] = SYS_shmat,
	[UHMM__PATCH_BRK] = SYS_brk,
};

/* jmp rel32/rel8, int3, call, ret, and ff /4 /5 (indirect jmp: ff 25). */
static bool control_transfer(const unsigned char *b)
{
	switch (b[0]) {
	case 0xe9: case 0xeb: case 0xcc: case 0xe8: case 0xc3: case 0xea:
		return true;
	case 0xff:
		return ((b[1] >> 3) & 7) == 4 || ((b[1] >> 3) & 7) == 5;
	default:
		return false;
	}
}

static bool is_mov_eax(const unsigned char *b, int nr)
{
	return b[0] == 0xb8 && b[1] == (unsigned char)nr &&
	       b[2] == (unsigned char)(nr >> 8) && b[3] == 0 && b[4] == 0;
}

int uhmm__patch_check(enum uhmm__patch_fn fn, const unsigned char *b,
		      bool alone)
{
	if (control_transfer(b))
		return -EEXIST;
	if (entry_nr[fn] >= 0)
		return is_mov_eax(b, entry_nr[fn]) ? 0 : -ENOEXEC;
	return alone ? 0 : -EBUSY;
}
