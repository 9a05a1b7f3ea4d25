#!/usr/bin/env bash
# Fetches the front-end files from the npm registry and vendors them into static/vendor/,
# so the pages never load anything from a CDN. Run it to upgrade; commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=("htmx.org@2.0.11" "@xterm/xterm@5.5.0" "@xterm/addon-fit@0.10.0")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "${packages[@]}" >/dev/null)
for tarball in "$work"/*.tgz; do
  mkdir -p "${tarball%.tgz}" && tar xzf "$tarball" -C "${tarball%.tgz}"
done
out=static/vendor
mkdir -p "$out"
cp "$work"/htmx.org-*/package/dist/htmx.min.js "$out/htmx.min.js"
cp "$work"/htmx.org-*/package/LICENSE "$out/htmx.LICENSE"
cp "$work"/xterm-xterm-*/package/lib/xterm.js "$out/xterm.js"
cp "$work"/xterm-xterm-*/package/css/xterm.css "$out/xterm.css"
cp "$work"/xterm-xterm-*/package/LICENSE "$out/xterm.LICENSE"
cp "$work"/xterm-addon-fit-*/package/lib/addon-fit.js "$out/addon-fit.js"
sed -i '/sourceMappingURL/d' "$out/xterm.js" "$out/addon-fit.js"

# CodeMirror is a set of ES modules; scripts/editor/ pins them (package-lock.json) with
# esbuild, which bundles our small editor.js and them into one script.
cp scripts/editor/package.json scripts/editor/package-lock.json scripts/editor/editor.js "$work/"
(cd "$work" && npm ci --silent --no-audit --no-fund >/dev/null &&
  npx --no-install esbuild editor.js --bundle --minify --format=iife --target=es2020 \
    --legal-comments=none --outfile=codemirror.js --log-level=warning)
cp "$work/codemirror.js" "$out/codemirror.js"
cp "$work"/node_modules/codemirror/LICENSE "$out/codemirror.LICENSE"

{ printf '%s\n' "${packages[@]}"
  (cd "$work" && npm ls --all --parseable --long --omit=dev 2>/dev/null |
    awk -F: 'NR > 1 && $2 !~ /esbuild/ {print $2}' | sort -u)
} > "$out/VERSIONS"
