#!/bin/sh
# disposal.sh — disposal of 100,000 records in one batch (10,000 case
# files of 10 records of ~20 KB, the ingest benchmark's (b) package),
# beside the ingest of the same data in the same run: records/s of each,
# and the batch's time from approval to done (target < 60 s).  The
# records are made due by back-dating their retention (as the owner);
# one records manager proposes, another approves.
# BENCH_DISPOSAL_CASEFILES (default 10000) scales it down.
# A database and folders of its own under build/bench-disposal; dropped
# at the end (BENCH_KEEP=1 keeps them).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
CASEFILES=${BENCH_DISPOSAL_CASEFILES:-10000}
RECORDS=$((CASEFILES * 10))
dir=$root/build/bench-disposal
db=sailo_bench_disposal_$$
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
bus=$(./sailo token create --role integration --name bench-bus 2>/dev/null)
rm1=$(./sailo token create --role records_manager --name bench-ehdottaja 2>/dev/null)
rm2=$(./sailo token create --role records_manager --name bench-hyvaksyja 2>/dev/null)
./sailo serve 2>>"$dir/sailo.err" &
pid=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done

/usr/bin/python3 tests/e2e/pkggen.py sahke2 "$dir/p.tar" --casefiles "$CASEFILES" \
	--records 10 --kb 20 >/dev/null

/usr/bin/python3 - "$port" "$bus" "$rm1" "$rm2" "$dir/p.tar" "$owner" "$RECORDS" <<'PY'
import json, subprocess, sys, time
import psycopg2, requests
port, bus, rm1, rm2, path, owner, n = sys.argv[1:]
n = int(n)
url = f"http://127.0.0.1:{port}"
def h(t): return {"Authorization": f"Bearer {t}"}

t0 = time.time()
out = subprocess.run(["curl", "-sS", "-f", "-X", "POST", "-T", path, "-H",
                      f"Authorization: Bearer {bus}", "-H",
                      "Content-Type: application/x-tar", url + "/v1/transfers"],
                     capture_output=True, text=True, check=True).stdout
tid = json.loads(out)["id"]
while True:
    t = requests.get(f"{url}/v1/transfers/{tid}", headers=h(bus), timeout=60).json()
    if t["status"] in ("accepted", "rejected", "failed"):
        break
    time.sleep(0.1)
ingest_s = time.time() - t0
assert t["status"] == "accepted", t

with psycopg2.connect(owner) as c:
    c.cursor().execute("UPDATE retention SET state = 'dated', years = 1, "
                       "end_date = '2020-01-01', trigger_date = '2019-01-01' "
                       "WHERE record_id IN (SELECT id FROM records WHERE "
                       "transfer_id = %s)", (tid,))
t0 = time.time()
r = requests.post(f"{url}/v1/disposals", headers=h(rm1), timeout=600,
                  data=json.dumps({"note": "benchmark"}))
assert r.status_code == 201, r.text
propose_s = time.time() - t0
bid = r.json()["id"]
assert r.json()["records"] == n, r.json()
t0 = time.time()
r = requests.post(f"{url}/v1/disposals/{bid}/approve", headers=h(rm2),
                  data="{}", timeout=60)
assert r.status_code == 202, r.text
while True:
    b = requests.get(f"{url}/v1/disposals/{bid}", headers=h(rm1),
                     params={"limit": 1}, timeout=60).json()
    if b["status"] in ("done", "partially_executed"):
        break
    time.sleep(0.2)
dispose_s = time.time() - t0
assert b["status"] == "done" and b["counts"]["destroyed"] == n, b
r = requests.get(f"{url}/v1/disposals/{bid}/certificate", headers=h(rm1),
                 timeout=120)
assert r.status_code == 200, r.text[:500]
print(f"disposal {n} records in one batch of {n // 10} AIPs: approved to done "
      f"in {dispose_s:.1f} s ({n / dispose_s:.0f} records/s; target < 60 s); "
      f"proposal {propose_s:.1f} s; certificate {len(r.content) / 1e6:.1f} MB")
print(f"         baseline, the ingest of the same data: {ingest_s:.1f} s "
      f"({n / ingest_s:.0f} records/s); disposal/ingest time "
      f"{dispose_s / ingest_s:.2f}")
PY
