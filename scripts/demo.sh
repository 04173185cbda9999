#!/usr/bin/env bash
# Set up (if needed), then run the main job on the embedded default: see README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/annexd demo "$@"
