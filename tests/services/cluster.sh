#!/usr/bin/env bash
# A cluster of N hosts on this one machine, for tests and the cluster bench.
# Each host is a network namespace joined to the root namespace by a veth
# pair on a bridge of its own (berthc0, 10.231.0.1/24; host i is 10.231.0.1i),
# with its own dockerd (started with nsenter --net, not ip netns exec, which
# remounts /sys and hides the cgroup mounts dockerd needs), the demo tenant
# image, and an ECS agent introspection emulator on the host's 127.0.0.1:51678
# naming the host's container instance. A DynamoDB (dynalite) listens on the
# bridge address, reachable from every host and from the root namespace.
#
#   cluster.sh up DIR N [KEYS_URL_FILE]   make it (N 1..9); prints `export K=V` lines
#   cluster.sh down DIR                   remove everything it made (also after a crash)
#
# Nothing else on the machine uses 10.231.0.0/24. The hosts reach nothing but
# the bridge; traffic never leaves the machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: cluster.sh up|down DIR [N]}
dir=$(realpath -m "${2:?state directory}")
bridge=berthc0
net=10.231.0
akid=AKIDBERTHTEST
secret=berth-test-secret

arn_of() { echo "arn:aws:ecs:us-east-1:123456789012:container-instance/berth-test/host$1"; }

# shellcheck source=tests/services/pidfile.sh
. "$here/pidfile.sh"

down() {
	local ns h
	pid_stop "$dir/dynalite.pid" 10
	for h in "$dir"/host*; do
		[ -d "$h" ] || continue
		ns=berth-$(basename "$h")
		for p in "$h"/*.pid; do
			[ -e "$p" ] || continue
			case $p in */docker.pid) ;; *) pid_stop "$p" 10 ;; esac
		done
		if [ -e "/var/run/netns/$ns" ]; then
			nsenter --net="/var/run/netns/$ns" "$here/dockerd.sh" stop "$h/docker" || true
		else
			"$here/dockerd.sh" stop "$h/docker" nonexistent-bridge0 >/dev/null 2>&1 || true
		fi
		ip netns del "$ns" 2>/dev/null || true
		ip link del "v$(basename "$h")" 2>/dev/null || true
	done
	# Anything left mounted under the state directory (network namespace files).
	awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
		xargs -r -n 1 umount -l 2>/dev/null || true
	ip link del "$bridge" 2>/dev/null || true
}

wait_file() {
	for _ in $(seq 1 120); do
		[ -s "$1" ] && return 0
		sleep 0.25
	done
	echo "cluster.sh: $1 did not appear" >&2
	return 1
}

case $cmd in
up)
	n=${3:?usage: cluster.sh up DIR N}
	keys=${4:-}
	[[ $n =~ ^[1-9]$ ]] || { echo "cluster.sh: N must be 1..9" >&2; exit 2; }
	down
	mkdir -p "$dir"
	trap 'down' ERR
	ip link add "$bridge" type bridge
	ip addr add "$net.1/24" dev "$bridge"
	ip link set "$bridge" up
	echo "export BERTH_CLUSTER_N=$n"
	echo "export BERTH_CLUSTER_DIR=$dir"
	for i in $(seq 1 "$n"); do
		h=$dir/host$i
		ns=berth-host$i
		ip=$net.1$i
		mkdir -p "$h"
		ip netns add "$ns"
		ip link add "vhost$i" type veth peer name eth0 netns "$ns"
		ip link set "vhost$i" master "$bridge" up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "$ip/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via "$net.1"
		dh=$(nsenter --net="/var/run/netns/$ns" "$here/dockerd.sh" start "$h/docker")
		"$here/tenant-image.sh" "$dh" >/dev/null
		DOCKER_HOST=$dh "$here/dockerd.sh" images "$h/docker" >/dev/null
		setsid nsenter --net="/var/run/netns/$ns" node "$here/agent/agent.js" --port 51678 \
			--docker-host "$dh" --cluster berth-test --instance-arn "$(arn_of "$i")" \
			>"$h/agent.log" 2>&1 </dev/null &
		echo $! >"$h/agent.pid"
		echo "export BERTH_CLUSTER_H${i}_NS=/var/run/netns/$ns"
		echo "export BERTH_CLUSTER_H${i}_IP=$ip"
		echo "export BERTH_CLUSTER_H${i}_DOCKER_HOST=$dh"
		echo "export BERTH_CLUSTER_H${i}_ARN=$(arn_of "$i")"
		echo "export BERTH_CLUSTER_H${i}_DIR=$h"
	done
	rm -f "$dir/dynamodb.url"
	mkdir -p "$dir/dynalite-data"
	set -- --host "$net.1" --path "$dir/dynalite-data" --url-file "$dir/dynamodb.url" \
		--key "$akid:$secret" --key AKIDDDBTEST:ddb-test-secret
	[ -z "$keys" ] || set -- "$@" --keys-url-file "$keys"
	setsid node "$here/dynalite.js" "$@" >"$dir/dynalite.log" 2>&1 </dev/null &
	echo $! >"$dir/dynalite.pid"
	wait_file "$dir/dynamodb.url"
	for i in $(seq 1 "$n"); do
		for _ in $(seq 1 80); do
			nsenter --net="/var/run/netns/berth-host$i" curl -sf -o /dev/null \
				http://127.0.0.1:51678/v1/metadata && break
			sleep 0.25
		done
	done
	echo "export BERTH_CLUSTER_DYNAMODB_URL=$(cat "$dir/dynamodb.url")"
	;;
down)
	down
	;;
*)
	echo "unknown command $cmd" >&2
	exit 2
	;;
esac
