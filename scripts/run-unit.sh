#!/usr/bin/env bash
# Runs the C unit test binaries given as arguments (optionally under valgrind)
# and prints one closing line "unit: N passed, N failed".
set -u
vg=""
if [ "${1:-}" = "--valgrind" ]; then
	shift
	vg="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect"
fi
pass=0
fail=0
for t in "$@"; do
	if $vg "$t"; then
		pass=$((pass + 1))
	else
		echo "FAILED: $t" >&2
		fail=$((fail + 1))
	fi
done
label=unit
[ -n "$vg" ] && label=valgrind
echo "$label: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
