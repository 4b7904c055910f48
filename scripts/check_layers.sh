#!/usr/bin/env bash
# Fails when a layer includes a layer above it (docs/architecture.md: arrows point down only).
# Order, lowest first: core text model rollout rewards algo train stages cli. Narrower still:
# rewards uses only core and text; algo uses only core.
set -u
cd "$(dirname "$0")/.."
order=(core text model rollout rewards algo train stages cli)
rank() { local i; for i in "${!order[@]}"; do [ "${order[$i]}" = "$1" ] && echo "$i" && return; done; echo -1; }
status=0
while IFS= read -r line; do
  file=${line%%:*}
  layer=$(echo "$file" | sed -E 's#^(src|include/zeroth)/([a-z_]+)/.*#\2#')
  used=$(echo "$line" | sed -E 's#.*"zeroth/([a-z_]+)/.*#\1#')
  a=$(rank "$layer"); b=$(rank "$used")
  if [ "$a" -ge 0 ] && [ "$b" -gt "$a" ]; then echo "upward include: $line"; status=1; fi
  if [ "$layer" = algo ] && [ "$used" != core ] && [ "$used" != algo ]; then echo "algo must stay pure tensor math: $line"; status=1; fi
  if [ "$layer" = rewards ] && [ "$used" != core ] && [ "$used" != text ] && [ "$used" != rewards ]; then echo "rewards uses only core and text: $line"; status=1; fi
done < <(grep -rnE '#include "zeroth/[a-z_]+/' src include 2>/dev/null)
[ $status -eq 0 ] && echo "layers: no upward includes"
exit $status
