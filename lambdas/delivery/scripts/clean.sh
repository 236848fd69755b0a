# shellcheck shell=bash
# Removes debris a verify found (SPEC §12, repair `clean`), and nothing else: each path of PATHS,
# relative to plugins/ and inside the delivery's own dirs (`.staging/<entry>`, `.previous/<entry>`,
# `.previous/.markers/<entry>`, `.molecule/<entry>`). The caller checked every path; this script
# checks them again, and refuses to go through a symlinked dir, since the agent's user owns plugins/
# and this runs as root. A path already gone is not an error. The dirs themselves stay.
# Runs after prelude.sh. Inputs: PATHS (one a line).
: "${PATHS?}"
STEP='clean'
PATH_RE='^\.(staging|previous|previous/\.markers|molecule)/[^/]+$'

# shellcheck disable=SC2317 # reached through the EXIT trap
on_failure() { result '{"ok":false,"code":"delivery_failed","step":"'"$STEP"'"}'; }
trap on_failure EXIT

# Every dir between plugins/ and the entry must be a real directory.
real_parents() {
  local dir="$PLUGINS" part
  [ ! -L "$dir" ] || return 1
  IFS=/ read -r -a parts <<< "${1%/*}"
  for part in "${parts[@]}"; do
    dir="$dir/$part"
    [ -d "$dir" ] && [ ! -L "$dir" ] || return 1
  done
}

REMOVED=0
while IFS= read -r path; do
  [ -n "$path" ] || continue
  if [[ ! $path =~ $PATH_RE ]] || [[ $path == */.. ]] || [[ $path == */. ]]; then
    echo "refusing to remove $path: not debris of the delivery's own dirs" >&2
    exit 1
  fi
  real_parents "$path" || continue
  target="$PLUGINS/$path"
  [ -e "$target" ] || [ -L "$target" ] || continue
  rm -rf -- "$target"
  REMOVED=$((REMOVED + 1))
done <<< "$PATHS"

trap - EXIT
result '{"ok":true,"action":"cleaned","removed":'"$REMOVED"'}'
