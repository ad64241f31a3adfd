#!/usr/bin/env bash
# Provenance of the browser assets served under /static/vendor (the maps and /docs must
# work on an intranet with no internet and no CDN).
#
# Re-fetches the pinned npm packages, checks each tarball against the registry's
# integrity hash pinned here, copies the files the service uses into
# geo_service/static/vendor/<package>/ and checks them against
# geo_service/static/vendor/SHA256SUMS.
#
#   scripts/vendor_assets.sh            fetch, copy, verify
#   scripts/vendor_assets.sh --check    fetch into a temporary folder and compare only
#   scripts/vendor_assets.sh --record   fetch, copy and rewrite SHA256SUMS (after a version bump)
#
# Needs npm and network access to the registry. Nothing runs this at build, test or run time.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENDOR="$ROOT/geo_service/static/vendor"
MODE=${1:-fetch}

# package@version and the registry's integrity (sha512 of the tarball)
declare -A INTEGRITY=(
  [leaflet@1.9.4]="sha512-nxS1ynzJOmOlHp+iL3FyWqK89GtNL8U8rvlMOsQdTTssxZwCXh8N2NB3GDQOL+YR3XnWyZAxwQixURb+FA74PA=="
  [leaflet.vectorgrid@1.3.0]="sha512-kWmj1pKM+MVdo/7Mg5zsB3YrGZvo/uIuiANV9MvWUFOG+Y2xAJzrteDhoIcCgTjHSSRJ36xdeGdIQVhuWjnCZw=="
  [swagger-ui-dist@5.35.0]="sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ=="
  [@expo-google-fonts/noto-sans-sc@0.4.3]="sha512-9rAwdFTFHbO/u6Cs0gj2jZbW74TGIiaFNQnXYH2s5wA1bzVkwbaviL4t8YUV642eGYjg86eH6DkAEQmfNHDncQ=="
  [echarts@5.6.0]="sha512-oTbVTsXfKuEhxftHqL5xprgLoc0k7uScAwtryCgWF6hPYFLRwOUHiFmHGCBKP5NPFNkDVopOieyUqYGH8Fa3kA=="
)

# package@version  source path in the tarball  target path under vendor/
FILES=(
  "leaflet@1.9.4 package/dist/leaflet.js leaflet/leaflet.js"
  "leaflet@1.9.4 package/dist/leaflet.css leaflet/leaflet.css"
  "leaflet@1.9.4 package/dist/images/layers.png leaflet/images/layers.png"
  "leaflet@1.9.4 package/dist/images/layers-2x.png leaflet/images/layers-2x.png"
  "leaflet@1.9.4 package/dist/images/marker-icon.png leaflet/images/marker-icon.png"
  "leaflet@1.9.4 package/dist/images/marker-icon-2x.png leaflet/images/marker-icon-2x.png"
  "leaflet@1.9.4 package/dist/images/marker-shadow.png leaflet/images/marker-shadow.png"
  "leaflet@1.9.4 package/LICENSE leaflet/LICENSE"
  "leaflet.vectorgrid@1.3.0 package/dist/Leaflet.VectorGrid.bundled.min.js leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js"
  "swagger-ui-dist@5.35.0 package/swagger-ui-bundle.js swagger-ui-dist/swagger-ui-bundle.js"
  "swagger-ui-dist@5.35.0 package/swagger-ui-bundle.js.LICENSE.txt swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt"
  "swagger-ui-dist@5.35.0 package/swagger-ui.css swagger-ui-dist/swagger-ui.css"
  "swagger-ui-dist@5.35.0 package/favicon-32x32.png swagger-ui-dist/favicon-32x32.png"
  "swagger-ui-dist@5.35.0 package/LICENSE swagger-ui-dist/LICENSE"
  "swagger-ui-dist@5.35.0 package/NOTICE swagger-ui-dist/NOTICE"
  "@expo-google-fonts/noto-sans-sc@0.4.3 package/LICENSE_FONT fonts/OFL.txt"
  "echarts@5.6.0 package/dist/echarts.min.js echarts/echarts.min.js"
  "echarts@5.6.0 package/LICENSE echarts/LICENSE"
  "echarts@5.6.0 package/NOTICE echarts/NOTICE"
)

# Noto Sans SC (OFL-1.1), cut to GB 2312, punctuation and the shipped division names by
# scripts/subset_font.py: labels, pages and briefs never depend on the viewer's fonts.
FONTS=(
  "@expo-google-fonts/noto-sans-sc@0.4.3 package/400Regular/NotoSansSC_400Regular.ttf fonts/NotoSansSC-Regular.subset.ttf"
  "@expo-google-fonts/noto-sans-sc@0.4.3 package/700Bold/NotoSansSC_700Bold.ttf fonts/NotoSansSC-Bold.subset.ttf"
)
PYTHON="$ROOT/.venv/bin/python"
[ -x "$PYTHON" ] || PYTHON=python3

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TARGET="$VENDOR"
[ "$MODE" = "--check" ] && TARGET="$WORK/vendor"

for spec in "${!INTEGRITY[@]}"; do
  mkdir -p "$WORK/$spec"
  (cd "$WORK/$spec" && npm pack "$spec" --json --silent --pack-destination . > pack.json)
  got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["integrity"])' \
        "$WORK/$spec/pack.json")
  if [ "$got" != "${INTEGRITY[$spec]}" ]; then
    echo "integrity mismatch for $spec: $got" >&2
    exit 1
  fi
  tar -xzf "$WORK/$spec"/*.tgz -C "$WORK/$spec"
done

for line in "${FILES[@]}"; do
  read -r spec source target <<< "$line"
  mkdir -p "$(dirname "$TARGET/$target")"
  cp "$WORK/$spec/$source" "$TARGET/$target"
done

for line in "${FONTS[@]}"; do
  read -r spec source target <<< "$line"
  mkdir -p "$(dirname "$TARGET/$target")"
  "$PYTHON" "$ROOT/scripts/subset_font.py" "$WORK/$spec/$source" "$TARGET/$target"
done

# leaflet.vectorgrid ships its licence (Beerware) in its README only; the bundled
# build includes pbf, vector-tile (BSD-3-Clause), geojson-vt (ISC), topojson-client (BSD-3-Clause)
readme="$WORK/leaflet.vectorgrid@1.3.0/package/README.md"
{
  echo "Leaflet.VectorGrid 1.3.0 — licence, from the package's README.md"
  echo
  sed -n '/^## Legalese/,$p' "$readme" | tail -n +2
  echo
  echo "Bundled in Leaflet.VectorGrid.bundled.min.js (from the same README):"
  grep '(Under' "$readme"
} > "$TARGET/leaflet.vectorgrid/LICENSE"

if [ "$MODE" = "--record" ]; then
  (cd "$VENDOR" && find . -type f ! -name SHA256SUMS ! -name README.md | sort \
     | sed 's|^\./||' | xargs sha256sum > SHA256SUMS)
  echo "wrote $VENDOR/SHA256SUMS"
fi
(cd "$TARGET" && sha256sum --quiet -c "$VENDOR/SHA256SUMS")
echo "vendored assets match SHA256SUMS ($TARGET)"
