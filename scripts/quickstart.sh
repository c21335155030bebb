#!/usr/bin/env bash
# Installs what is missing, builds, and runs the quickstart scenario.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(bash "$root/scripts/build.sh")"
cd "$root"
exec "$dir/servesim" run scenarios/quickstart.yaml -o results/quickstart.h5 "$@"
