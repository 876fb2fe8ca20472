#!/usr/bin/env bash
# The test-side AWS services, all on 127.0.0.1 with ephemeral ports:
# dynalite (DynamoDB), the ECS control-plane emulator, and the container-
# credentials + IMDSv2 emulators (one Node process with the ECS emulator, as
# they share its key store).
#
#   start-node-services.sh start DIR   start (idempotent); prints `export K=V` lines
#   start-node-services.sh stop DIR    stop them (the ECS emulator removes its containers)
#
# The ECS emulator starts containers on $BERTH_TEST_DOCKER_HOST (else on the
# DOCKER_HOST found in DIR/../env, as ./dev writes it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: start-node-services.sh start|stop DIR}
dir=$(realpath -m "${2:?state directory}")
akid=AKIDBERTHTEST
secret=berth-test-secret

# shellcheck source=tests/services/pidfile.sh
. "$here/pidfile.sh"

wait_file() {
	local f=$1 pidf=$2
	for _ in $(seq 1 120); do
		[ -s "$f" ] && return 0
		pid_alive "$pidf" || break
		sleep 0.25
	done
	echo "start-node-services: $(basename "$f" .url) did not come up; see $dir/*.log" >&2
	tail -n 20 "$dir"/*.log >&2 || true
	return 1
}

case $cmd in
start)
	[ -d "$here/node_modules/dynalite" ] ||
		(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	mkdir -p "$dir/dynalite-data"
	dh=${BERTH_TEST_DOCKER_HOST:-}
	if [ -z "$dh" ] && [ -f "$dir/../env" ]; then
		dh=$(sed -n 's/^export BERTH_TEST_DOCKER_HOST=//p' "$dir/../env" | tail -n 1)
	fi
	if ! pid_alive "$dir/dynalite.pid"; then
		rm -f "$dir/dynamodb.url"
		# Signatures are checked as DynamoDB does: the shared test key, the keys the C tests
		# use, and whatever the ECS emulator knows (session keys, keys tests register).
		setsid node "$here/dynalite.js" --path "$dir/dynalite-data" --url-file "$dir/dynamodb.url" \
			--key "$akid:$secret" --key AKIDCLITEST:cli-secret --key AKIDDDBTEST:ddb-test-secret \
			--keys-url-file "$dir/ecs.url" >"$dir/dynalite.log" 2>&1 </dev/null &
		echo $! >"$dir/dynalite.pid"
	fi
	if ! pid_alive "$dir/ecs.pid"; then
		rm -f "$dir/ecs.url" "$dir/metadata.url"
		setsid node "$here/ecs-emulator/index.js" --state "$dir" --docker-host "${dh:-none}" \
			--access-key-id "$akid" --secret-access-key "$secret" \
			>"$dir/ecs.log" 2>&1 </dev/null &
		echo $! >"$dir/ecs.pid"
	fi
	wait_file "$dir/dynamodb.url" "$dir/dynalite.pid"
	wait_file "$dir/ecs.url" "$dir/ecs.pid"
	wait_file "$dir/metadata.url" "$dir/ecs.pid"
	echo "export BERTH_TEST_DYNAMODB_URL=$(cat "$dir/dynamodb.url")"
	echo "export BERTH_TEST_ECS_URL=$(cat "$dir/ecs.url")"
	echo "export BERTH_TEST_METADATA_URL=$(cat "$dir/metadata.url")"
	echo "export BERTH_TEST_AWS_ACCESS_KEY_ID=$akid"
	echo "export BERTH_TEST_AWS_SECRET_ACCESS_KEY=$secret"
	echo "export BERTH_TEST_DYNALITE_JS=$here/dynalite.js"
	;;
stop)
	pid_stop "$dir/ecs.pid"
	pid_stop "$dir/dynalite.pid"
	;;
*)
	echo "unknown command $cmd" >&2
	exit 2
	;;
esac
