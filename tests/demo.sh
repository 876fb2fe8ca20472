#!/usr/bin/env bash
# ./dev demo: filled in by the launcher (see README).
echo "demo: not yet available" >&2
exit 1
