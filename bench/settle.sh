#!/bin/sh
# settle.sh — empties build/bench-trash, where the benchmarks leave their
# folders (see bench/lib.sh for why they do not delete them at once).
#   settle.sh end     after the last benchmark: delete and return.
#   settle.sh start   before the first: if an earlier, interrupted run
#                     left folders there, delete them and then wait out
#                     the 360 s in which ext4 (no journal) scans the freed
#                     inodes at every file creation.
# Run `make bench` a few minutes after anything else deleted many files
# (such as `make test`): the same slowdown would then come from that.
set -eu
cd "$(dirname "$0")/.."
trash=build/bench-trash
[ -d "$trash" ] || exit 0
if [ -z "$(ls -A "$trash")" ]; then
	rmdir "$trash"
	exit 0
fi
n=$(find "$trash" | wc -l)
rm -rf "$trash"
if [ "${1:-end}" = start ]; then
	echo "settle: deleted $n files an earlier benchmark run left; waiting 370 s for ext4 to stop scanning them"
	sync
	sleep 370
fi
