#!/usr/bin/env bash
# ./dev demo: berth on this machine, end to end, without a network.
#
#   tests/demo.sh start   dockerd (the system one if it answers, else a private one),
#                         the tenant image (built offline), berth-sidecar and
#                         berth-launcher (docker backend, SQLite only), three tenants
#                         provisioned with curl and fetched on 127.0.0.1, `berth ls`,
#                         and the landing page (examples/landing) served from its own
#                         origin by a busybox httpd container. Everything is left running.
#   tests/demo.sh stop    deletes the demo's tenants and stops what start started.
#
# Binaries come from build/ (BERTH_BUILD_DIR overrides); state, logs and pids
# live in .state/demo. Ports: BERTH_DEMO_PORT (launcher, 8080),
# BERTH_DEMO_SIDECAR_PORT (9680; its dashboard at /ui) and
# BERTH_DEMO_LANDING_PORT (the landing page, 8081), all on 127.0.0.1.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BERTH_BUILD_DIR:-$top/build}
dir=$top/.state/demo
lport=${BERTH_DEMO_PORT:-8080}
sport=${BERTH_DEMO_SIDECAR_PORT:-9680}
oport=${BERTH_DEMO_LANDING_PORT:-8081}
landing=berth-demo-landing
bridge=berth-demo0
cidr=10.213.200.1/24
image=berth-demo/tenant:latest
tenants=("acme|Acme Shipping Co.|ops@acme.example" "globex|Globex Corporation|it@globex.example"
	"initech|Initech <TPS> & Sons|bill@initech.example")

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

# Starts "$@" in the background, detached, with its pid in $dir/$name.pid.
spawn() {
	local name=$1
	shift
	setsid "$@" >>"$dir/$name.log" 2>&1 </dev/null &
	echo $! >"$dir/$name.pid"
}

alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

port_busy() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

wait_http() {
	local url=$1 name=$2
	for _ in $(seq 1 100); do
		curl -fs --noproxy '*' -o /dev/null "$url" && return 0
		alive "$name" || break
		sleep 0.1
	done
	tail -n 20 "$dir/$name.log" >&2 || true
	die "$name did not come up (log: $dir/$name.log)"
}

stop_demo() {
	local name pid t sub
	if alive launcher; then
		for t in "${tenants[@]}"; do
			sub=${t%%|*}
			curl -s --noproxy '*' -m 30 -X DELETE "http://127.0.0.1:$lport/v1/tenants/$sub" \
				-o /dev/null || true
		done
	fi
	for name in launcher sidecar; do
		if alive "$name"; then
			pid=$(cat "$dir/$name.pid")
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -9 "$pid" 2>/dev/null || true
		fi
		rm -f "$dir/$name.pid"
	done
	if [ -f "$dir/docker-host" ]; then
		DOCKER_HOST=$(cat "$dir/docker-host") docker rm -f "$landing" >/dev/null 2>&1 || true
	fi
	if [ -f "$dir/own-dockerd" ]; then
		"$top/tests/services/dockerd.sh" stop "$dir/docker" "$bridge" || true
		rm -f "$dir/own-dockerd"
	fi
}

