#!/bin/sh
# retention.sh — deciding retention for N records (default 1,000,000),
# each figure beside a baseline measured in the same run on the same rows:
#  - the demo plan (version 1) decides every record: `sailo retention
#    recompute` (reads, decides in C, writes each row that moved);
#  - version 2 changes the period of every tenth class: the pass again,
#    beside one SQL UPDATE computing the same end dates (the baseline; it
#    knows neither precedence, nor events, nor what moved, and writes all);
#    the ends the two give are compared row by row;
#  - the due list through the API (GET /v1/retention/due, 100 a page),
#    p50/p95 in ms, beside the same SQL run directly.
# The records are generated in SQL by bench/catalogue.sql (10,000 case
# files of 100 records, in the plan's leaf classes, dates 1990–2024).  A database of its own in the
# private cluster; dropped at the end.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
N=${BENCH_RETENTION_RECORDS:-1000000}
db=sailo_bench_ret_$$
owner="host=$root/var/run dbname=$db user=sailo_owner"
export SAILO_DATABASE_CONNINFO="host=$root/var/run dbname=$db user=sailo_app"
export SAILO_DATABASE_OWNER_CONNINFO="$owner"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export SAILO_SERVER_LISTEN=127.0.0.1:$port
export SAILO_LOG_REQUESTS=false SAILO_INGEST_INBOX_DIR=
dir=$root/build/bench-retention
. bench/lib.sh
bench_fresh_dir "$dir"
export SAILO_LOG_FILE=$dir/sailo.log

psql -X -q -v ON_ERROR_STOP=1 "host=$root/var/run dbname=sailo user=sailo_owner" \
	-c "CREATE DATABASE $db"
pid=
cleanup() {
	set +e			# a killed child's status must not end the cleanup
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "kept: database $db"
		return
	fi
	psql -X -q "host=$root/var/run dbname=sailo user=sailo_owner" \
		-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
	bench_trash "$dir" end
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v t0="$1" -v t1="$(now)" 'BEGIN { printf "%.1f", t1 - t0 }'; }

./sailo db migrate >/dev/null
/usr/bin/python3 tools/demo_plan.py -o "$dir/plan-1.xml"
# Version 2: every tenth class's process keeps 5 years longer (its record
# types keep their own copies; the records here have no type).
/usr/bin/python3 - "$dir/plan-1.xml" "$dir/plan-2.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
NS = "http://skeemat.jhs-suositukset.fi/tos/2015/01/15"
ET.register_namespace("tos", NS)
tree = ET.parse(sys.argv[1])
for i, luokka in enumerate(tree.getroot().iter(f"{{{NS}}}Luokka")):
    if i % 10:
        continue
    v = luokka.find(f"{{{NS}}}KasittelyprosessiTiedot/{{{NS}}}Sailytysaikatiedot/"
                    f"{{{NS}}}SailytysajanPituusArvo")
    if v is not None and int(v.text) >= 0:
        v.text = str(int(v.text) + 5)
tree.write(sys.argv[2], encoding="UTF-8", xml_declaration=True)
PY
./sailo plan import "$dir/plan-1.xml" >/dev/null

t0=$(now)
psql -X -q -v ON_ERROR_STOP=1 -v n="$N" -v no_search=true "$owner" <<'SQL'
\i bench/catalogue.sql
INSERT INTO retention (record_id, state, source, function_code, in_case_file,
	case_finished, case_last_action, record_created, ingested)
	SELECT id, 'unknown', 'none', code, true, finished, finished, created,
	date '2025-01-15' FROM rec;
ANALYZE principals, transfers, aips, aip_versions, case_files, records,
	retention;
SQL
echo "generated $N records in $(since "$t0") s"

