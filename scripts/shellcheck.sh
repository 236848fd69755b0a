#!/usr/bin/env bash
# Checks every host script (lambdas/delivery/scripts/*.sh) with shellcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
exec shellcheck --shell=bash --severity=style lambdas/delivery/scripts/*.sh
