#!/usr/bin/env bash
# The deployment files, run: berth as docs/deploy.md sets it up, against the
# test services instead of AWS.
#   - docker/ecs/tenant-app.json is registered with the ECS emulator (its image
#     swapped for the offline tenant image, its family made unique) and must pass the launcher's own
#     DescribeTaskDefinition check (container, bridge, 8000 -> hostPort 0);
#   - berth init-table creates the table in dynalite;
#   - berth-sidecar and berth-launcher run with the environment of
#     docker/ecs/berth-sidecar.json and docker/ecs/berth-launcher.json, changed
#     only where a test must (loopback ports, state files, the emulators);
#   - a tenant is provisioned (201, its URL serves its page), its binding and
#     tenant items reach DynamoDB, berth doctor passes, and DELETE stops it.
#
# Needs the services ./dev test starts: BERTH_TEST_DOCKER_HOST,
# BERTH_TEST_ECS_URL, BERTH_TEST_DYNAMODB_URL and the test keys.
set -euo pipefail

say() { printf 'test_ecs_deploy: %s\n' "$*" >&2; }
fail() {
	printf 'test_ecs_deploy: FAIL: %s\n' "$*" >&2
	for f in "${tmp:-/nonexistent}"/*.log; do
		[ -f "$f" ] || continue
		printf -- '--- %s\n' "$(basename "$f")" >&2
		tail -n 15 "$f" >&2
	done
	exit 1
}

for v in BERTH_TEST_DOCKER_HOST BERTH_TEST_ECS_URL BERTH_TEST_DYNAMODB_URL \
	BERTH_TEST_AWS_ACCESS_KEY_ID BERTH_TEST_AWS_SECRET_ACCESS_KEY BERTH_BINARY_DIR; do
	[ -n "${!v:-}" ] || fail "$v is not set: run under ./dev test (it starts the test services)"
done
src=${BERTH_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=$BERTH_BINARY_DIR
for p in sidecar/berth-sidecar launcher/berth-launcher berth/berth; do
	[ -x "$bin/$p" ] || fail "$bin/$p is not built"
done
for c in curl node ss; do
	command -v "$c" >/dev/null || fail "$c is not installed"
done

tmp=$(mktemp -d /tmp/berth-ecs-deploy.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

export DOCKER_HOST=$BERTH_TEST_DOCKER_HOST
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export AWS_ACCESS_KEY_ID=$BERTH_TEST_AWS_ACCESS_KEY_ID
export AWS_SECRET_ACCESS_KEY=$BERTH_TEST_AWS_SECRET_ACCESS_KEY
export AWS_ENDPOINT_URL_ECS=$BERTH_TEST_ECS_URL AWS_ENDPOINT_URL_DYNAMODB=$BERTH_TEST_DYNAMODB_URL
unset AWS_SESSION_TOKEN AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 20000))
		ss -Htln "sport = :$p" | grep -q . || {
			echo "$p"
			return 0
		}
	done
	fail "no free loopback port"
}

# One AWS JSON call, signed with the test keys (curl's SigV4).
aws_call() { # service target body
	local svc=$1 target=$2 body=$3 url ctype
	case $svc in
	ecs)
		url=$BERTH_TEST_ECS_URL
		ctype=application/x-amz-json-1.1
		target=AmazonEC2ContainerServiceV20141113.$target
		;;
	dynamodb)
		url=$BERTH_TEST_DYNAMODB_URL
		ctype=application/x-amz-json-1.0
		target=DynamoDB_20120810.$target
		;;
	esac
	curl -sS --noproxy '*' -m 20 --aws-sigv4 "aws:amz:$AWS_REGION:$svc" \
		--user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "X-Amz-Target: $target" \
		-H "Content-Type: $ctype" --data-binary "$body" "$url"
}

# `export NAME=VALUE` lines for a task definition's container environment.
# (node: the test services need it anyway.)
task_env() {
	node -e '
const td = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const q = (v) => "\x27" + String(v).replace(/\x27/g, "\x27\\\x27\x27") + "\x27";
for (const e of td.containerDefinitions[0].environment || [])
  if (/^[A-Z_][A-Z0-9_]*$/.test(e.name)) console.log(`export ${e.name}=${q(e.value)}`);
' "$1"
}

json_get() { # json-text field
	node -e 'console.log(JSON.parse(process.argv[1])[process.argv[2]])' "$1" "$2"
}

# The tenant image and the tenant task definition.
image=berth-demo/tenant:latest
"$src/tests/services/tenant-image.sh" "$DOCKER_HOST" "$image" >/dev/null ||
	fail "cannot build the tenant image"
cluster=$(task_env "$src/docker/ecs/berth-launcher.json" | sed -n "s/^export BERTH_CLUSTER='\(.*\)'$/\1/p")
[ -n "$cluster" ] || fail "docker/ecs/berth-launcher.json sets no BERTH_CLUSTER"
aws_call ecs CreateCluster "{\"clusterName\":\"$cluster\"}" >/dev/null || fail "CreateCluster"
# Its family gets a per-run suffix: the emulator may be shared with other tests.
family=tenant-app-test-$$
td=$(node -e '
const td = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
td.containerDefinitions[0].image = process.argv[2];
td.family = process.argv[3];
console.log(JSON.stringify(td));
' "$src/docker/ecs/tenant-app.json" "$image" "$family")
out=$(aws_call ecs RegisterTaskDefinition "$td") || fail "RegisterTaskDefinition"
printf '%s' "$out" | grep -q '"taskDefinitionArn"' || fail "RegisterTaskDefinition: $out"

# The table, named per run so runs never share items.
table=UserPortRegistry-test-$$-$RANDOM
"$bin/berth/berth" init-table --dynamodb-table "$table" >"$tmp/init.log" 2>&1 ||
	fail "berth init-table: $(cat "$tmp/init.log")"
grep -q "table $table: created" "$tmp/init.log" || fail "init-table said: $(cat "$tmp/init.log")"

# The ECS agent's introspection API, emulated over the same dockerd.
aport=$(free_port)
node "$src/tests/services/agent/agent.js" --port "$aport" --docker-host "$DOCKER_HOST" \
	--cluster "$cluster" >"$tmp/agent.log" 2>&1 &
pids+=($!)
# As on a host, the agent answers before the sidecar starts (a sidecar that finds no agent
# retries /v1/metadata after 2 s; the wait below allows for that too).
for _ in $(seq 1 100); do
	curl -fs --noproxy '*' -m 2 -o /dev/null "http://127.0.0.1:$aport/v1/metadata" && break
	sleep 0.1
done

# The sidecar, with its task definition's environment.
sport=$(free_port)
(
	eval "$(task_env "$src/docker/ecs/berth-sidecar.json")"
	export BERTH_DB=$tmp/sidecar/registry.db BERTH_DOCKER_HOST=$DOCKER_HOST
	export BERTH_AGENT_URL=http://127.0.0.1:$aport BERTH_LISTEN=127.0.0.1:$sport
	export BERTH_DYNAMODB_TABLE=$table BERTH_LOG_FORMAT=text
	mkdir -p "$tmp/sidecar"
	exec "$bin/sidecar/berth-sidecar" --host-ip 127.0.0.1 --imds-url none
) >"$tmp/sidecar.log" 2>&1 &
pids+=($!)

# The launcher, with its task definition's environment; the sidecar URL it
# names is the sidecar's port on this host.
lport=$(free_port)
token=deploy-test-$RANDOM$RANDOM
(
	eval "$(task_env "$src/docker/ecs/berth-launcher.json")"
	[ "$BERTH_SIDECAR_URL" = "http://127.0.0.1:9680" ] ||
		echo "unexpected BERTH_SIDECAR_URL $BERTH_SIDECAR_URL" >&2
	export BERTH_SIDECAR_URL=http://127.0.0.1:$sport BERTH_LISTEN=127.0.0.1:$lport
	export BERTH_DB=$tmp/launcher/registry.db BERTH_DYNAMODB_TABLE=$table
	export BERTH_LAUNCHER_TOKEN=$token BERTH_LOG_FORMAT=text BERTH_TASK_DEFINITION=$family
	mkdir -p "$tmp/launcher"
	exec "$bin/launcher/berth-launcher"
) >"$tmp/launcher.log" 2>&1 &
pids+=($!)

for url in "http://127.0.0.1:$sport/healthz" "http://127.0.0.1:$lport/healthz"; do
	for _ in $(seq 1 150); do
		curl -fs --noproxy '*' -m 2 -o /dev/null "$url" && break
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null || fail "a daemon exited before it answered $url"
		done
		sleep 0.2
	done
	curl -fs --noproxy '*' -m 2 -o /dev/null "$url" || fail "$url does not answer"
done
for _ in $(seq 1 50); do
	curl -fs --noproxy '*' "http://127.0.0.1:$sport/healthz" | grep -q "\"cluster\":\"$cluster\"" &&
		break
	sleep 0.2
done
curl -fs --noproxy '*' "http://127.0.0.1:$sport/healthz" | grep -q "\"cluster\":\"$cluster\"" ||
	fail "the sidecar did not read the agent's metadata"

# Provision.
sub=deploy-$$-$RANDOM
body="{\"subdomain\":\"$sub\",\"admin_email\":\"ops@$sub.example\",\"company_name\":\"Deploy $sub\"}"
out=$(curl -sS --noproxy '*' -m 90 -w '\n%{http_code}' -X POST "http://127.0.0.1:$lport/v1/tenants" \
	-H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body")
code=$(tail -n 1 <<<"$out")
tenant=$(head -n 1 <<<"$out")
[ "$code" = 201 ] || fail "POST /v1/tenants answered $code: $tenant"
url=$(json_get "$tenant" url)
port=$(json_get "$tenant" host_port)
arn=$(json_get "$tenant" task_arn)
case $arn in
arn:aws:ecs:*:task/"$cluster"/*) ;;
*) fail "the tenant's task is not an ECS task of $cluster: $arn" ;;
esac
[ "$url" = "http://$sub.127.0.0.1.sslip.io:$port" ] || fail "unexpected URL $url"
say "provisioned $sub at $url (task ${arn##*/})"
curl -sS --noproxy '*' -m 10 --resolve "$sub.127.0.0.1.sslip.io:$port:127.0.0.1" "$url" |
	grep -q "Deploy $sub" || fail "$url does not serve the tenant's page"

