#!/bin/bash
# test_layer_map.sh - the layer map of docs/architecture.md matches the tree:
# every source file of a layer is named in that layer's row (as `name.c`,
# `name.h` or `name`; a command file app/cmd_X.c by its command, `X`), and
# every `file.c` / `file.h` a row names exists in that layer.
#
# usage: test_layer_map.sh SOURCE_DIR
set -u
src=${1:?usage: test_layer_map.sh SOURCE_DIR}
doc="$src/docs/architecture.md"
fails=0
for layer in core cmp store transports ca_backends app; do
  row=$(grep -m1 "^| \`$layer/\` |" "$doc")
  if [ -z "$row" ]; then
    echo "FAIL: no row for $layer/ in docs/architecture.md"
    fails=$((fails + 1))
    continue
  fi
  for f in "$src/$layer"/*.c; do
    base=$(basename "$f" .c)
    names=("\`$base.c\`" "\`$base.h\`" "\`$base\`")
    case "$base" in cmd_*) names+=("\`${base#cmd_}\`") ;; esac
    found=0
    for n in "${names[@]}"; do
      case "$row" in *"$n"*) found=1 ;; esac
    done
    if [ $found = 0 ]; then
      echo "FAIL: $layer/$base.c is not in the $layer/ row of docs/architecture.md"
      fails=$((fails + 1))
    fi
  done
  # What the row names exists.
  for n in $(printf '%s\n' "$row" | grep -o '`[a-z0-9_]*\.[ch]`' | tr -d '`' | sort -u); do
    if [ ! -e "$src/$layer/$n" ]; then
      echo "FAIL: the $layer/ row names $n, which is not in $layer/"
      fails=$((fails + 1))
    fi
  done
done
if [ $fails -gt 0 ]; then
  echo "$fails mismatches between docs/architecture.md and the tree"
  exit 1
fi
echo "ok: the layer map names every source file, and only files that exist"
