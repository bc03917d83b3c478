#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: system packages the tests need, the services, a venv.
# Used by scripts/test.sh and scripts/demo.sh; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

want_apt=()
command -v promtool >/dev/null || want_apt+=(prometheus)          # rule tests: promtool check/test rules
command -v amtool >/dev/null || want_apt+=(prometheus-alertmanager)  # amtool check-config, routes test
[ -x /usr/bin/chromium ] || want_apt+=(chromium chromium-driver)  # console tests drive Debian's Chromium
fc-list 2>/dev/null | grep -qi "IPAGothic" || want_apt+=(fonts-ipafont-gothic)  # Japanese in screenshots and PDFs
# WeasyPrint (the report PDF) opens these at import: Pango for text, HarfBuzz to subset fonts
/sbin/ldconfig -p | grep "libpango-1.0.so.0" >/dev/null || want_apt+=(libpango-1.0-0)
/sbin/ldconfig -p | grep "libpangoft2-1.0.so.0" >/dev/null || want_apt+=(libpangoft2-1.0-0)
/sbin/ldconfig -p | grep "libharfbuzz-subset.so.0" >/dev/null || want_apt+=(libharfbuzz-subset0)
command -v mosquitto_passwd >/dev/null || want_apt+=(mosquitto)   # broker ACL tests run their own broker
command -v pg_dump >/dev/null || want_apt+=(postgresql-client)   # restore drill: pg_dump / pg_restore
command -v make >/dev/null && command -v cc >/dev/null || want_apt+=(build-essential)  # the C device example is compiled
[ -f /usr/include/MQTTClient.h ] || want_apt+=(libpaho-mqtt-dev)  # ... against Eclipse Paho C
command -v openssl >/dev/null || want_apt+=(openssl)              # a test CA for the C example over TLS
if [ "${#want_apt[@]}" -gt 0 ] && [ "${SKIP_APT:-0}" != 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${want_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want_apt[@]}" >/dev/null
  else
    echo "setup: please install: sudo apt-get install ${want_apt[*]}" >&2
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[demo,test,dev]'
