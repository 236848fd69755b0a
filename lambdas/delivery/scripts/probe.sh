# shellcheck shell=bash
# Reports what the host has for one plugin, changing nothing (the reconciler asks it after an
# execution ended without closing its operation): whether `plugins/<name>` is there, the
# top-level `version:` line of its plugin.yaml, the directory's inode and the marker the last
# install wrote (`plugins/.molecule/<name>.json`, naming the inode it was written for, so a
# marker older than the directory is recognised). Values that came from files are base64, so
# the result line stays one line of JSON whatever they hold; the caller parses them.
# Runs after prelude.sh. Inputs: NAME.
: "${NAME:?}"
LIVE="$PLUGINS/$NAME"
MARKER_FILE="$PLUGINS/.molecule/$NAME.json"
# Bounds what a tampered file can put on the result line (SSM keeps 24 000 characters).
MAX_BYTES=4096

# shellcheck disable=SC2317 # reached through the EXIT trap
on_failure() { result '{"ok":false,"code":"delivery_failed","step":"probe"}'; }
trap on_failure EXIT

if [ ! -d "$LIVE" ] || [ -L "$LIVE" ]; then
  trap - EXIT
  result '{"ok":true,"action":"probed","present":false}'
  exit 0
fi

dir_id=$(stat -c %i -- "$LIVE")
version=''
if [ -f "$LIVE/plugin.yaml" ]; then
  version=$(sed -n 's/^version:[[:space:]]*//p' "$LIVE/plugin.yaml" | head -n 1 | head -c "$MAX_BYTES" | base64 -w 0)
fi
marker=''
if [ -f "$MARKER_FILE" ]; then
  marker=$(head -c "$MAX_BYTES" "$MARKER_FILE" | base64 -w 0)
fi

trap - EXIT
result '{"ok":true,"action":"probed","present":true,"dirId":"'"$dir_id"'","version":"'"$version"'","marker":"'"$marker"'"}'
