#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh - build uhmm (Release, debug checks off) and run the main program.
# Installs missing Debian packages first (scripts/deps.sh).
#
# For now the main program is the benchmark, uhmm-bench (bench/README.md);
# arguments are passed to it, e.g. scripts/run.sh --quick or --only fault.
#
# Environment: UHMM_BUILD_DIR (default build-release), UHMM_JOBS (default
# nproc).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${UHMM_BUILD_DIR:-$root/build-release}

# Idempotent: does nothing when every package is there.
[ -n "${UHMM_SKIP_DEPS:-}" ] || bash "$root/scripts/deps.sh"
jobs=${UHMM_JOBS:-$(nproc)}

cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
	-DUHMM_DEBUG=OFF -DBUILD_TESTING=OFF >/dev/null
cmake --build "$dir" -j "$jobs"

exec "$dir/bench/uhmm-bench" "$@"
