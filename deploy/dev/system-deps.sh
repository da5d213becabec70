#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that the demo and the tests need, if any is missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have python3 || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ "${1:-}" != "--demo" ]; then  # the demo needs only Python; the tests need real servers
have mosquitto || need+=(mosquitto)
have mosquitto_sub || need+=(mosquitto-clients)
{ have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || need+=(postgresql)
have victoria-metrics || need+=(victoria-metrics)
have chromium || need+=(chromium)
have socat || need+=(socat)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || need+=(fonts-noto-cjk)
fi

[ ${#need[@]} -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${need[*]}"
if [ "$(id -u)" -eq 0 ] && have apt-get; then
  echo "installing system packages: ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts these as services on install; our tests start their own on free ports.
else
  echo "missing system packages: ${need[*]}" >&2
  echo "run as root:  $cmd" >&2
  exit 1
fi
