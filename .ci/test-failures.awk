# Reads `bun test` output; prints each failure as its file, its test line and the first lines of its
# error (the message and where it was thrown), so the end of a CI log says what failed.
/^[^ (].*\.test\.(ts|tsx|js):$/ { file = $0; n = 0; next }
# Bun lists the failures once more at the end, after the last file: already shown, under their own files.
/^[0-9]+ tests? failed:$/ { exit }
/^\(pass\)|^\(skip\)|^\(todo\)/ { n = 0; next }
/^\(fail\)/ {
  if (failures++ >= 8) next
  printf "  %s %s\n", file, $0
  shown = 0
  for (i = 1; i <= n && shown < 6; i++) {
    if (buffer[i] !~ /^ *[0-9]+ \| / && buffer[i] ~ /error|Error|Expected|Received|^ +at /) { printf "      %s\n", substr(buffer[i], 1, 200); shown++ }
  }
  n = 0
  next
}
{ if (n < 200) buffer[++n] = $0 }
