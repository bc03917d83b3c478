#!/usr/bin/env bash
# Start the local Mosquitto and PostgreSQL the tests talk to, if they are not already running.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 1883; then
  echo "services: starting mosquitto"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
if ! port_open 5432; then
  echo "services: starting postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start
fi
for _ in $(seq 50); do port_open 1883 && port_open 5432 && exit 0; sleep 0.2; done
echo "services: mosquitto (1883) or postgresql (5432) did not come up" >&2
exit 1
