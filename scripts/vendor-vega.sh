#!/usr/bin/env bash
# Vendor the browser side of the interactive charts into the package (src/taiex/report/assets):
# vega, vega-lite (the version Altair's schema names) and vega-embed, minified, from the npm
# registry, with their licences and those of what vega-embed bundles. The page loads them from
# assets/ beside it, never from a CDN. Run again to upgrade; the versions are named once here.
set -euo pipefail
VEGA=6.4.0
VEGA_LITE=6.4.1 # altair.SCHEMA_VERSION of the Altair in pyproject.toml
VEGA_EMBED=7.3.0
# What vega-embed's minified build bundles (its package.json's dependencies): licences only.
BUNDLED=(fast-json-patch json-stringify-pretty-compact semver tslib vega-interpreter
  vega-schema-url-parser vega-themes vega-tooltip)

here=$(cd "$(dirname "$0")/.." && pwd)
out="$here/src/taiex/report/assets"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
unpack() { # name@version -> its package folder
  local tarball
  tarball=$(npm pack --silent "$1" | tail -1)
  mkdir -p "${tarball%.tgz}" && tar xzf "$tarball" -C "${tarball%.tgz}"
  echo "$work/${tarball%.tgz}/package"
}
rm -f "$out"/vega*.js "$out"/LICENSES.txt
mkdir -p "$out"
licences="$out/LICENSES.txt"
echo "Licences of the vendored JavaScript (scripts/vendor-vega.sh)." >"$licences"
for pair in "vega@$VEGA build/vega.min.js" "vega-lite@$VEGA_LITE build/vega-lite.min.js" \
  "vega-embed@$VEGA_EMBED build/vega-embed.min.js"; do
  set -- $pair
  folder=$(unpack "$1")
  name=${1%@*}
  cp "$folder/$2" "$out/$name-${1#*@}.min.js"
  printf '\n==== %s ====\n\n' "$1" >>"$licences"
  cat "$folder/LICENSE" >>"$licences"
done
for name in "${BUNDLED[@]}"; do
  version=$(npm view "vega-embed@$VEGA_EMBED" "dependencies.$name")
  folder=$(unpack "$name@$version")
  printf '\n==== %s@%s (bundled in vega-embed) ====\n\n' "$name" "$(node -p "require('$folder/package.json').version")" >>"$licences"
  cat "$folder"/LICEN[CS]E* >>"$licences"
done
ls -l "$out"
