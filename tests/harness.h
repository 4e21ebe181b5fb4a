/* SPDX-License-Identifier: MIT */
/*
 * harness.h - what every uhmm test shares: cmocka, one process per test,
 * watchdogs that turn a deadlock into a report, visible skips, stress scale.
 *
 * A test file lists its tests in main() with cmocka_unit_test(name);
 * tests/CMakeLists.txt finds those names and registers each as its own CTest
 * test ("<file>.<name>"), run as "<binary> <name>" with a timeout.
 */
#ifndef UHMM_TEST_HARNESS_H
#define UHMM_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Run the tests named on the command line (all if none). */
static inline int harness_main(int argc, char **argv, const char *group,
			       const struct CMUnitTest *tests, size_t n)
{
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return _cmocka_run_group_tests(group, tests, n, NULL, NULL);
}
#define HARNESS_MAIN(tests) \
	harness_main(argc, argv, __FILE__, tests, sizeof(tests) / sizeof((tests)[0]))

/* Print why, then mark the running test skipped. */
#define SKIP(...)                                                       \
	do {                                                            \
		fprintf(stderr, "SKIP: ");                              \
		fprintf(stderr, __VA_ARGS__);                           \
		fprintf(stderr, "\n");                                  \
		skip();                                                 \
	} while (0)

/*
 * Round counts: base * UHMM_STRESS_SCALE (environment, else the build's
 * default), at least 1.  Sanitizer builds run with a smaller scale.
 */
#ifndef UHMM_STRESS_SCALE_DEFAULT
#define UHMM_STRESS_SCALE_DEFAULT 1.0
#endif
static inline unsigned long harness_rounds(unsigned long base)
{
	const char *env = getenv("UHMM_STRESS_SCALE");
	double scale = env ? atof(env) : UHMM_STRESS_SCALE_DEFAULT;
	double r = (double)base * scale;

	return r < 1 ? 1 : (unsigned long)r;
}

/* xorshift64: a test's cheap, repeatable random sequence (seed non-zero). */
static inline unsigned long harness_rnd(unsigned long *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/*
 * Watchdog: if the test has not called harness_watchdog_stop() within
 * @seconds, print what it was doing and abort, so a deadlock is reported
 * (with a core/stack from the sanitizer or gdb) instead of hanging CI.
 */
struct harness_watchdog {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	unsigned int seconds;
	const char *what;
	volatile const char *phase;	/* optional: updated by the test */
};

static void *harness_watchdog_fn(void *arg)
{
	struct harness_watchdog *w = arg;
	struct timespec ts;
	int timed_out = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += w->seconds;
	pthread_mutex_lock(&w->lock);
	while (!w->done && !timed_out)
		timed_out = pthread_cond_timedwait(&w->cond, &w->lock, &ts) != 0;
	pthread_mutex_unlock(&w->lock);
	if (timed_out && !w->done) {
		fprintf(stderr, "WATCHDOG: '%s' did not finish within %u s "
			"(deadlock?) phase: %s\n", w->what, w->seconds,
			w->phase ? (const char *)w->phase : "-");
		fflush(stderr);
		abort();
	}
	return NULL;
}

static inline void harness_watchdog_start(struct harness_watchdog *w,
					  unsigned int seconds, const char *what)
{
	memset(w, 0, sizeof(*w));
	w->seconds = seconds;
	w->what = what;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, harness_watchdog_fn, w))
		abort();
}

static inline void harness_watchdog_stop(struct harness_watchdog *w)
{
	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

#endif /* UHMM_TEST_HARNESS_H */
