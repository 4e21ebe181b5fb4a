#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh - build uhmm (Release, debug checks off) and run the main program.
# Installs missing Debian packages first (scripts/deps.sh).
#
# The main program is the demo, `uhmm demo` (tools/README.md): workload
# threads churn their memory while dmirror devices mirror it, every device
# access checked; about 20 s, exit 0 when nothing was wrong or stale.
# Arguments are passed to it, e.g. scripts/run.sh --duration 5 --json.
# The benchmark is build-release/bench/uhmm-bench (bench/README.md).
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

case "$("$dir/tools/uhmm" help)" in
*"  demo "*) ;;
*) echo "run.sh: this build has no \`uhmm demo\` (consumers/dmirror missing)" >&2
   exit 1 ;;
esac
exec "$dir/tools/uhmm" demo "$@"
