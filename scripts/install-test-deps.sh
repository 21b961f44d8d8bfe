#!/usr/bin/env bash
# System packages the test suite needs (Xvfb and a tray host for the tray test).
# Installs them with apt-get when missing and we are root; otherwise says what is missing.
set -u
need=()
for pair in "Xvfb:xvfb"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages for the tests: ${need[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "missing system packages (tests that need them are skipped): ${need[*]}; install with: sudo apt-get install ${need[*]}"
fi
exit 0