start_demo() {
	local dh t sub name email out url host port
	for b in launcher/berth-launcher sidecar/berth-sidecar berth/berth; do
		[ -x "$build/$b" ] || die "$build/$b is missing: run ./dev build first"
	done
	for c in curl docker ss; do
		command -v "$c" >/dev/null || die "$c is needed (./dev deps installs it)"
	done
	mkdir -p "$dir"
	stop_demo # a second start begins from a clean slate
	port_busy "$lport" && die "127.0.0.1:$lport is taken: set BERTH_DEMO_PORT"
	port_busy "$sport" && die "127.0.0.1:$sport is taken: set BERTH_DEMO_SIDECAR_PORT"
	port_busy "$oport" && die "127.0.0.1:$oport is taken: set BERTH_DEMO_LANDING_PORT"

	if DOCKER_HOST=unix:///var/run/docker.sock timeout 5 docker version >/dev/null 2>&1; then
		dh=unix:///var/run/docker.sock
		say "using the system dockerd ($dh)"
	else
		say "starting a private dockerd under $dir/docker (bridge $bridge)"
		dh=$("$top/tests/services/dockerd.sh" start "$dir/docker" "$bridge" "$cidr")
		touch "$dir/own-dockerd"
	fi
	echo "$dh" >"$dir/docker-host"

	say "building the tenant image $image (offline, from busybox-static)"
	"$top/tests/services/tenant-image.sh" "$dh" "$image"

	say "starting berth-sidecar on 127.0.0.1:$sport"
	rm -f "$dir"/registry.db*
	spawn sidecar "$build/sidecar/berth-sidecar" --db "$dir/registry.db" --docker-host "$dh" \
		--agent-url none --imds-url none --host-ip 127.0.0.1 --listen "127.0.0.1:$sport"
	wait_http "http://127.0.0.1:$sport/healthz" sidecar

	say "starting berth-launcher on 127.0.0.1:$lport (docker backend)"
	spawn launcher "$build/launcher/berth-launcher" --db "$dir/registry.db" \
		--listen "127.0.0.1:$lport" --backend docker --docker-host "$dh" --image "$image" \
		--host-ip 127.0.0.1 --sidecar-url "http://127.0.0.1:$sport" --stop-timeout 3 \
		--cors-origin "http://127.0.0.1:$oport" \
		--database-url-template 'postgres://app@db.internal:5432/{db_name}'
	wait_http "http://127.0.0.1:$lport/healthz" launcher

	for t in "${tenants[@]}"; do
		IFS='|' read -r sub name email <<<"$t"
		say "POST /v1/tenants  subdomain=$sub"
		out=$(curl -sS --noproxy '*' -m 90 -X POST "http://127.0.0.1:$lport/v1/tenants" \
			-H 'Content-Type: application/json' -w '\n%{http_code} %{time_total}s' \
			-d "{\"subdomain\":\"$sub\",\"admin_email\":\"$email\",\"company_name\":\"$name\"}")
		printf '    %s\n' "$(head -n 1 <<<"$out")"
		printf '    HTTP %s\n' "$(tail -n 1 <<<"$out")"
		url=$(head -n 1 <<<"$out" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
		[ -n "$url" ] || die "no URL for $sub (launcher log: $dir/launcher.log)"
		# http://sub.127.0.0.1.sslip.io:PORT -> fetched on 127.0.0.1, never resolved.
		host=${url#http://}
		host=${host%%/*}
		port=${host##*:}
		host=${host%:*}
		say "GET $url  (resolved to 127.0.0.1 locally)"
		curl -sS --noproxy '*' -m 10 --resolve "$host:$port:127.0.0.1" "$url" |
			grep -o '<h1>.*</h1>' | sed 's/^/    /' || die "$url did not serve"
	done

	say "berth ls"
	"$build/berth/berth" --db "$dir/registry.db" ls

	# The landing page from an origin of its own (the launcher allows it with --cors-origin).
	say "serving the landing page on 127.0.0.1:$oport (busybox httpd in a container)"
	rm -rf "$dir/landing"
	cp -r "$top/examples/landing" "$dir/landing"
	printf 'window.BERTH_LAUNCHER_URL = "http://127.0.0.1:%s";\n' "$lport" >"$dir/landing/config.js"
	DOCKER_HOST=$dh docker run -d --name "$landing" -p "127.0.0.1:$oport:8000" \
		-v "$dir/landing:/www:ro" --entrypoint /bin/httpd "$image" -f -p 8000 -h /www >/dev/null
	for _ in $(seq 1 50); do
		curl -fs --noproxy '*' -o /dev/null "http://127.0.0.1:$oport/" && break
		sleep 0.1
	done
	curl -fs --noproxy '*' -o /dev/null "http://127.0.0.1:$oport/" || die "the landing page did not come up"

	printf '\nberth is running:\n'
	printf '  %-9s %-24s (log %s)\n' launcher "http://127.0.0.1:$lport" "$dir/launcher.log" \
		sidecar "http://127.0.0.1:$sport" "$dir/sidecar.log"
	printf '  %-9s %s\n' landing "http://127.0.0.1:$oport/" dashboard "http://127.0.0.1:$sport/ui"
	cat <<EOF
  docker    $dh
Try:  curl -s http://127.0.0.1:$lport/v1/tenants
      $build/berth/berth --db $dir/registry.db ls
Stop: ./dev demo stop
EOF
}

case "${1:-start}" in
start) start_demo ;;
stop)
	mkdir -p "$dir"
	stop_demo
	say "demo stopped"
	;;
*)
	echo "usage: tests/demo.sh start|stop" >&2
	exit 2
	;;
esac
