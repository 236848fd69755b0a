# shellcheck shell=bash
# Opening shared by the host scripts but restart.sh: strict mode, stdout reserved for the result
# line, `$ROOT` and `$CONFIG_DIR`. Inputs (set before this by host-scripts.ts, each value quoted):
#   RESULT_PREFIX  what starts the one result line on stdout
#   CONFIG_PATH    the runtime's config directory on the host, absolute, no trailing slash
: "${RESULT_PREFIX:?}" "${CONFIG_PATH?}"
set -euo pipefail
umask 022
export LC_ALL=C
# stdout is reserved for the result line (SSM keeps only its first 24 000 characters).
exec 3>&1 1>&2
result() { printf '%s%s\n' "$RESULT_PREFIX" "$1" >&3; }
ROOT="${MOLECULE_HOST_ROOT:-}"
CONFIG_DIR="$ROOT$CONFIG_PATH"
# shellcheck disable=SC2034 # used by the script that follows this prelude
PLUGINS="$CONFIG_DIR/plugins"
# A killed script still runs its EXIT trap.
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
