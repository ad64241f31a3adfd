#!/usr/bin/env bash
# Install the system packages the test suite uses, when this machine allows it:
# PostGIS for the PostgreSQL on 127.0.0.1:5432, a CJK font, Chromium, poppler-utils and QGIS. Never fails the build by itself:
# tests that need a missing package skip with a reason (and fail under CI=true).
set -u
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "sysdeps: not root or no apt-get; PostGIS tests will skip unless the server already has it"
  exit 0
fi
pgver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -n 1)
pkgs=()
if [ -n "$pgver" ] && ! dpkg -s "postgresql-$pgver-postgis-3" >/dev/null 2>&1; then
  pkgs+=("postgresql-$pgver-postgis-3")
fi
# A CJK font, so that Chinese labels render in plots (and, later, browser screenshots).
if ! dpkg -s fonts-wqy-zenhei >/dev/null 2>&1; then
  pkgs+=("fonts-wqy-zenhei")
fi
# Chromium, for the headless-browser tests of the maps (driven by Playwright's own driver).
if ! dpkg -s chromium >/dev/null 2>&1; then
  pkgs+=("chromium")
fi
# poppler-utils (pdftoppm, pdffonts, pdftotext), to check the printed briefing as a reader sees it.
if ! dpkg -s poppler-utils >/dev/null 2>&1; then
  pkgs+=("poppler-utils")
fi
# QGIS (headless), to open the served QGIS project as GIS staff would; the providers package
# holds the OGC API - Features, XYZ and GDAL providers.
for pkg in python3-qgis qgis-providers; do
  dpkg -s "$pkg" >/dev/null 2>&1 || pkgs+=("$pkg")
done
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "sysdeps: installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 \
    || echo "sysdeps: could not install ${pkgs[*]}"
fi
# Start the cluster when it is installed but not running.
if [ -n "$pgver" ] && command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$pgver" main start || true
fi
exit 0
