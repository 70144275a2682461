#!/bin/sh
# audit.sh — the audit trail under load, each figure beside a baseline
# measured in the same run:
#  - append N events (default 1,000,000), chained, 1,000 per transaction,
#    beside plain unchained INSERTs of the same rows;
#  - `sailo audit verify` over all of them;
#  - filtered page queries through the API (p50/p95), beside the same SQL
#    run directly;
#  - the whole trail as CSV through the API, with sailo's peak RSS;
#  - 8 concurrent writers for 30 s (target >= 5,000 acts/s), beside the
#    same acts unaudited, then again while another connection holds a 10 s
#    transaction that recorded an act.
# A database of its own in the private cluster; dropped at the end.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
N=${BENCH_AUDIT_EVENTS:-1000000}
WRITE_S=${BENCH_AUDIT_WRITE_S:-30}
db=sailo_bench_$$
owner="host=$root/var/run dbname=$db user=sailo_owner"
export SAILO_DATABASE_CONNINFO="host=$root/var/run dbname=$db user=sailo_app"
export SAILO_DATABASE_OWNER_CONNINFO="$owner"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SAILO_SERVER_LISTEN=127.0.0.1:$port
export SAILO_LOG_REQUESTS=false

psql -X -q -v ON_ERROR_STOP=1 "host=$root/var/run dbname=sailo user=sailo_owner" \
	-c "CREATE DATABASE $db"
pid=
cleanup() {
	set +e			# a killed child's status must not end the cleanup
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	psql -X -q "host=$root/var/run dbname=sailo user=sailo_owner" \
		-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
}
trap cleanup EXIT
./sailo db migrate >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$owner" <<'SQL'
CREATE TABLE audit_plain (LIKE audit_events INCLUDING ALL);
CREATE SEQUENCE audit_plain_seq;
CREATE TABLE bench_acts (n bigint);
GRANT INSERT ON audit_plain, bench_acts TO sailo_app;
GRANT USAGE ON SEQUENCE audit_plain_seq TO sailo_app;
SQL

now() { date +%s.%N; }

build/bench/audit_bench plain "$N" 1000
build/bench/audit_bench append "$N" 1000

t0=$(now)
./sailo audit verify >/tmp/sailo-bench-verify.$$ || { cat /tmp/sailo-bench-verify.$$; exit 1; }
t1=$(now)
awk -v t0="$t0" -v t1="$t1" -v n="$N" 'BEGIN { printf "verify  %d events in %.1f s: %.0f events/s\n", n, t1 - t0, n / (t1 - t0) }'
rm -f /tmp/sailo-bench-verify.$$

./sailo serve 2>/dev/null &
pid=$!
auditor=$(./sailo token create --role auditor --name bench-auditor 2>/dev/null)
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done

/usr/bin/python3 - "$port" "$auditor" "$SAILO_DATABASE_CONNINFO" <<'PY'
import statistics, sys, time
import psycopg2, requests
port, token, conninfo = sys.argv[1], sys.argv[2], sys.argv[3]
url = f"http://127.0.0.1:{port}/v1/audit"
s = requests.Session()
s.headers["Authorization"] = f"Bearer {token}"
db = psycopg2.connect(conninfo)
cur = db.cursor()
filters = [{"actor": "user-5"}, {"action": "aip.read"},
           {"object_type": "record", "object_id": "00000000-0000-4000-8000-000000012345"},
           {"from": "2000-01-01T00:00:00Z", "action": "token.create"}]
sql = {"actor": "actor = %s", "action": "action = %s", "object_type": "object_type = %s",
       "object_id": "object_id = %s", "from": "at >= %s"}
def pct(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[int(len(xs) * 0.95) - 1]
api, direct = [], []
for i in range(200):
    f = filters[i % len(filters)]
    t0 = time.perf_counter()
    r = s.get(url, params=dict(f, limit=100))
    api.append((time.perf_counter() - t0) * 1000)
    assert r.status_code == 200 and r.json()["items"], r.text
    where = " AND ".join(sql[k] for k in f)
    t0 = time.perf_counter()
    cur.execute("SELECT * FROM audit_events WHERE " + where +
                " ORDER BY seq DESC LIMIT 101", list(f.values()))
    cur.fetchall()
    direct.append((time.perf_counter() - t0) * 1000)
a, d = pct(api), pct(direct)
print(f"query   filtered page of 100 via the API: p50 {a[0]:.1f} ms, p95 {a[1]:.1f} ms"
      f" (baseline, same SQL direct: p50 {d[0]:.1f} ms, p95 {d[1]:.1f} ms)")
PY

hwm() { awk '/VmHWM/ { print $2 }' /proc/$pid/status; }
before=$(hwm)
t0=$(now)
rows=$(curl -sf -H "Authorization: Bearer $auditor" -H 'Accept: text/csv' \
	"http://127.0.0.1:$port/v1/audit" | wc -l)
t1=$(now)
after=$(hwm)
awk -v t0="$t0" -v t1="$t1" -v r="$rows" -v b="$before" -v a="$after" 'BEGIN {
	printf "csv     %d lines in %.1f s (%.0f rows/s); sailo peak RSS %d KiB before, %d KiB after\n", r, t1 - t0, r / (t1 - t0), b, a }'
[ "$rows" -gt "$N" ] || { echo "CSV export has $rows lines, expected more than $N" >&2; exit 1; }

build/bench/audit_bench writers-plain "$WRITE_S" 8
build/bench/audit_bench writers "$WRITE_S" 8
build/bench/audit_bench writers 12 8 hold
./sailo audit verify | sed 's/^/verify  after the writers: /'
