#!/usr/bin/env bash
# Installs the external programs the tests need, when they are missing and this machine can:
# running as root with apt-get. Never fails the build by itself: the tests say what is missing
# (and under CI=true they fail instead of skipping).
set -u
need=()
command -v kubectl >/dev/null 2>&1 || need+=(kubectl)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-tools: missing ${need[*]}; install them yourself (no root or no apt-get here)" >&2
  exit 0
fi
echo "install-tools: installing ${need[*]} with apt-get" >&2
apt-get update -qq >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
  >/dev/null 2>&1 || echo "install-tools: apt-get could not install ${need[*]}" >&2
exit 0
