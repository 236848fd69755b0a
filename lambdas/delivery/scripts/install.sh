# shellcheck shell=bash
# Downloads the staged tarball and swaps it in atomically (SPEC §5): unpack into
# `plugins/.staging/<name>.<ts>`, move the live copy to `plugins/.previous/<name>`, rename
# staging into place. Ownership is set before the swap, so the live directory is never
# root-owned. Any failure restores the live copy and removes the staging files and the
# directories this run made.
# After the swap it writes `plugins/.molecule/<name>.json` (outside the plugin dir, so the
# plugin's content hash is unchanged): MARKER, what was installed, with the new directory's inode,
# so probe.sh can tell a marker written for this directory from an older one. The replaced
# version's marker is kept with it, in `plugins/.previous/.markers/<name>.json`, for the health
# gate to put back with the directory (health.sh); plugin names never start with a dot.
# Runs after prelude.sh. Inputs: NAME, TARBALL_URL, STAMP (unique per attempt), MAX_TIME (seconds),
# MARKER (JSON; empty: no marker, and an older one is removed).
: "${NAME:?}" "${TARBALL_URL:?}" "${STAMP:?}" "${MAX_TIME:?}" "${MARKER?}"
AGENT_UID_GID=1000:1000
LIVE="$PLUGINS/$NAME"
STAGING_ROOT="$PLUGINS/.staging"
STAGING="$STAGING_ROOT/$NAME.$STAMP"
ARCHIVE="$STAGING.tar.gz"
PREVIOUS_ROOT="$PLUGINS/.previous"
PREVIOUS="$PREVIOUS_ROOT/$NAME"
MARKER_DIR="$PLUGINS/.molecule"
MARKER_FILE="$MARKER_DIR/$NAME.json"
SAVED_MARKERS="$PREVIOUS_ROOT/.markers"
SAVED_MARKER="$SAVED_MARKERS/$NAME.json"
# Directories on_exit removes again if they are empty: the staging root, and any of the others
# this run creates.
TRANSIENT_DIRS=("$STAGING_ROOT")
STEP='prepare'
SWAPPING=0
MOVED_LIVE=0
PLACED=0

own() {
  if chown -R "$AGENT_UID_GID" "$1"; then return 0; fi
  # Real hosts run this as root and must hand the files to the agent's uid; a non-root
  # emulated host (a developer's laptop) keeps its own.
  [ "$EUID" != 0 ] || return 1
  echo "not root: $1 stays owned by uid $EUID" >&2
}

# Digest of every file's path and, except for SKILL.md files, its content: equal digests mean
# the change only edited existing SKILL.md files, which the runtime hot-reloads without a
# restart. A skill added or removed changes the paths, so it restarts.
# Called in a command substitution, whose subshell keeps the cd. find flushes what it printed
# before it runs sha256sum and waits for it, so their lines never interleave.
non_skill_digest() {
  cd "$1" && find . -type f \( -name SKILL.md -print -o -exec sha256sum -- {} + \) | sort | sha256sum
}

# shellcheck disable=SC2317 # reached through the EXIT trap
on_exit() {
  status=$?
  set +e
  restored=true
  if [ "$PLACED" = 1 ]; then rm -rf "$LIVE" || restored=false; fi
  if [ "$MOVED_LIVE" = 1 ]; then mv -T "$PREVIOUS" "$LIVE" || restored=false; fi
  # The saved marker belongs to a .previous copy, gone once the swap started.
  if [ "$SWAPPING" = 1 ]; then rm -f "$SAVED_MARKER"; fi
  rm -rf "$STAGING" "$ARCHIVE"
  rm -f "$MARKER_DIR/.$NAME.$STAMP"
  rmdir "$SAVED_MARKERS" "${TRANSIENT_DIRS[@]}" 2>/dev/null
  result '{"ok":false,"code":"delivery_failed","step":"'"$STEP"'","restored":'"$restored"'}'
  [ "$status" != 0 ] || status=1
  exit "$status"
}
trap on_exit EXIT

if [ ! -d "$PLUGINS" ]; then
  mkdir -p "$PLUGINS"
  own "$PLUGINS"
fi
# The directories the steps need, in one mkdir: a process costs milliseconds, a test nothing.
# Should it fail, each step makes its own again, so the failure is reported by that step.
[ -d "$PREVIOUS_ROOT" ] || TRANSIENT_DIRS+=("$PREVIOUS_ROOT")
[ -z "$MARKER" ] || [ -d "$MARKER_DIR" ] || TRANSIENT_DIRS+=("$MARKER_DIR")
mkdir -p "${TRANSIENT_DIRS[@]}" 2>/dev/null || mkdir -p "$STAGING_ROOT"

STEP='download'
curl -fsS --proto '=http,https' --connect-timeout 10 --max-time "$MAX_TIME" --retry 3 -o "$ARCHIVE" -- "$TARBALL_URL"

STEP='unpack'
mkdir "$STAGING"
tar --no-same-owner --no-same-permissions --touch -xzf "$ARCHIVE" -C "$STAGING"

STEP='chown'
own "$STAGING"

STEP='compare'
REPLACED=false
ONLY_SKILL_DOCS=false
if [ -e "$LIVE" ] || [ -L "$LIVE" ]; then
  REPLACED=true
  if [ -d "$LIVE" ] && [ ! -L "$LIVE" ]; then
    old_digest=$(non_skill_digest "$LIVE")
    new_digest=$(non_skill_digest "$STAGING")
    if [ "$old_digest" = "$new_digest" ]; then ONLY_SKILL_DOCS=true; fi
  fi
fi

STEP='swap'
[ -d "$PREVIOUS_ROOT" ] || mkdir -p "$PREVIOUS_ROOT"
# The archive goes with the old previous copy and its marker, in one rm.
SWAPPING=1
rm -rf "$PREVIOUS" "$SAVED_MARKER" "$ARCHIVE"
if [ "$REPLACED" = true ]; then
  # A copy: the live marker stays until the new one replaces it, so a failure here leaves it.
  if [ -f "$MARKER_FILE" ]; then
    [ -d "$SAVED_MARKERS" ] || mkdir "$SAVED_MARKERS"
    cp -p -- "$MARKER_FILE" "$SAVED_MARKER"
  fi
  mv -T "$LIVE" "$PREVIOUS"
  MOVED_LIVE=1
fi
mv -T "$STAGING" "$LIVE"
PLACED=1

STEP='marker'
if [ -n "$MARKER" ]; then
  [ -d "$MARKER_DIR" ] || mkdir -p "$MARKER_DIR"
  printf '{"dir":"%s","install":%s}\n' "$(stat -c %i -- "$LIVE")" "$MARKER" > "$MARKER_DIR/.$NAME.$STAMP"
  mv -f -T "$MARKER_DIR/.$NAME.$STAMP" "$MARKER_FILE"
else
  rm -f -- "$MARKER_FILE"
fi

trap - EXIT
rmdir "$STAGING_ROOT" 2>/dev/null || true
result '{"ok":true,"action":"installed","replacedPrevious":'"$REPLACED"',"changedOnlySkillDocs":'"$ONLY_SKILL_DOCS"'}'
