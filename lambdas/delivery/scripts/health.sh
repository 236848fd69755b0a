# shellcheck shell=bash
# The health gate on the host (SPEC §9), run after the restart: the runtime's health check, every
# 2 s until it exits 0 or TIMEOUT_SECONDS have passed. Each run is bounded as well (at most the
# time left, and 30 s), so a check that hangs cannot hold the gate past its timeout.
# Unhealthy, it puts back what was there before the operation, for each plugin the change
# delivered (one for an install or rollback; a repair may reinstall several): the version it
# replaced, kept in `plugins/.previous/<name>`, with the install marker install.sh saved for it (the
# directory keeps its inode, so probe.sh still matches the two); or, after a first install, no
# plugin at all: its marker blocks, its skills, its directory and its marker go as an uninstall
# removes them (its UNINSTALL_SCRIPTS entry is that very script). Then it restarts the workspace again.
# A verdict is not a failure of this script: healthy or not, the result is ok with exit status 0,
# `checks` (the runs) and `output` (base64 of the last run's output tail); unhealthy adds
# `rolledBack`: whether the host is back as it was, restarted.
# Runs after prelude.sh. Inputs: NAMES (an array: the plugins the change delivered) and
# UNINSTALL_SCRIPTS (an array: each one's uninstall script, in the same order); HEALTH_COMMAND
# (configuration: shell code); TIMEOUT_SECONDS; RESTART_SCRIPT (a host script, run with bash) and
# RESTART_SECONDS (the bound on that restart).
: "${HEALTH_COMMAND:?}" "${TIMEOUT_SECONDS:?}" "${RESTART_SCRIPT:?}" "${RESTART_SECONDS:?}"
# shellcheck disable=SC2154 # arrays assigned before this script, as the scalars are
if [ "${#NAMES[@]}" = 0 ] || [ "${#NAMES[@]}" != "${#UNINSTALL_SCRIPTS[@]}" ]; then
  echo 'the health gate needs the plugins the change delivered, each with its uninstall script' >&2
  exit 2
fi
MARKER_DIR="$PLUGINS/.molecule"
STAGING_ROOT="$PLUGINS/.staging"
INTERVAL_SECONDS=2
MAX_RUN_SECONDS=30
# What a killed run gets to end on its own before SIGKILL.
KILL_AFTER_SECONDS=2
# The output kept: enough to see why, little enough for the one result line.
TAIL_LINES=20
TAIL_BYTES=4096
OUTPUT=''
# For the check and the restart command, as restart.sh gives it.
export CONFIG_DIR

# shellcheck disable=SC2317 # reached through the EXIT trap
on_failure() {
  [ -z "$OUTPUT" ] || rm -f -- "$OUTPUT"
  result '{"ok":false,"code":"delivery_failed","step":"health"}'
}
trap on_failure EXIT

OUTPUT=$(mktemp)

# One run of the check, bounded by $1 seconds, its stdout and stderr in $OUTPUT. It never gets
# this script's stdin (over SSH, the rest of the script) nor fd 3 (the result line's). A file
# rather than a pipe: a process the check leaves behind cannot hold the gate open.
check() {
  timeout -k "$KILL_AFTER_SECONDS" "$1" bash -c "$HEALTH_COMMAND" < /dev/null > "$OUTPUT" 2>&1 3>&-
}

# Runs a host script ("$@" runs it) that reports on its stdout as this one does: true when it
# reported ok.
reports_ok() {
  local report
  report=$("$@" < /dev/null 3>&-) || return 1
  [[ $report == "$RESULT_PREFIX"'{"ok":true'* ]]
}

# The replaced version of plugin $1 back in place, and the marker saved for it (none saved: it had
# none). The unhealthy version is moved aside first and comes back if the old one cannot take its place.
put_back_previous() {
  local live="$PLUGINS/$1" previous="$PLUGINS/.previous/$1" saved="$PLUGINS/.previous/.markers/$1.json"
  local aside="$STAGING_ROOT/$1.unhealthy.$$"
  mkdir -p -- "$STAGING_ROOT" || return 1
  if [ -e "$live" ] || [ -L "$live" ]; then mv -T -- "$live" "$aside" || return 1; fi
  if ! mv -T -- "$previous" "$live"; then
    if [ -e "$aside" ] || [ -L "$aside" ]; then mv -T -- "$aside" "$live"; fi
    return 1
  fi
  rm -rf -- "$aside"
  rmdir -- "$STAGING_ROOT" 2> /dev/null || true
  if [ -f "$saved" ]; then
    mkdir -p -- "$MARKER_DIR" && mv -f -T -- "$saved" "$MARKER_DIR/$1.json"
  else
    rm -f -- "$MARKER_DIR/$1.json"
  fi
}

HEALTHY=false
CHECKS=0
deadline=$((SECONDS + TIMEOUT_SECONDS))
while :; do
  bound=$((deadline - SECONDS))
  [ "$bound" -le "$MAX_RUN_SECONDS" ] || bound=$MAX_RUN_SECONDS
  [ "$bound" -ge 1 ] || bound=1
  CHECKS=$((CHECKS + 1))
  if check "$bound"; then
    HEALTHY=true
    break
  fi
  left=$((deadline - SECONDS))
  [ "$left" -gt 0 ] || break
  sleep "$((left < INTERVAL_SECONDS ? left : INTERVAL_SECONDS))"
done
TAIL=$(tail -n "$TAIL_LINES" -- "$OUTPUT" | tail -c "$TAIL_BYTES" | base64 -w 0)
rm -f -- "$OUTPUT"
OUTPUT=''

if [ "$HEALTHY" = true ]; then
  trap - EXIT
  result '{"ok":true,"healthy":true,"checks":'"$CHECKS"',"output":"'"$TAIL"'"}'
  exit 0
fi

echo "the health check did not pass in ${TIMEOUT_SECONDS}s ($CHECKS runs): putting back what was there" >&2
ROLLED_BACK=true
for i in "${!NAMES[@]}"; do
  if [ -e "$PLUGINS/.previous/${NAMES[$i]}" ] || [ -L "$PLUGINS/.previous/${NAMES[$i]}" ]; then
    put_back_previous "${NAMES[$i]}" || ROLLED_BACK=false
  else
    reports_ok bash -c "${UNINSTALL_SCRIPTS[$i]}" || ROLLED_BACK=false
  fi
done
# Even when putting back failed: the agent then runs whatever is there now.
reports_ok timeout -k "$KILL_AFTER_SECONDS" "$RESTART_SECONDS" bash -c "$RESTART_SCRIPT" || ROLLED_BACK=false

trap - EXIT
result '{"ok":true,"healthy":false,"rolledBack":'"$ROLLED_BACK"',"checks":'"$CHECKS"',"output":"'"$TAIL"'"}'
