#!/usr/bin/env bash
# The berth image, built and run on the test dockerd:
#   1. a Debian 12 base made with debootstrap from this machine's configured
#      Debian mirror (cached as a tarball under .state/), imported under the
#      tag docker/Dockerfile names;
#   2. docker build of docker/Dockerfile (host networking for its apt installs);
#   3. the sidecar image run as its non-root user with the Docker socket mounted
#      read-only (plus the socket's group) and --host-ip 127.0.0.1; a busybox
#      container started with -p 0:8000 must show up as a binding in the
#      sidecar's HTTP API and in the registry read with the image's berth;
#      stopping it must mark the binding STOPPED; the HEALTHCHECK must pass.
#
# Needs BERTH_TEST_DOCKER_HOST (./dev test sets it) and root (debootstrap).
set -euo pipefail

say() { printf 'test_image: %s\n' "$*" >&2; }
fail() {
	printf 'test_image: FAIL: %s\n' "$*" >&2
	exit 1
}

[ -n "${BERTH_TEST_DOCKER_HOST:-}" ] ||
	fail "BERTH_TEST_DOCKER_HOST is not set: start the test dockerd (./dev test does)"
src=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export DOCKER_HOST=$BERTH_TEST_DOCKER_HOST
export DOCKER_BUILDKIT=0 # the legacy builder: dockerd alone, no buildx plugin needed
case $DOCKER_HOST in
unix://*) sock=${DOCKER_HOST#unix://} ;;
*) fail "BERTH_TEST_DOCKER_HOST must be a unix:// socket, got $DOCKER_HOST" ;;
esac
[ -S "$sock" ] || fail "no Docker socket at $sock"
timeout 10 docker version >/dev/null 2>&1 || fail "dockerd at $DOCKER_HOST does not answer"
command -v curl >/dev/null || fail "curl is not installed"

image=berth-test/berth
base=$(sed -n 's/^ARG DEBIAN_BASE=//p' "$src/docker/Dockerfile")
[ -n "$base" ] || fail "docker/Dockerfile has no 'ARG DEBIAN_BASE=' line"
tmp=$(mktemp -d /tmp/berth-image-test.XXXXXX)
name=berth-image-test-$$
cleanup() {
	docker rm -f "$name-sidecar" "$name-app" "$name-ecs" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# The bookworm mirror apt uses here: one-line sources.list entries first, then
# deb822 .sources files (a stanza whose Suites include exactly "bookworm").
debian_mirror() {
	local f
	if [ -f /etc/apt/sources.list ]; then
		awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == "bookworm") { print $i; exit } }' /etc/apt/sources.list
	fi
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'function flush() { if (deb && uri != "" && suite) { print uri; found = 1; exit }
				deb = 0; uri = ""; suite = 0 }
			/^[ \t]*$/ { flush(); next }
			/^Types:/ { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
			END { if (!found) flush() }' "$f"
	done
}

# 1. The base image.
if ! docker image inspect "$base" >/dev/null 2>&1; then
	cache="$src/.state/images/debian-bookworm-minbase.tar"
	if [ ! -s "$cache" ]; then
		command -v debootstrap >/dev/null || fail "debootstrap is not installed (./dev deps)"
		mirror=$(debian_mirror | head -n 1)
		[ -n "$mirror" ] || fail "no bookworm mirror in /etc/apt/sources.list{,.d/*.sources}"
		say "debootstrap --variant=minbase bookworm from $mirror"
		mkdir -p "$(dirname "$cache")"
		debootstrap --variant=minbase bookworm "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
			{
				tail -n 20 "$tmp/debootstrap.log" >&2
				fail "debootstrap failed"
			}
		tar -C "$tmp/rootfs" -c . >"$cache.part"
		mv "$cache.part" "$cache"
		rm -rf "$tmp/rootfs"
	fi
	say "importing $cache as $base"
	docker import -c 'CMD ["bash"]' "$cache" "$base" >/dev/null || fail "docker import failed"
fi

# 2. The image, from the sources only (no build trees, state or VCS data).
# The build stage is tagged too, so that pruning what earlier runs left keeps
# the layers with the installed packages (the reruns' cache).
context() {
	tar -C "$src" --exclude=./.git --exclude=./.state --exclude='./build*' \
		--exclude=./tests/services/node_modules -c .
}
say "docker build -f docker/Dockerfile -t $image"
if ! context | docker build --network host -f docker/Dockerfile --target build \
	-t "$image-build" - >"$tmp/build.log" 2>&1 ||
	! context | docker build --network host -f docker/Dockerfile -t "$image" - \
		>>"$tmp/build.log" 2>&1; then
	tail -n 40 "$tmp/build.log" >&2
	fail "docker build failed"
fi
for t in berth berth-build; do
	docker image prune -f --filter "label=org.opencontainers.image.title=$t" >/dev/null 2>&1 || true
done
[ "$(docker image inspect -f '{{.Config.User}}' "$image")" = berth ] ||
	fail "the image does not run as the berth user"
docker image inspect -f '{{json .Config.Healthcheck}}' "$image" | grep -q berth-healthcheck ||
	fail "the image has no HEALTHCHECK running berth-healthcheck"
for p in berth-sidecar berth-launcher berth; do
	docker run --rm "$image" "$p" --version >"$tmp/version" 2>&1 ||
		fail "$p --version fails in the image: $(cat "$tmp/version")"
done
if docker run --rm "$image" sh -c 'command -v cc || command -v cmake' >/dev/null 2>&1; then
	fail "the runtime image carries a compiler or cmake"