recompute() {
	t0=$(now)
	out=$(./sailo retention recompute)
	t=$(since "$t0")
	echo "$out" | /usr/bin/python3 -c '
import json, sys
t, n, label = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
p = json.load(sys.stdin)["passes"][-1]
records, changed, moved = p["records"], p["changed"], p["ends_moved"]
print(f"{label}: {records} records in {t:.1f} s ({records / t:,.0f} records/s), "
      f"{changed} written, {moved} ends moved")' "$t" "$N" "$1"
}
recompute "plan v1 decides every record"
./sailo plan import "$dir/plan-2.xml" >/dev/null
recompute "plan v2 (every 10th class +5 years)"

# The baseline: one UPDATE giving every dated record that the plan decided
# its class's period from version 2 and the end from its trigger date, in
# a transaction rolled back; then the ends compared with sailo's.
psql -X -q -v ON_ERROR_STOP=1 "$owner" <<'SQL'
\timing on
\echo baseline: one SQL UPDATE of every dated record (ends from plan v2):
BEGIN;
UPDATE retention t SET years = c.retention_years,
	end_date = (t.trigger_date + make_interval(years => c.retention_years))::date
	FROM plan_classes c WHERE c.version = 2 AND c.code = t.class_code
	AND t.state = 'dated' AND t.source = 'plan';
ROLLBACK;
\timing off
SELECT format('check: %s of %s dated records end where plain SQL says (%s differ)',
	count(*) FILTER (WHERE t.end_date = (t.trigger_date +
	make_interval(years => c.retention_years))::date), count(*),
	count(*) FILTER (WHERE t.end_date <> (t.trigger_date +
	make_interval(years => c.retention_years))::date))
	FROM retention t JOIN plan_classes c ON c.version = 2 AND
	c.code = t.class_code WHERE t.state = 'dated' AND t.source = 'plan' \gx
SQL

./sailo serve 2>>"$dir/sailo.err" &
pid=$!
rm_token=$(./sailo token create --role records_manager --name bench-rm 2>/dev/null)
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done
/usr/bin/python3 - "$port" "$rm_token" "$SAILO_DATABASE_CONNINFO" <<'PY'
import random, statistics, sys, time
import psycopg2, requests
port, token, conninfo = sys.argv[1], sys.argv[2], sys.argv[3]
s = requests.Session()
s.headers["Authorization"] = f"Bearer {token}"
db = psycopg2.connect(conninfo)
cur = db.cursor()
cur.execute("SELECT DISTINCT substr(function_code, 1, 5) FROM retention")
prefixes = [r[0] for r in cur.fetchall()]
rng = random.Random(7)
sql = ("SELECT t.record_id FROM retention t JOIN records r ON r.id = t.record_id "
       "JOIN aips a ON a.id = r.aip_id AND a.current_version = r.version "
       "WHERE t.state = 'dated' AND t.end_date <= %s AND (%s::text IS NULL OR "
       "(t.function_code >= %s AND t.function_code < %s || '!')) "
       "ORDER BY t.end_date, t.record_id LIMIT 101")
api, direct, hits = [], [], 0
for i in range(200):
    on = f"{rng.randint(2000, 2060)}-{rng.randint(1, 12):02d}-15"
    fn = rng.choice(prefixes) if i % 2 else None
    q = {"on": on, "limit": 100}
    if fn:
        q["function"] = fn
    t0 = time.perf_counter()
    r = s.get(f"http://127.0.0.1:{port}/v1/retention/due", params=q, timeout=60)
    api.append((time.perf_counter() - t0) * 1000)
    assert r.status_code == 200, r.text
    hits += len(r.json()["items"])
    t0 = time.perf_counter()
    cur.execute(sql, (on, fn, fn, fn))
    cur.fetchall()
    direct.append((time.perf_counter() - t0) * 1000)
def pct(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[int(len(xs) * 0.95) - 1]
a, d = pct(api), pct(direct)
print(f"due list, 200 pages of up to 100 ({hits} rows, half with a function filter): "
      f"API p50 {a[0]:.1f} ms p95 {a[1]:.1f} ms; the same SQL direct p50 {d[0]:.1f} ms p95 {d[1]:.1f} ms")
PY
