# shellcheck shell=bash
# A read-only inventory of the host's plugins (SPEC §12, verify), changing nothing under the config
# dir. What a verify needs does not fit SSM's 24 000 characters of output (500 plugins' hashes
# alone do not), so the inventory goes to S3 by the presigned PUT URL the caller hands over, and
# stdout keeps its one short result line. It is a gzipped tar of:
#   inventory/top    every entry of plugins/: `<type>\t<inode>\t<name>\0` (find's %y: d, f, l, ...)
#   inventory/own    every entry of .staging/, .previous/, .previous/.markers/ and .molecule/, alike
#   inventory/sizes  every regular file under a plugin dir: `<size>\t<dir>/<path>\0`
#   inventory/sums   sha256sum's lines for the same files (`./<dir>/<path>`; GNU escaping: a line
#                    starting with `\` has `\\`, `\n` and `\r` escaped in its name)
#   inventory/skills sha256sum's lines for every file under the config dir's skills/<name>/
#   <dir>/plugin.yaml        each plugin dir's manifest (up to 256 KiB), as it is
#   .molecule/<name>.json    each install marker (up to 8 KiB), as it is
# The caller computes every content hash (SPEC §3) from `sums`, with the very function Stage uses.
# Runs after prelude.sh. Inputs: UPLOAD_URL (presigned PUT), MAX_TIME (seconds for the upload),
# MAX_BYTES (the largest inventory it uploads; past it the result is `inventory_too_large`).
: "${UPLOAD_URL:?}" "${MAX_TIME:?}" "${MAX_BYTES:?}"
SKILLS_DIR="$CONFIG_DIR/skills"
WORK=''
STEP='inventory'

# shellcheck disable=SC2317 # reached through the EXIT trap
on_failure() {
  [ -z "$WORK" ] || rm -rf -- "$WORK"
  result '{"ok":false,"code":"delivery_failed","step":"'"$STEP"'"}'
}
trap on_failure EXIT

WORK=$(mktemp -d)
LIST="$WORK/inventory"
mkdir -- "$LIST"
: > "$LIST/top"
: > "$LIST/own"
: > "$LIST/sizes"
: > "$LIST/sums"
: > "$LIST/skills"
: > "$WORK/copied"

if [ -d "$PLUGINS" ]; then
  cd -- "$PLUGINS" || exit 1
  find . -mindepth 1 -maxdepth 1 -printf '%y\t%i\t%P\0' > "$LIST/top"
  find . -mindepth 2 -maxdepth 2 \( -path './.staging/*' -o -path './.previous/*' -o -path './.molecule/*' \) -printf '%y\t%i\t%P\0' > "$LIST/own"
  if [ -d .previous/.markers ] && [ ! -L .previous/.markers ]; then
    find .previous/.markers -mindepth 1 -maxdepth 1 -printf '%y\t%i\t%p\0' >> "$LIST/own"
  fi
  # One walk of every plugin dir (the dot dirs are the delivery's own): sizes and sums together.
  # find never follows a symlink, so only regular files inside the dirs count, as in SPEC §3.
  find . -mindepth 2 -path './.*' -prune -o -type f -fprintf "$LIST/sizes" '%s\t%P\0' -exec sha256sum -- {} + > "$LIST/sums"
  find . -mindepth 2 -maxdepth 2 -path './.*' -prune -o -name plugin.yaml -type f -size -257k -print0 > "$WORK/copied"
  if [ -d .molecule ] && [ ! -L .molecule ]; then
    find .molecule -mindepth 1 -maxdepth 1 -name '*.json' -type f -size -9k -print0 >> "$WORK/copied"
  fi
fi
if [ -d "$SKILLS_DIR" ]; then
  (cd -- "$SKILLS_DIR" && find . -mindepth 2 -type f -exec sha256sum -- {} + > "$LIST/skills")
fi

STEP='pack'
ARCHIVE="$WORK/inventory.tar.gz"
if [ -s "$WORK/copied" ]; then
  tar -czf "$ARCHIVE" -C "$WORK" inventory -C "$PLUGINS" --null --no-recursion -T "$WORK/copied"
else
  tar -czf "$ARCHIVE" -C "$WORK" inventory
fi
bytes=$(stat -c %s -- "$ARCHIVE")
files=$(tr -cd '\0' < "$LIST/sizes" | wc -c)
if [ "$bytes" -gt "$MAX_BYTES" ]; then
  trap - EXIT
  rm -rf -- "$WORK"
  result '{"ok":false,"code":"inventory_too_large","bytes":'"$bytes"',"files":'"$files"'}'
  exit 0
fi

STEP='upload'
curl -fsS --proto '=http,https' --connect-timeout 10 --max-time "$MAX_TIME" --retry 3 -T "$ARCHIVE" -- "$UPLOAD_URL"

trap - EXIT
rm -rf -- "$WORK"
result '{"ok":true,"action":"inventoried","bytes":'"$bytes"',"files":'"$files"'}'