fi

# 3. The sidecar, as uid 10001 with the socket's group, on the host network.
gid=$(stat -c %g "$sock")
mkdir -p "$tmp/berth"
chown 10001:10001 "$tmp/berth"
port=
for _ in $(seq 1 50); do
	p=$((20000 + RANDOM % 20000))
	if ! ss -Htln "sport = :$p" | grep -q .; then
		port=$p
		break
	fi
done
[ -n "$port" ] || fail "no free loopback port"
docker run -d --name "$name-sidecar" --network host --group-add "$gid" \
	-v "$sock:/var/run/docker.sock:ro" -v "$tmp/berth:/var/lib/berth" \
	-e BERTH_LISTEN="127.0.0.1:$port" "$image" \
	berth-sidecar --host-ip 127.0.0.1 --agent-url none >/dev/null ||
	fail "cannot start the sidecar container"
api="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
	curl -fsS --max-time 2 "$api/healthz" >/dev/null 2>&1 && break
	[ "$(docker inspect -f '{{.State.Running}}' "$name-sidecar")" = true ] || break
	sleep 0.2
done
curl -fsS --max-time 2 "$api/healthz" >/dev/null 2>&1 || {
	docker logs "$name-sidecar" 2>&1 | tail -n 30 >&2
	fail "the sidecar image does not answer GET /healthz on $api"
}

cid=$(docker run -d --name "$name-app" -p 0:8000 berth-test/busybox:latest \
	httpd -f -p 8000 -h /www) || fail "cannot start the busybox container"
hp=$(docker port "$cid" 8000/tcp | sed -n '1s/.*:\([0-9][0-9]*\)$/\1/p')
[ -n "$hp" ] || fail "docker published no host port for 8000/tcp"
say "container ${cid:0:12} published 8000/tcp on host port $hp"

# The sidecar's API: the binding, with the host IP given and Docker's port.
body=
for _ in $(seq 1 100); do
	body=$(curl -fsS --max-time 5 "$api/v1/bindings?task=$cid" 2>/dev/null || true)
	printf '%s' "$body" | grep -Eq "\"host_port\": ?$hp[,}]" && break
	sleep 0.2
done
printf '%s' "$body" | grep -Eq "\"host_port\": ?$hp[,}]" || {
	docker logs "$name-sidecar" 2>&1 | tail -n 30 >&2
	fail "no binding with host_port $hp in GET /v1/bindings?task=$cid: $body"
}
printf '%s' "$body" | grep -Eq '"host_ip": ?"127\.0\.0\.1"' ||
	fail "the binding's host_ip is not 127.0.0.1: $body"
printf '%s' "$body" | grep -Eq '"container_port": ?8000[,}]' ||
	fail "the binding's container_port is not 8000: $body"

# The registry on the shared volume, read with the image's berth.
out=$(docker run --rm -v "$tmp/berth:/var/lib/berth" "$image" \
	berth --db /var/lib/berth/registry.db --json ls 2>&1) ||
	fail "berth --json ls failed in the image: $out"
printf '%s' "$out" | grep -Eq "\"host_port\": ?$hp[,}]" ||
	fail "berth --json ls does not show host port $hp: $out"

# Stopping the container marks the binding STOPPED.
docker stop -t 1 "$cid" >/dev/null
for _ in $(seq 1 100); do
	body=$(curl -fsS --max-time 5 "$api/v1/bindings?task=$cid" 2>/dev/null || true)
	printf '%s' "$body" | grep -Eq '"status": ?"STOPPED"' && break
	sleep 0.2
done
printf '%s' "$body" | grep -Eq '"status": ?"STOPPED"' ||
	fail "the binding did not become STOPPED after docker stop: $body"

# The image's HEALTHCHECK (first probe after its 15 s interval).
health=
for _ in $(seq 1 60); do
	health=$(docker inspect -f '{{.State.Health.Status}}' "$name-sidecar")
	[ "$health" = healthy ] && break
	[ "$health" = unhealthy ] && break
	sleep 1
done
[ "$health" = healthy ] || fail "the sidecar container's health is '$health', not healthy"

# The sidecar as docker/ecs/berth-sidecar.json runs it: uid 0, every capability
# dropped, a read-only root filesystem with a tmpfs /tmp.
mkdir -p "$tmp/ecs"
port2=$(( port + 1 ))
ss -Htln "sport = :$port2" | grep -q . && port2=$(( port + 2 ))
docker run -d --name "$name-ecs" --network host --user 0 --cap-drop ALL --read-only \
	--tmpfs /tmp:size=16m -v "$sock:/var/run/docker.sock:ro" -v "$tmp/ecs:/var/lib/berth" \
	-e BERTH_LISTEN="127.0.0.1:$port2" "$image" \
	berth-sidecar --host-ip 127.0.0.1 --agent-url none --imds-url none >/dev/null ||
	fail "cannot start the sidecar as the ECS task definition runs it"
for _ in $(seq 1 100); do
	curl -fsS --max-time 2 "http://127.0.0.1:$port2/healthz" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -fsS --max-time 2 "http://127.0.0.1:$port2/healthz" >/dev/null 2>&1 || {
	docker logs "$name-ecs" 2>&1 | tail -n 20 >&2
	fail "the sidecar does not come up as root without capabilities on a read-only root"
}
[ -s "$tmp/ecs/registry.db" ] || fail "the ECS-style sidecar wrote no registry"

say "ok: binding 8000/tcp -> 127.0.0.1:$hp recorded, stopped, health $health; ECS-style run ok"
