#!/bin/sh
# Re-fetches the vendored Vega builds that `gradlab report` embeds, exactly as
# package-lock.json pins them, and rewrites vendor.json (their checksums).
#
#   ./update.sh            npm ci from the lock; copy the three UMD builds
#   ./update.sh --check    the same fetch, into a temporary folder only: exits 1
#                          when a vendored file differs from what the lock gives
#   ./update.sh --upgrade  npm install (re-resolves package.json, rewrites the
#                          lock), then copy: after editing the versions in
#                          package.json
#
# npm checks every tarball against the lock's sha512 integrity. Needs npm and
# node, and the npm registry; the build itself never does (the CMake configure
# step checks the vendored files against vendor.json and the lock offline).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-}
case "$mode" in "" | --check | --upgrade) ;; *) echo "usage: $0 [--check|--upgrade]" >&2; exit 2 ;; esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/package.json" "$work/"
[ "$mode" = --upgrade ] || cp "$here/package-lock.json" "$work/"
cd "$work"
if [ "$mode" = --upgrade ]; then
  npm install --ignore-scripts --no-audit --no-fund
else
  npm ci --ignore-scripts --no-audit --no-fund
fi

# package, file in the package, vendored name
files="vega build/vega.min.js vega.min.js
vega-lite build/vega-lite.min.js vega-lite.min.js
vega-embed build/vega-embed.min.js vega-embed.min.js"

if [ "$mode" = --check ]; then
  status=0
  echo "$files" | while read -r pkg from name; do
    if cmp -s "node_modules/$pkg/$from" "$here/$name"; then echo "ok: $name"; else echo "DIFFERS: $name" >&2; exit 1; fi
  done || status=1
  cmp -s package-lock.json "$here/package-lock.json" || { echo "DIFFERS: package-lock.json" >&2; status=1; }
  exit $status
fi

echo "$files" | while read -r pkg from name; do
  cp "node_modules/$pkg/$from" "$here/$name"
  cp "node_modules/$pkg/LICENSE" "$here/LICENSE.$pkg"
done
[ "$mode" = --upgrade ] && cp package-lock.json "$here/package-lock.json"

# vendor.json: what each file is and its SHA-256, checked at configure time.
FILES="$files" HERE="$here" node -e '
const fs = require("fs"), crypto = require("crypto");
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
const out = {comment: "Written by update.sh; checked by vendor.cmake at configure time. Do not edit.", files: []};
for (const line of process.env.FILES.split("\n")) {
  const [pkg, from, name] = line.trim().split(/\s+/);
  const entry = lock.packages["node_modules/" + pkg];
  const bytes = fs.readFileSync(process.env.HERE + "/" + name);
  out.files.push({file: name, package: pkg, version: entry.version, from, integrity: entry.integrity,
                  sha256: crypto.createHash("sha256").update(bytes).digest("hex")});
}
fs.writeFileSync(process.env.HERE + "/vendor.json", JSON.stringify(out, null, 2) + "\n");
'
echo "vendored into $here:"
cat "$here/vendor.json"
