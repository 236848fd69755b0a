# Prints the skill names a `plugin.yaml` declares under a top-level `skills:` key, as a flow
# list (`[a, b]`) or a block list of names or of `- name: x` items. A tiny YAML subset on
# purpose: hosts have awk but no YAML parser, and every name is validated afterwards.
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