# The binding (from the sidecar) and the tenant (from the launcher) in DynamoDB, each waited for in
# the state it must reach (the tenant item first exists as PROVISIONING, and its RUNNING version
# is synced a moment after the 201).
bkey="binding#$arn#app#8000/tcp"
for key in "$bkey" "$sub"; do
	item=
	for _ in $(seq 1 100); do
		item=$(aws_call dynamodb GetItem \
			"{\"TableName\":\"$table\",\"Key\":{\"userId\":{\"S\":\"$key\"}},\"ConsistentRead\":true}")
		printf '%s' "$item" | grep -Eq '"status": *\{"S": *"RUNNING"\}' && break
		sleep 0.2
	done
	printf '%s' "$item" | grep -Eq '"status": *\{"S": *"RUNNING"\}' ||
		fail "item $key is not RUNNING in DynamoDB after 20 s: $item"
done

# berth doctor, pointed at the same services.
"$bin/berth/berth" --db "$tmp/sidecar/registry.db" doctor --dynamodb-table "$table" \
	--docker-host "$DOCKER_HOST" --agent-url "http://127.0.0.1:$aport" >"$tmp/doctor.log" 2>&1 ||
	fail "berth doctor failed: $(cat "$tmp/doctor.log")"

# DELETE stops the task; the binding follows.
out=$(curl -sS --noproxy '*' -m 60 -X DELETE "http://127.0.0.1:$lport/v1/tenants/$sub" \
	-H "Authorization: Bearer $token")
printf '%s' "$out" | grep -q '"status":"STOPPED"' || fail "DELETE answered: $out"
for _ in $(seq 1 100); do
	st=$("$bin/berth/berth" --db "$tmp/sidecar/registry.db" --json get "${arn##*/}" 2>/dev/null || true)
	printf '%s' "$st" | grep -Eq '"status":"(STOPPED|REMOVED)"' && break
	sleep 0.2
done
printf '%s' "$st" | grep -Eq '"status":"(STOPPED|REMOVED)"' ||
	fail "the binding did not stop after DELETE: $st"
say "ok: registered, provisioned, synced, checked and stopped with the docker/ecs files"
