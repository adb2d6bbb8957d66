#!/usr/bin/env bash
# Installs the external programs the tests need, when they are missing and this machine can:
# running as root with apt-get. Never fails the build by itself: the tests say what is missing
# (and under CI=true they fail instead of skipping).
set -u
# Debian installs daemons in /usr/sbin, which a non-root PATH may lack.
has() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]; }
need=()
has kubectl || need+=(kubectl)
# The drill's real servers (tests of alerts and the team bus); package name = program name.
has prometheus || need+=(prometheus)
has prometheus-alertmanager || need+=(prometheus-alertmanager)
has mosquitto || need+=(mosquitto)
# The team bus's TLS test makes its own CA and client certificate.
has openssl || need+=(openssl)
# The on-call screens read off real terminals of three sizes (tests/test_tmux_screens.py).
has tmux || need+=(tmux)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-tools: missing ${need[*]}; install them yourself (no root or no apt-get here)" >&2
  exit 0
fi
echo "install-tools: installing ${need[*]} with apt-get" >&2
apt-get update -qq >/dev/null 2>&1 || true
# The packages' maintainer scripts may try to start system services (mosquitto on 1883,
# prometheus on 9090); the tests use free ports, so a service that does or does not start is
# harmless. policy-rc.d exit 101 asks invoke-rc.d not to start them at all, where it is used.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" 2>/dev/null && chmod +x "$policy" && made_policy=1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
  >/dev/null 2>&1 || echo "install-tools: apt-get could not install ${need[*]}" >&2
[ "$made_policy" = 1 ] && rm -f "$policy"
exit 0
