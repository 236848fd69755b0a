# shellcheck shell=bash
# Uninstall (SPEC §5): strip the plugin's marker blocks from CLAUDE.md and AGENTS.md, remove
# `skills/<s>` for every declared skill that is this plugin's copy (listing the others in
# `keptSkills`), then the install marker, `.previous/<name>` with the marker saved for it, and
# the plugin directory last so that a retry after a partial run still finds it. A plugin that is
# not installed is reported as `{"ok":false,"code":"plugin_not_installed"}` with exit status 0.
# Runs after prelude.sh. Inputs: NAME; SKILLS (names the caller knows, one a line);
# MANIFEST_SKILLS_AWK and STRIP_MARKERS_AWK (the programs in manifest-skills.awk, strip-markers.awk).
: "${NAME:?}" "${SKILLS?}" "${MANIFEST_SKILLS_AWK:?}" "${STRIP_MARKERS_AWK:?}"
LIVE="$PLUGINS/$NAME"
PREVIOUS="$PLUGINS/.previous/$NAME"
NAME_RE='^[a-z0-9][a-z0-9._-]{0,127}$'
STEP='prepare'

# shellcheck disable=SC2317 # reached through the EXIT trap
on_failure() { result '{"ok":false,"code":"delivery_failed","step":"'"$STEP"'"}'; }
trap on_failure EXIT

if [ ! -d "$LIVE" ]; then
  trap - EXIT
  result '{"ok":false,"code":"plugin_not_installed"}'
  exit 0
fi

STEP='manifest'
if [ -f "$LIVE/plugin.yaml" ]; then
  declared=$(awk "$MANIFEST_SKILLS_AWK" "$LIVE/plugin.yaml")
  SKILLS="$SKILLS
$declared"
fi

strip_markers() {
  file=$1
  [ -f "$file" ] || return 0
  tmp="$file.molecule-uninstall.$$"
  if MOLECULE_PLUGIN="$NAME" awk "$STRIP_MARKERS_AWK" "$file" > "$tmp"; then
    if [ -L "$file" ]; then
      cat "$tmp" > "$file"
      rm -f "$tmp"
    else
      chown --reference="$file" "$tmp"
      chmod --reference="$file" "$tmp"
      mv -f "$tmp" "$file"
    fi
    STRIPPED=$((STRIPPED + 1))
  else
    status=$?
    rm -f "$tmp"
    [ "$status" = 3 ] || return "$status"
  fi
}

STEP='markers'
STRIPPED=0
strip_markers "$CONFIG_DIR/CLAUDE.md"
strip_markers "$CONFIG_DIR/AGENTS.md"

# A skill dir is this plugin's only when it is the plugin's copy: equal, byte for byte, to the
# same skill in the installed plugin. A same-named dir the plugin does not own is the user's.
owned_skill() {
  [ -d "$LIVE/skills/$1" ] && diff -r -q -- "$LIVE/skills/$1" "$2" > /dev/null 2>&1
}

STEP='skills'
REMOVED=0
KEPT=''
while IFS= read -r skill; do
  [ -n "$skill" ] || continue
  if [[ ! $skill =~ $NAME_RE ]]; then
    echo "skipping an invalid skill name declared by $NAME" >&2
    continue
  fi
  target="$CONFIG_DIR/skills/$skill"
  [ -e "$target" ] || [ -L "$target" ] || continue
  if owned_skill "$skill" "$target"; then
    rm -rf -- "$target"
    REMOVED=$((REMOVED + 1))
  else
    # NAME_RE leaves nothing in a name that JSON would need escaped.
    KEPT="$KEPT${KEPT:+,}\"$skill\""
  fi
done <<< "$(printf '%s\n' "$SKILLS" | sort -u)"

STEP='remove'
rm -f -- "$PLUGINS/.molecule/$NAME.json" "$PLUGINS/.previous/.markers/$NAME.json"
rm -rf -- "$PREVIOUS"
rm -rf -- "$LIVE"

trap - EXIT
result '{"ok":true,"action":"uninstalled","removedSkills":'"$REMOVED"',"strippedFiles":'"$STRIPPED"',"keptSkills":['"$KEPT"']}'
