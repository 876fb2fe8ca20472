#!/usr/bin/env bash
# Builds the demo tenant image offline from busybox-static: a web page on
# port 8000 (PORT overrides) showing the tenant's company name, which the
# launcher passes as BERTH_COMPANY_NAME (BERTH_TENANT names the tenant).
#
#   tenant-image.sh DOCKER_HOST [TAG]     (TAG defaults to berth-demo/tenant:latest)
#
# Idempotent: an existing image with the same content label is kept.
set -euo pipefail

host=${1:?usage: tenant-image.sh DOCKER_HOST [TAG]}
tag=${2:-berth-demo/tenant:latest}
busybox=$(command -v busybox || echo /bin/busybox)

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for app in sh httpd printf kill sleep; do
	ln -s busybox "$root/bin/$app"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
echo 'www:x:100:100:www:/www:/bin/sh' >>"$root/etc/passwd"
cat >"$root/bin/berth-tenant" <<'EOF'
#!/bin/sh
# The tenant's entry point: writes the page, serves it, stops on TERM.
# Values from the environment are HTML-escaped with shell substitutions only
# (no child processes, so the page is up a moment after the container starts);
# DATABASE_URL is never shown.
# esc VALUE: sets v to VALUE escaped for HTML.
esc() {
	v=$1 q="'"
	v=${v//&/&amp;}
	v=${v//</&lt;}
	v=${v//>/&gt;}
	v=${v//\"/&quot;}
	v=${v//$q/&#39;}
}
trap 'kill $pid 2>/dev/null; exit 0' TERM INT
esc "${BERTH_COMPANY_NAME:-a berth tenant}"
name=$v
esc "${BERTH_TENANT:-}"
tenant=$v
esc "${DB_NAME:-}"
db=$v
printf '%s\n' '<!doctype html>' \
	"<html><head><meta charset=\"utf-8\"><title>$name</title></head>" \
	"<body><h1>$name</h1>" \
	"<p>Tenant <b>$tenant</b> (database $db) is served by berth.</p></body></html>" \
	>/www/index.html
httpd -f -p "${PORT:-8000}" -h /www &
pid=$!
wait $pid
EOF
chmod 755 "$root/bin/berth-tenant"
sum=$( (cd "$root" && tar --sort=name --mtime=@0 --owner=0 --group=0 -cf - .) | sha256sum | cut -c1-16)
have=$(DOCKER_HOST=$host docker image inspect -f '{{index .Config.Labels "berth.content"}}' "$tag" 2>/dev/null || true)
if [ "$have" = "$sum" ]; then
	exit 0
fi
tar -C "$root" -c . | DOCKER_HOST=$host docker import \
	-c 'ENV PATH=/bin' -c 'EXPOSE 8000' -c "LABEL berth.content=$sum" \
	-c 'CMD ["/bin/berth-tenant"]' - "$tag" >/dev/null
