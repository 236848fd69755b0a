# Removes this plugin's marker blocks from a memory file. A block starts at a line
# `# Plugin: <name> / rule: ...` or `# Plugin: <name> / fragment: ...` and runs to the next
# `# Plugin: ` header (kept) or through two consecutive blank lines (removed with it). The
# name arrives through the environment and is compared as a string, never used as a regex.
# Exits 3 when the file holds no such block, so an untouched file is never rewritten.
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
