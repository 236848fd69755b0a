# shellcheck shell=bash
# Runs the configured restart command. Inputs: RESULT_PREFIX; a function `restart_command` holding
# the configured command with `{workspaceId}` replaced by the quoted id; CONFIG_PATH when the
# caller gave the runtime's config dir, which the command then finds in `$CONFIG_DIR` (exported:
# the local stack's emulated agent loads the plugins there).
: "${RESULT_PREFIX:?}"
set -euo pipefail
exec 3>&1 1>&2
result() { printf '%s%s\n' "$RESULT_PREFIX" "$1" >&3; }
# shellcheck disable=SC2317 # reached through the EXIT trap
on_failure() { result '{"ok":false,"code":"delivery_failed","step":"restart"}'; }
trap on_failure EXIT
if [ -n "${CONFIG_PATH+set}" ]; then export CONFIG_DIR="${MOLECULE_HOST_ROOT:-}$CONFIG_PATH"; fi
restart_command
trap - EXIT
result '{"ok":true,"action":"restarted"}'
