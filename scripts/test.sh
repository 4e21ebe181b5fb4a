#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test.sh - configure, build and run every test (ctest) with warnings as
# errors.  Installs missing Debian packages first (scripts/deps.sh).
#
# Environment:
#   UHMM_SANITIZE=address   ASan+UBSan build in build-asan/
#   UHMM_SANITIZE=thread    TSan build in build-tsan/
#   (unset)                 plain build in build/
#   UHMM_BUILD_DIR=dir      use another build directory
#   UHMM_JOBS=n             parallel build and test jobs (default: nproc)
#   UHMM_CMAKE_ARGS="..."   extra configure arguments
# Extra arguments are passed to ctest, e.g. scripts/test.sh -R test_mm
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
sanitize=${UHMM_SANITIZE:-}
case "$sanitize" in
"") dir=build ;;
address) dir=build-asan ;;
thread) dir=build-tsan ;;
*) echo "test.sh: UHMM_SANITIZE must be address, thread or empty" >&2
   exit 2 ;;
esac
dir=${UHMM_BUILD_DIR:-$root/$dir}

# Idempotent: does nothing when every package is there.
[ -n "${UHMM_SKIP_DEPS:-}" ] || bash "$root/scripts/deps.sh"
jobs=${UHMM_JOBS:-$(nproc)}

# Sanitizer reports stop the test with a stack, never scroll past.  Callers
# (.ci/run) may set their own.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_stacktrace=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# die_after_fork=0: a process with a subscription runs capture's
# userfaultfd reader thread, so every fork test forks a multi-threaded
# process, and its child may start threads (its own reader);
# atexit_sleep_ms=0: TSan otherwise sleeps a second at the exit of every
# process with more than one thread, i.e. of every one that subscribes.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:die_after_fork=0:atexit_sleep_ms=0}

# gcc 12's TSan runtime cannot map its shadow when the kernel randomises
# mmap with more than 28 bits; run the tests without ASLR there.
run_tests=()
rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
if [ "$sanitize" = thread ] && [ "$rnd_bits" -gt 28 ]; then
	echo "test.sh: vm.mmap_rnd_bits=$rnd_bits > 28: TSan tests run under setarch -R"
	run_tests=(setarch "$(uname -m)" -R)
fi

# shellcheck disable=SC2086 # UHMM_CMAKE_ARGS is a list of arguments
cmake -S "$root" -B "$dir" -G Ninja -DUHMM_WERROR=ON \
	-DUHMM_SANITIZE="$sanitize" ${UHMM_CMAKE_ARGS:-}
cmake --build "$dir" -j "$jobs"
cd "$dir"
"${run_tests[@]}" ctest --output-on-failure -j "$jobs" "$@"
