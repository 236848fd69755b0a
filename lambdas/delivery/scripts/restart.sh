# shellcheck shell=bash
# Runs the configured restart command. Inputs: RESULT_PREFIX, and a function `restart_command`
# holding the configured command with `{workspaceId}` replaced by the quoted id.
: "${RESULT_PREFIX:?}"
set -euo pipefail
exec 3>&1 1>&2
result() { printf '%s%s\n' "$RESULT_PREFIX" "$1" >&3; }
# shellcheck disable=SC2317 # reached through the EXIT trap
on_failure() { result '{"ok":false,"code":"delivery_failed","step":"restart"}'; }
trap on_failure EXIT
restart_command
trap - EXIT
result '{"ok":true,"action":"restarted"}'
