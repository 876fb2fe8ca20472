#!/usr/bin/env bash
# The style rules a machine can check: no banned
# function in the C tree (sprintf, strcpy, strcat, strtok, atoi, gets; use snprintf, strtol
# with range checks and length-carrying buffers), and nothing in the build or the tests that
# reads outside the repo.
set -euo pipefail
src=${BERTH_SOURCE_DIR:?run under ctest}
cd "$src"
fail=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
# A call, not a mention in a comment or a longer name (snprintf, strtol are fine).
hits=$(printf '%s\n' $files | xargs -r grep -nHE '(^|[^A-Za-z0-9_])(sprintf|strcpy|strcat|strtok|atoi|gets)[[:space:]]*\(' |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)' || true)
if [ -n "$hits" ]; then
	printf 'test_style: banned functions:\n%s\n' "$hits" >&2
	fail=1
fi
# The pattern is built so that this file does not match itself.
pattern='\.\./shar''ed|BERTH_SHAR''ED_DIR'
outside=$(git grep -nE "$pattern" -- . ':!*.md' 2>/dev/null || true)
if [ -n "$outside" ]; then
	printf 'test_style: the tree reads outside itself:\n%s\n' "$outside" >&2
	fail=1
fi
[ "$fail" = 0 ] && echo "test_style: ok ($(printf '%s\n' $files | wc -l) C files)"
exit "$fail"
