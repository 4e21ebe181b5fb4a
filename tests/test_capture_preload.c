/* SPDX-License-Identifier: MIT */
/*
 * test_capture_preload.c - libuhmm-interpose.so catches changes in a
 * program that only links libuhmm, when it is LD_PRELOADed; and
 * UHMM_CAPTURE=off turns it into a pure pass-through.
 *
 * Each test runs this very binary again as a child (UHMM_CAPTURE_CHILD=1
 * in its environment) under the environment the test names; the child
 * watches a marked page, unmaps it, and exits 0 if it was told before the
 * change, 3 if it was not told, 1 on any other failure.
 *
 * UHMM_TEST_LINK: shared
 */
#include <errno.h>
#include <link.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "harness.h"
#include <uhmm/uhmm.h>

#define MARK 0x5a

extern char **environ;

struct rec {
	struct uhmm_interval_sub sub;
	int calls;
	int seen;
	volatile unsigned char *probe;
};

static bool rec_invalidate(struct uhmm_interval_sub *sub,
			   const struct uhmm_notifier_range *r,
			   unsigned long cur_seq)
{
	struct rec *x = (struct rec *)sub;

	uhmm_interval_set_seq(sub, cur_seq);
	if (r->event == UHMM_EVENT_UNMAP) {
		x->seen = *x->probe;	/* mapped still: before munmap */
		x->calls++;
	}
	return true;
}

static const struct uhmm_interval_sub_ops rec_ops = {
	.invalidate = rec_invalidate,
};

/* The child's whole run; its exit status is the verdict. */
static int child_main(void)
{
	unsigned long ps = uhmm_page_size();
	struct rec x = { .calls = 0 };
	unsigned char *p;

	p = mmap(NULL, ps, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	p[0] = MARK;
	x.probe = p;
	if (uhmm_interval_sub_insert(&x.sub, uhmm_mm_current(),
				     (unsigned long)p, ps, &rec_ops))
		return 1;
	if (munmap(p, ps))
		return 1;
	if (uhmm_interval_sub_remove(&x.sub))
		return 1;
	if (x.calls == 0)
		return 3;
	return (x.calls == 1 && x.seen == MARK) ? 0 : 1;
}

/* The child's wait status; one still running after @seconds is killed
 * and fails the test (a hang in the hook path, reported, not hung). */
static int wait_bounded(pid_t pid, int seconds)
{
	int status = 0, i;

	for (i = 0; i < seconds * 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("child %d still running after %d s", (int)pid, seconds);
	return -1;
}

/* The path of a loaded sanitizer runtime (libasan, libtsan), if any. */
static int find_runtime(struct dl_phdr_info *info, size_t size, void *arg)
{
	const char *name = info->dlpi_name;

	if (!strstr(name, "/libasan.so") && !strstr(name, "/libtsan.so"))
		return 0;
	snprintf(arg, 4096, "%s", name);
	return 1;
}

/*
 * LD_PRELOAD=<the interposer>, behind the sanitizer runtime in sanitizer
 * builds: each sanitizer must initialise before any instrumented code runs
 * (TSan crashes on its shadow otherwise; ASan refuses to start).
 */
static const char *preload_env(void)
{
	static char env[8192], rt[4096];

	rt[0] = '\0';
	dl_iterate_phdr(find_runtime, rt);
	snprintf(env, sizeof(env), "LD_PRELOAD=%s%s%s", rt, rt[0] ? ":" : "",
		 UHMM_INTERPOSE_PATH);
	return env;
}

/* Run this binary as a child with @extra added to the environment. */
static int run_child(const char *const *extra)
{
	char *env[256], self[4096], *argv[2] = { self, NULL };
	size_t n = 0, i;
	ssize_t len;
	pid_t pid;
	int status;

	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(len > 0);
	self[len] = '\0';
	for (i = 0; extra[i]; i++)
		env[n++] = (char *)extra[i];
	env[n++] = "UHMM_CAPTURE_CHILD=1";
	for (i = 0; environ[i] && n < 255; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) &&
		    strncmp(environ[i], "UHMM_CAPTURE", 12))
			env[n++] = environ[i];
	env[n] = NULL;
	assert_int_equal(posix_spawn(&pid, self, NULL, NULL, argv, env), 0);
	status = wait_bounded(pid, 60);
	if (!WIFEXITED(status))
		fail_msg("child died: status 0x%x", status);
	return WEXITSTATUS(status);
}

static void preloaded_library_catches_munmap_before(void **state)
{
	const char *env[] = { preload_env(), NULL };

	assert_int_equal(run_child(env), 0);
}

/* The control: without the preload the same child is told nothing. */
static void without_preload_nothing_is_caught(void **state)
{
	const char *env[] = { NULL };

	assert_int_equal(run_child(env), 3);
}

static void capture_off_passes_through(void **state)
{
	const char *env[] = { preload_env(), "UHMM_CAPTURE=off", NULL };

	assert_int_equal(run_child(env), 3);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(preloaded_library_catches_munmap_before),
		cmocka_unit_test(without_preload_nothing_is_caught),
		cmocka_unit_test(capture_off_passes_through),
	};

	if (getenv("UHMM_CAPTURE_CHILD"))
		return child_main();
	return HARNESS_MAIN(tests);
}
