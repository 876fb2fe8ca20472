#!/usr/bin/env bash
# A dockerd of berth's own for tests and the demo: its own socket, data root,
# exec root, pidfile and bridge, so it runs beside any other daemon.
#
#   dockerd.sh start DIR [BRIDGE] [CIDR]   start (idempotent); prints the DOCKER_HOST URL
#   dockerd.sh stop DIR [BRIDGE]           stop it and remove the bridge
#   dockerd.sh images DIR                  build the offline test images into it
set -euo pipefail

cmd=${1:?usage: dockerd.sh start|stop|images DIR [BRIDGE] [CIDR]}
dir=$(realpath -m "${2:?state directory}")
bridge=${3:-berth-test0}
cidr=${4:-10.213.7.1/24}
sock="$dir/docker.sock"
host="unix://$sock"

running() {
	[ -S "$sock" ] && DOCKER_HOST=$host timeout 5 docker version >/dev/null 2>&1
}

case $cmd in
start)
	if running; then
		echo "$host"
		exit 0
	fi
	mkdir -p "$dir/data" "$dir/exec"
	if ! ip link show "$bridge" >/dev/null 2>&1; then
		ip link add "$bridge" type bridge
		ip addr add "$cidr" dev "$bridge"
	fi
	ip link set "$bridge" up
	# The userland proxy publishes ports on the host without iptables.
	setsid dockerd --host "$host" --data-root "$dir/data" --exec-root "$dir/exec" \
		--pidfile "$dir/docker.pid" --bridge "$bridge" --iptables=false \
		--ip6tables=false --ip-masq=false --storage-driver vfs --userland-proxy=true \
		>"$dir/dockerd.log" 2>&1 </dev/null &
	for _ in $(seq 1 120); do
		if running; then
			echo "$host"
			exit 0
		fi
		sleep 0.25
	done
	echo "dockerd did not come up; see $dir/dockerd.log" >&2
	tail -n 20 "$dir/dockerd.log" >&2 || true
	exit 1
	;;
stop)
	if [ -f "$dir/docker.pid" ]; then
		pid=$(cat "$dir/docker.pid")
		if kill -0 "$pid" 2>/dev/null; then
			DOCKER_HOST=$host timeout 30 docker ps -aq 2>/dev/null |
				xargs -r env DOCKER_HOST="$host" timeout 60 docker rm -f >/dev/null 2>&1 || true
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 1 80); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.25
			done
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	# dockerd leaves its network namespace files (nsfs) mounted under the exec root.
	awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r |
		xargs -r -n 1 umount -l 2>/dev/null || true
	ip link del "$bridge" 2>/dev/null || true
	;;
images)
	# berth-test/busybox: a busybox-static root, imported offline.
	if ! DOCKER_HOST=$host docker image inspect berth-test/busybox:latest >/dev/null 2>&1; then
		root=$(mktemp -d)
		mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/etc"
		cp /bin/busybox "$root/bin/busybox"
		for app in sh httpd nc sleep cat echo ls env sed printf wget true; do
			ln -s busybox "$root/bin/$app"
		done
		echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
		tar -C "$root" -c . | DOCKER_HOST=$host docker import \
			-c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - berth-test/busybox:latest >/dev/null
		rm -rf "$root"
	fi
	;;
*)
	echo "unknown command $cmd" >&2
	exit 2
	;;
esac
