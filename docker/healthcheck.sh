#!/bin/bash
# berth-healthcheck: GET /healthz on the address in BERTH_LISTEN and exit 0 on
# HTTP 200. Uses bash's /dev/tcp so the image needs no HTTP client; a wildcard
# listen address (0.0.0.0, ::, or none) is probed on loopback.
set -u
listen=${BERTH_LISTEN:-127.0.0.1:9680}
port=${listen##*:}
host=${listen%:*}
case $host in
'' | 0.0.0.0 | '[::]' | '*') host=127.0.0.1 ;;
esac
host=${host#[}
host=${host%]}
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$listen" >&3
IFS=' ' read -r -t 4 _ status _ <&3 || exit 1
[ "$status" = 200 ]
