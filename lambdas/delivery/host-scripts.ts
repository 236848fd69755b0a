import { posix } from 'node:path';
import { PLUGIN_NAME_RE } from '../shared/types.js';
import { RESULT_PREFIX } from './host-command.js';
import { quote } from './shell.js';

/**
 * Scripts run as root on a workspace host by either transport (SSM or SSH). Conventions:
 *
 * - Every host path starts with `$ROOT`, taken from `MOLECULE_HOST_ROOT`: empty on a real
 *   host; the local emulator points it at the emulated instance's root directory.
 * - Every value that came from a user, a manifest or configuration is passed through `quote`.
 * - stdout carries exactly one line, printed last: `MOLECULE_RESULT {json}` (see
 *   host-command.ts). Diagnostics go to stderr. A failing script still prints its result
 *   line (with `ok: false` and the `step` it failed in) and exits non-zero.
 */

export interface InstallScriptInput {
  configDir: string;
  pluginName: string;
  tarballUrl: string;
  /** Unique per attempt; names the staging directory. */
  ts: string;
  downloadTimeoutSeconds?: number;
}

export interface UninstallScriptInput {
  configDir: string;
  pluginName: string;
  /** Skills the caller knows the plugin declared, removed along with those in its installed `plugin.yaml`. */
  skills?: readonly string[];
}

export interface RestartScriptInput {
  workspaceId: string;
  /** Configuration, e.g. `docker restart ws-{workspaceId}`; the placeholder must stand outside any quotes. */
  command: string;
}

const AGENT_UID_GID = '1000:1000';
const DEFAULT_DOWNLOAD_TIMEOUT_SECONDS = 120;

function assertPluginName(name: string, what = 'plugin name'): void {
  if (!PLUGIN_NAME_RE.test(name)) throw new Error(`invalid ${what} "${name}"`);
}

/** An absolute, normalized directory, returned without its trailing slash ('' for `/`). */
function checkedConfigDir(dir: string): string {
  const trimmed = dir.replace(/\/+$/, '');
  if (!dir.startsWith('/') || (trimmed !== '' && posix.normalize(trimmed) !== trimmed)) {
    throw new Error(`invalid config dir "${dir}"`);
  }
  return trimmed;
}

const RESULT_FUNCTION = `result() { printf '%s%s\\n' ${quote(RESULT_PREFIX)} "$1" >&3; }`;

/** Shared opening: strict mode, stdout reserved for the result line, `$ROOT` and `$CONFIG_DIR`. */
function prelude(configDir: string): string {
  return `set -euo pipefail
umask 022
export LC_ALL=C
# stdout is reserved for the result line (SSM keeps only its first 24 000 characters).
exec 3>&1 1>&2
${RESULT_FUNCTION}
ROOT="\${MOLECULE_HOST_ROOT:-}"
CONFIG_DIR="$ROOT"${quote(checkedConfigDir(configDir))}
PLUGINS="$CONFIG_DIR/plugins"
# A killed script still runs its EXIT trap.
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP`;
}

/**
 * Downloads the staged tarball and swaps it in atomically (SPEC §5): unpack into
 * `plugins/.staging/<name>.<ts>`, move the live copy to `plugins/.previous/<name>`, rename
 * staging into place. Ownership is set before the swap, so the live directory is never
 * root-owned. Any failure restores the live copy and removes the staging files.
 */
