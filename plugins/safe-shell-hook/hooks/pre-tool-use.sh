#!/usr/bin/env bash
# Reads the tool call as JSON on stdin; exits 2 (block) for destructive shell commands.
set -euo pipefail
command=$(jq -r '.tool_input.command // empty')
case "$command" in
  *"rm -rf /"*|*"mkfs"*|*"dd if="*"of=/dev/"*)
    echo "blocked by safe-shell-hook: destructive command" >&2
    exit 2
    ;;
esac
exit 0
