#!/bin/sh
# Renders every docs/diagrams/*.dot to an .svg beside it with Graphviz (dot).
# The .svg files are committed so the docs read on the web; rerun after editing
# a .dot file:   docs/diagrams/render.sh
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
command -v dot >/dev/null 2>&1 || {
	echo "render.sh: Graphviz 'dot' is not installed (apt-get install graphviz)" >&2
	exit 1
}
for f in "$dir"/*.dot; do
	[ -f "$f" ] || continue
	dot -Tsvg "$f" -o "${f%.dot}.svg.part"
	mv "${f%.dot}.svg.part" "${f%.dot}.svg"
	echo "rendered ${f%.dot}.svg"
done