export function installScript({ configDir, pluginName, tarballUrl, ts, downloadTimeoutSeconds }: InstallScriptInput): string {
  assertPluginName(pluginName);
  if (!/^[0-9A-Za-z]{1,40}$/.test(ts)) throw new Error(`invalid staging timestamp "${ts}"`);
  if (!/^https?:\/\//i.test(tarballUrl)) throw new Error('the tarball URL must be http(s)');
  const maxTime = Math.max(1, Math.round(downloadTimeoutSeconds ?? DEFAULT_DOWNLOAD_TIMEOUT_SECONDS));

  return `${prelude(configDir)}
NAME=${quote(pluginName)}
TARBALL_URL=${quote(tarballUrl)}
LIVE="$PLUGINS/$NAME"
STAGING_ROOT="$PLUGINS/.staging"
STAGING="$STAGING_ROOT/$NAME."${quote(ts)}
ARCHIVE="$STAGING.tar.gz"
PREVIOUS="$PLUGINS/.previous/$NAME"
STEP=prepare
MOVED_LIVE=0
PLACED=0

own() {
  if chown -R ${AGENT_UID_GID} "$1"; then return 0; fi
  # Real hosts run this as root and must hand the files to the agent's uid; a non-root
  # emulated host (a developer's laptop) keeps its own.
  [ "$(id -u)" != 0 ] || return 1
  echo "not root: $1 stays owned by uid $(id -u)" >&2
}

# Digest of every file's path and, except for SKILL.md files, its content: equal digests mean
# the change only edited existing SKILL.md files, which the runtime hot-reloads without a
# restart. A skill added or removed changes the paths, so it restarts.
non_skill_digest() {
  (cd "$1" && { find . -type f ! -name SKILL.md -exec sha256sum -- {} +; find . -type f -name SKILL.md; } | sort) | sha256sum | cut -d' ' -f1
}

on_exit() {
  status=$?
  set +e
  restored=true
  if [ "$PLACED" = 1 ]; then rm -rf "$LIVE" || restored=false; fi
  if [ "$MOVED_LIVE" = 1 ]; then mv -T "$PREVIOUS" "$LIVE" || restored=false; fi
  rm -rf "$STAGING" "$ARCHIVE"
  rmdir "$STAGING_ROOT" 2>/dev/null
  result '{"ok":false,"code":"delivery_failed","step":"'"$STEP"'","restored":'"$restored"'}'
  [ "$status" != 0 ] || status=1
  exit "$status"
}
trap on_exit EXIT

if [ ! -d "$PLUGINS" ]; then
  mkdir -p "$PLUGINS"
  own "$PLUGINS"
fi
mkdir -p "$STAGING_ROOT"

STEP=download
curl -fsS --proto '=http,https' --connect-timeout 10 --max-time ${maxTime} --retry 3 -o "$ARCHIVE" -- "$TARBALL_URL"

STEP=unpack
mkdir "$STAGING"
tar --no-same-owner --no-same-permissions --touch -xzf "$ARCHIVE" -C "$STAGING"
rm -f "$ARCHIVE"

STEP=chown
own "$STAGING"

STEP=compare
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

STEP=swap
mkdir -p "$PLUGINS/.previous"
rm -rf "$PREVIOUS"
if [ "$REPLACED" = true ]; then
  mv -T "$LIVE" "$PREVIOUS"
  MOVED_LIVE=1
fi
mv -T "$STAGING" "$LIVE"
PLACED=1

trap - EXIT
rmdir "$STAGING_ROOT" 2>/dev/null || true
result '{"ok":true,"action":"installed","replacedPrevious":'"$REPLACED"',"changedOnlySkillDocs":'"$ONLY_SKILL_DOCS"'}'
`;
}

/**
 * Prints the skill names a `plugin.yaml` declares under a top-level `skills:` key, as a flow
 * list (`[a, b]`) or a block list of names or of `- name: x` items. A tiny YAML subset on
 * purpose: hosts have awk but no YAML parser, and every name is validated afterwards.
 */
const MANIFEST_SKILLS_AWK = String.raw`
function clean(s) {
  sub(/\r$/, "", s)
  sub(/[ \t]#.*$/, "", s)
  gsub(/^[ \t]+|[ \t]+$/, "", s)
  sub(/^name:[ \t]*/, "", s)
  gsub(/^["']|["']$/, "", s)
  return s
}
/^skills:/ {
  rest = $0
  sub(/^skills:[ \t]*/, "", rest)
  rest = clean(rest)
  in_list = 0
  if (rest ~ /^\[/) {
    gsub(/[\[\]]/, "", rest)
    n = split(rest, items, ",")
    for (i = 1; i <= n; i++) { s = clean(items[i]); if (s != "") print s }
  } else if (rest == "") {
    in_list = 1
    item_indent = -1
  }
  next
}
in_list {
  if ($0 ~ /^[ \t]*(#.*)?\r?$/) next
  match($0, /^[ \t]*/)
  indent = RLENGTH
  body = substr($0, indent + 1)
  if (indent == 0 && body !~ /^-/) { in_list = 0; next }
  if (body ~ /^-([ \t]|\r?$)/) {
    if (item_indent < 0) item_indent = indent
    if (indent == item_indent) { s = clean(substr(body, 2)); if (s != "") print s }
  }
}
`;

/**
 * Removes this plugin's marker blocks from a memory file. A block starts at a line
 * `# Plugin: <name> / rule: ...` or `# Plugin: <name> / fragment: ...` and runs to the next
 * `# Plugin: ` header (kept) or through two consecutive blank lines (removed with it). The
 * name arrives through the environment and is compared as a string, never used as a regex.
 * Exits 3 when the file holds no such block, so an untouched file is never rewritten.
 */
const STRIP_MARKERS_AWK = String.raw`
function starts(s, p) { return substr(s, 1, length(p)) == p }
BEGIN { name = ENVIRON["MOLECULE_PLUGIN"]; header = "# Plugin: "; skipping = 0; removed = 0 }
{
  line = $0
  sub(/\r$/, "", line)
  if (starts(line, header)) {
    rest = substr(line, length(header) + 1)
    skipping = starts(rest, name " / rule:") || starts(rest, name " / fragment:")
    blanks = 0
    if (skipping) { removed = 1; next }
  } else if (skipping) {
    if (line ~ /^[ \t]*$/) { if (++blanks == 2) skipping = 0 } else blanks = 0
    next
  }
  print
}
END { exit removed ? 0 : 3 }
`;

/**
 * Uninstall (SPEC §5): strip the plugin's marker blocks from CLAUDE.md and AGENTS.md, remove
 * `skills/<s>` for every declared skill, then `.previous/<name>`, and the plugin directory
 * last so that a retry after a partial run still finds it. A plugin that is not installed is
 * reported as `{"ok":false,"code":"plugin_not_installed"}` with exit status 0.
 */
export function uninstallScript({ configDir, pluginName, skills = [] }: UninstallScriptInput): string {
  assertPluginName(pluginName);
  for (const skill of skills) assertPluginName(skill, 'skill name');

  return `${prelude(configDir)}
NAME=${quote(pluginName)}
LIVE="$PLUGINS/$NAME"
PREVIOUS="$PLUGINS/.previous/$NAME"
NAME_RE='^[a-z0-9][a-z0-9._-]{0,127}$'
MANIFEST_SKILLS_AWK=${quote(MANIFEST_SKILLS_AWK)}
STRIP_MARKERS_AWK=${quote(STRIP_MARKERS_AWK)}
STEP=prepare

on_failure() { result '{"ok":false,"code":"delivery_failed","step":"'"$STEP"'"}'; }
trap on_failure EXIT

if [ ! -d "$LIVE" ]; then
  trap - EXIT
  result '{"ok":false,"code":"plugin_not_installed"}'
  exit 0
fi

STEP=manifest
SKILLS=${quote(skills.join('\n'))}
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

STEP=markers
STRIPPED=0
strip_markers "$CONFIG_DIR/CLAUDE.md"
strip_markers "$CONFIG_DIR/AGENTS.md"

STEP=skills
REMOVED=0
while IFS= read -r skill; do
  [ -n "$skill" ] || continue
  if [[ ! $skill =~ $NAME_RE ]]; then
    echo "skipping an invalid skill name declared by $NAME" >&2
    continue
  fi
  target="$CONFIG_DIR/skills/$skill"
  if [ -e "$target" ] || [ -L "$target" ]; then
    rm -rf -- "$target"
    REMOVED=$((REMOVED + 1))
  fi
done <<< "$(printf '%s\\n' "$SKILLS" | sort -u)"

STEP=remove
rm -rf -- "$PREVIOUS"
rm -rf -- "$LIVE"

trap - EXIT
result '{"ok":true,"action":"uninstalled","removedSkills":'"$REMOVED"',"strippedFiles":'"$STRIPPED"'}'
`;
}

/** Runs the configured restart command with `{workspaceId}` replaced by the quoted id. */
export function restartScript({ workspaceId, command }: RestartScriptInput): string {
  const line = command.replaceAll('{workspaceId}', quote(workspaceId));
  return `set -euo pipefail
exec 3>&1 1>&2
${RESULT_FUNCTION}
on_failure() { result '{"ok":false,"code":"delivery_failed","step":"restart"}'; }
trap on_failure EXIT
${line}
trap - EXIT
result '{"ok":true,"action":"restarted"}'
`;
}
