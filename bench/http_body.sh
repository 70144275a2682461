#!/bin/sh
# http_body.sh — streams a 2 GiB request body (plain Content-Length, then
# chunked) through Sailo's HTTP layer (tests/httpsink: the layer behind a
# handler that discards bodies) and prints the sink's peak RSS beside the
# body size, and its throughput beside a baseline measured in the same run:
# the same bytes through a pipe into cat (what the machine can move at best).
# Target: peak RSS < 32 MiB whatever the body size.
set -eu
cd "$(dirname "$0")/.."
SINK=build/tests/httpsink
BYTES=${BENCH_BODY_BYTES:-2147483648}

now() { date +%s.%N; }
rate() { awk -v b="$1" -v t0="$2" -v t1="$3" 'BEGIN { printf "%.0f MB/s", b / (t1 - t0) / 1e6 }'; }

body=$(mktemp)
trap 'rm -f "$body"' EXIT
truncate -s "$BYTES" "$body"

t0=$(now); head -c "$BYTES" /dev/zero | cat >/dev/null; t1=$(now)
echo "baseline  pipe into cat       $(rate "$BYTES" "$t0" "$t1")"

for mode in plain chunked; do
	out=$(mktemp)
	$SINK 0 >"$out" &
	pid=$!
	while ! grep -q '^port ' "$out"; do sleep 0.05; done
	port=$(awk '/^port/ { print $2 }' "$out")
	idle=$(awk '/VmHWM/ { print $2 }' /proc/$pid/status)
	t0=$(now)
	# curl -T streams: from a (sparse) file with Content-Length, or from
	# a pipe with Transfer-Encoding: chunked.
	if [ $mode = chunked ]; then
		got=$(head -c "$BYTES" /dev/zero | curl -sS -X POST -H 'Expect:' \
			-T - "http://127.0.0.1:$port/upload")
	else
		got=$(curl -sS -X POST -H 'Expect:' -T "$body" \
			"http://127.0.0.1:$port/upload")
	fi
	t1=$(now)
	peak=$(awk '/VmHWM/ { print $2 }' /proc/$pid/status)
	kill -TERM $pid; wait $pid || true
	rm -f "$out"
	echo "$got" | grep -q "\"bytes\":$BYTES" || { echo "sink got $got, expected $BYTES bytes" >&2; exit 1; }
	printf 'httpsink  %-7s body %s bytes  %s  peak RSS %d KiB (idle %d KiB, target < 32768 KiB)\n' \
		$mode "$BYTES" "$(rate "$BYTES" "$t0" "$t1")" "$peak" "$idle"
done
