#!/bin/sh
# ingest.sh — end-to-end ingest, each figure beside a baseline measured in
# the same run on the same package: `tar -xf` of it, then `openssl dgst
# -sha256` of every file, two processes in parallel, then `sync` (the
# practical limit of unpacking and hashing on this machine; not sha256sum,
# which hashes about 4x slower than OpenSSL here).
#  (a) a 1 GiB SÄHKE2 package of 64 files (and its metadata XML): first
#      byte sent → accepted;
#  (b) 100,000 records of ~20 KB (10,000 case files of 10 records):
#      records/s, whole package (target < 60 s);
#  (c) sailo's peak RSS while a 4 GiB package is uploaded and ingested
#      (target <= 64 MiB).
# BENCH_INGEST=a,b,c picks cases.  A database and folders of its own under
# build/bench-ingest; dropped at the end.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
CASES=${BENCH_INGEST:-a,b,c}
dir=$root/build/bench-ingest
db=sailo_bench_ingest_$$
owner="host=$root/var/run dbname=$db user=sailo_owner"
export SAILO_DATABASE_CONNINFO="host=$root/var/run dbname=$db user=sailo_app"
export SAILO_DATABASE_OWNER_CONNINFO="$owner"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SAILO_SERVER_LISTEN=127.0.0.1:$port
export SAILO_LOG_REQUESTS=false
export SAILO_LOG_FILE=$dir/sailo.log
export SAILO_STORAGE_ROOT=$dir/store SAILO_STORAGE_WORK=$dir/work
export SAILO_STORAGE_SPOOL=$dir/spool SAILO_INGEST_INBOX_DIR=

. bench/lib.sh
bench_fresh_dir "$dir"
psql -X -q -v ON_ERROR_STOP=1 "host=$root/var/run dbname=sailo user=sailo_owner" \
	-c "CREATE DATABASE $db"
pid=
cleanup() {
	set +e			# a killed child's status must not end the cleanup
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	psql -X -q "host=$root/var/run dbname=sailo user=sailo_owner" \
		-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
	bench_trash "$dir" end
}
trap cleanup EXIT
./sailo db migrate >/dev/null
token=$(./sailo token create --role integration --name bench-bus 2>/dev/null)
./sailo serve 2>>"$dir/sailo.err" &
pid=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done

now() { date +%s.%N; }

# The baseline: unpack, hash every file with OpenSSL (2 processes), sync.
# Its files stay until the end: ext4 searches longer for free inodes
# right after many were freed, which would slow down whatever runs next.
baseline() {
	x=$dir/baseline-$(basename "$1")
	mkdir "$x"
	# both processes busy: 65 files are 33 + 32, not 64 + 1 (counted
	# from the archive's listing, outside the timed part)
	n=$(tar -tf "$1" | grep -vc '/$')
	per=$(( (n + 1) / 2 < 64 ? (n + 1) / 2 : 64 ))
	sync
	t0=$(now)
	tar -xf "$1" -C "$x"
	find "$x" -type f -print0 |
		xargs -0 -n "$per" -P 2 openssl dgst -sha256 >/dev/null
	sync
	t1=$(now)
	echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }'
}

# Sends a package and waits for its end; prints seconds, and sailo's peak
# RSS in KiB (VmHWM is reset first, so it is this package's).
ingest() {
	/usr/bin/python3 - "$port" "$token" "$1" "$pid" <<'PY'
import json, subprocess, sys, time, requests
port, token, path, pid = sys.argv[1:]
def hwm():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
open(f"/proc/{pid}/clear_refs", "w").write("5")   # reset VmHWM
url = f"http://127.0.0.1:{port}/v1/transfers"
h = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-tar"}
t0 = time.time()
# curl streams the file as an integration platform would (requests would
# spend more CPU sending it than sailo spends receiving it).
out = subprocess.run(["curl", "-sS", "-f", "-X", "POST", "-T", path,
                      "-H", f"Authorization: Bearer {token}",
                      "-H", "Content-Type: application/x-tar", url],
                     capture_output=True, text=True, check=True).stdout
tid = json.loads(out)["id"]
while True:
    t = requests.get(f"{url}/{tid}", headers=h, timeout=60).json()
    if t["status"] in ("accepted", "rejected", "failed"):
        break
    time.sleep(0.05)
t1 = time.time()
assert t["status"] == "accepted", requests.get(f"{url}/{tid}/report", headers=h).text[:2000]
print(f"{t1 - t0:.2f} {hwm()} {len(t['aips'])}")
PY
}

# Where sailo's time went, from the log line of the transfer just accepted
# (written once its working folder is removed, a little after the answer).
phases() {
	n=0
	until [ "$(grep -c ' accepted (' "$dir/sailo.log")" -ge "$1" ] ||
	    [ $n -ge 600 ]; do
		sleep 0.2; n=$((n + 1))
	done
	sed -n 's/.*accepted ([^;]*; \(.*\))$/    phases: \1/p' "$dir/sailo.log" | tail -1
}

k=0	# transfers accepted so far

gen() {
	/usr/bin/python3 tests/e2e/pkggen.py sahke2 "$@" >/dev/null
}

case ",$CASES," in *,a,*)
	gen "$dir/a.tar" --casefiles 8 --records 8 --kb 16384
	base=$(baseline "$dir/a.tar")
	set -- $(ingest "$dir/a.tar")
	echo "$base $1 $2" | awk -v bytes="$(stat -c %s "$dir/a.tar")" '{
	    printf "(a) 1 GiB, 64 files + metadata: sailo %.2f s (%.0f MB/s), baseline %.2f s (%.0f MB/s): ratio %.2f (target <= 1.5); peak RSS %d KiB\n",
	    $2, bytes / $2 / 1e6, $1, bytes / $1 / 1e6, $2 / $1, $3 }'
	k=$((k + 1)); phases $k
	rm -f "$dir/a.tar"
esac

case ",$CASES," in *,b,*)
	gen "$dir/b.tar" --casefiles 10000 --records 10 --kb 20
	base=$(baseline "$dir/b.tar")
	set -- $(ingest "$dir/b.tar")
	echo "$base $1 $2 $3" | awk '{
	    printf "(b) 100,000 records of ~20 KB in %d AIPs: sailo %.1f s (%.0f records/s; target < 60 s), baseline %.1f s: ratio %.2f; peak RSS %d KiB\n",
	    $4, $2, 100000 / $2, $1, $2 / $1, $3 }'
	k=$((k + 1)); phases $k
	rm -f "$dir/b.tar"
esac

case ",$CASES," in *,c,*)
	gen "$dir/c.tar" --casefiles 8 --records 8 --kb 65536
	base=$(baseline "$dir/c.tar")
	set -- $(ingest "$dir/c.tar")
	echo "$base $1 $2" | awk '{
	    printf "(c) 4 GiB, 64 files + metadata: peak RSS of sailo %d KiB = %.1f MiB (target <= 64 MiB); sailo %.1f s, baseline %.1f s: ratio %.2f\n",
	    $3, $3 / 1024, $2, $1, $2 / $1 }'
	k=$((k + 1)); phases $k
	rm -f "$dir/c.tar"
esac
