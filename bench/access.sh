#!/bin/sh
# access.sh — retrieval and search, each beside a baseline measured in the
# same run:
#  (a) a 1 GiB file downloaded with curl over loopback (GET
#      /v1/aips/{id}/files/{path}, read in bounded pieces on a worker):
#      MB/s and sailo's peak RSS during it, beside curl reading the same
#      stored file from `python3 -m http.server`, and `cat` of it;
#  (b) search over N records (default 1,000,000, bench/catalogue.sql):
#      the daemon's start-up indexing with Voikko (records/s), then 300
#      queries of inflected Finnish forms through GET /v1/records?q=
#      (one, two or three words), p50/p95 in ms, beside the same GIN index
#      asked directly in SQL for the words' base forms (no HTTP, no Voikko,
#      no clearance, no audit event).
# BENCH_ACCESS=a,b picks cases.  A database and folders of its own under
# build/bench-access; dropped at the end.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
CASES=${BENCH_ACCESS:-a,b}
N=${BENCH_ACCESS_RECORDS:-1000000}
dir=$root/build/bench-access
db=sailo_bench_access_$$
owner="host=$root/var/run dbname=$db user=sailo_owner"
export SAILO_DATABASE_CONNINFO="host=$root/var/run dbname=$db user=sailo_app"
export SAILO_DATABASE_OWNER_CONNINFO="$owner"
freeport() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port=$(freeport)
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
hpid=
cleanup() {
	set +e			# a killed child's status must not end the cleanup
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$hpid" ] && kill "$hpid" 2>/dev/null && wait "$hpid" 2>/dev/null
	psql -X -q "host=$root/var/run dbname=sailo user=sailo_owner" \
		-c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
	bench_trash "$dir" end
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { awk -v t0="$1" -v t1="$(now)" 'BEGIN { printf "%.1f", t1 - t0 }'; }

./sailo db migrate >/dev/null
/usr/bin/python3 tools/demo_plan.py -o "$dir/plan.xml"
./sailo plan import "$dir/plan.xml" >/dev/null
case ",$CASES," in *,b,*)
	t0=$(now)
	psql -X -q -v ON_ERROR_STOP=1 -v n="$N" -v no_search=false "$owner" \
		-c '\i bench/catalogue.sql' -c 'ANALYZE aips, aip_versions, case_files, records'
	echo "generated $N records in $(since "$t0") s"
esac

bus=$(./sailo token create --role integration --name bench-bus 2>/dev/null)
rm=$(./sailo token create --role records_manager --name bench-rm \
	--clearance "Salassa pidettävä" 2>/dev/null)
t0=$(now)
./sailo serve 2>>"$dir/sailo.err" &
pid=$!
until curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.1; done

case ",$CASES," in *,b,*)
	# Start-up indexes what has no search column yet; it logs when done.
	until grep -q "search: indexed" "$dir/sailo.log" 2>/dev/null; do
		kill -0 "$pid"
		sleep 1
	done
	echo "$N $(since "$t0")" | awk '{ printf "(b) indexing at start-up (Voikko base forms + snowball stems): %d records in %.1f s (%.0f records/s, from sailo serve to the log line)\n", $1, $2, $1 / $2 }'
	psql -X -q -At "$owner" -c "SELECT format('    %s records indexed, %s without', count(*) FILTER (WHERE search IS NOT NULL), count(*) FILTER (WHERE search IS NULL)) FROM records"
	psql -X -q -c 'ANALYZE records' "$owner"
	/usr/bin/python3 - "$port" "$rm" "$SAILO_DATABASE_CONNINFO" <<'PY'
import random, statistics, sys, time
import psycopg2, requests
port, token, conninfo = sys.argv[1], sys.argv[2], sys.argv[3]
s = requests.Session()
s.headers["Authorization"] = f"Bearer {token}"
db = psycopg2.connect(conninfo)
db.autocommit = True
cur = db.cursor()
# Forms the titles (bench/catalogue.sql) do not hold as such (genitives,
# inessives, elatives, adessives), each with the base form a person would
# look up: the baseline asks the same index for those base forms directly.
nouns = {"rakennusluvan": "rakennuslupa", "pöytäkirjassa": "pöytäkirja",
         "päätöksestä": "päätös", "hakemukseen": "hakemus",
         "lausunnolla": "lausunto", "sopimuksen": "sopimus",
         "laskusta": "lasku", "tarjouksessa": "tarjous",
         "valituksen": "valitus", "muistiossa": "muistio",
         "selvityksestä": "selvitys", "ilmoituksen": "ilmoitus",
         "kuulutuksessa": "kuulutus", "todistuksen": "todistus",
         "suunnitelmasta": "suunnitelma", "katselmuksessa": "katselmus",
         "pyynnön": "pyyntö", "vastineessa": "vastine",
         "kantelusta": "kantelu", "tilauksen": "tilaus",
         "asemakaavan": "asemakaava", "poikkeamisluvan": "poikkeamislupa",
         "maisematyöluvasta": "maisematyölupa", "purkuluvan": "purkulupa",
         "toimenpideluvan": "toimenpidelupa",
         "rasitesopimuksen": "rasitesopimus",
         "vuokrasopimuksesta": "vuokrasopimus",
         "kauppakirjan": "kauppakirja", "lainhuudon": "lainhuuto",
         "kiinteistörekisteriotteen": "kiinteistörekisteriote"}
streets = {"Mäkelänkadulla": "Mäkelänkatu", "Hämeentiellä": "Hämeentie",
           "Mannerheimintiellä": "Mannerheimintie",
           "Aleksanterinkadulla": "Aleksanterinkatu",
           "Fredrikinkadulla": "Fredrikinkatu",
           "Runeberginkadulla": "Runeberginkatu",
           "Sturenkadulla": "Sturenkatu", "Kustaankadulla": "Kustaankatu",
           "Pengerkadulla": "Pengerkatu", "Porvoonkadulla": "Porvoonkatu",
           "Helsinginkadulla": "Helsinginkatu",
           "Kaarlenkadulla": "Kaarlenkatu",
           "Torkkelinkadulla": "Torkkelinkatu",
           "Agricolankadulla": "Agricolankatu"}
rng = random.Random(11)
api, direct, hits, found, base_hits = [], [], 0, 0, 0
sql = ("SELECT id FROM records WHERE search @@ plainto_tsquery('simple', %s) "
       "ORDER BY id LIMIT 101")
for i in range(300):
    words = [rng.choice(sorted(nouns))]
    if i % 3 >= 1:
        words.append(rng.choice(sorted(streets)))
    if i % 3 == 2:
        words.append(str(rng.randint(1, 97)))
    q = " ".join(words)
    base = " ".join(nouns.get(w) or streets.get(w) or w for w in words)
    t0 = time.perf_counter()
    r = s.get(f"http://127.0.0.1:{port}/v1/records",
              params={"q": q, "limit": 100}, timeout=60)
    api.append((time.perf_counter() - t0) * 1000)
    assert r.status_code == 200, r.text
    hits += len(r.json()["items"])
    found += bool(r.json()["items"])
    t0 = time.perf_counter()
    cur.execute(sql, (base,))
    base_hits += len(cur.fetchall())
    direct.append((time.perf_counter() - t0) * 1000)
def pct(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[int(len(xs) * 0.95) - 1]
a, d = pct(api), pct(direct)
print(f"(b) search, 300 queries (1-3 inflected words, pages of 100): "
      f"API p50 {a[0]:.1f} ms p95 {a[1]:.1f} ms, {found} found something ({hits} hits); "
      f"baseline, the same index asked for the base forms directly in SQL: p50 {d[0]:.1f} ms p95 {d[1]:.1f} ms ({base_hits} hits)")
# What PostgreSQL's snowball stemmer alone finds for the same forms.
snow = 0
for w in list(nouns)[:10]:
    cur.execute("SELECT count(*) FROM (SELECT 1 FROM records WHERE search @@ "
                "plainto_tsquery('finnish', %s) LIMIT 1000) x", (w,))
    snow += cur.fetchone()[0] > 0
print(f"    (snowball stems alone find something for {snow} of 10 inflected words)")
PY
esac

case ",$CASES," in *,a,*)
	/usr/bin/python3 tests/e2e/pkggen.py bagit "$dir/big.tar" --records 1 \
	    --kb 1048576 --no-csv >/dev/null
	out=$(curl -sS -f -X POST -T "$dir/big.tar" \
	    -H "Authorization: Bearer $bus" -H "Content-Type: application/x-tar" \
	    "http://127.0.0.1:$port/v1/transfers")
	rm -f "$dir/big.tar"
	set -- $(/usr/bin/python3 - "$port" "$rm" "$out" <<'PY'
import json, sys, time, requests
port, token, out = sys.argv[1:]
h = {"Authorization": f"Bearer {token}"}
url = f"http://127.0.0.1:{port}/v1"
tid = json.loads(out)["id"]
while True:
    t = requests.get(f"{url}/transfers/{tid}", headers=h, timeout=60).json()
    if t["status"] in ("accepted", "rejected", "failed"):
        break
    time.sleep(0.2)
assert t["status"] == "accepted", t
aip = requests.get(f"{url}/aips/{t['aips'][0]}", headers=h, timeout=60).json()
f = max(aip["files"], key=lambda f: f["size"])
print(aip["id"], f["path"], f["size"], f["sha256"])
PY
)
	aip=$1 path=$2 size=$3 sha=$4
	stored=$dir/store/aips/$aip/v1/$path
	cat "$stored" >/dev/null		# every reader starts from the page cache
	echo 5 >/proc/$pid/clear_refs		# reset sailo's peak RSS
	set -- $(curl -sS -f -o /dev/null -w '%{size_download} %{time_total}\n' \
	    -H "Authorization: Bearer $rm" \
	    "http://127.0.0.1:$port/v1/aips/$aip/files/$path")
	got=$1 t_sailo=$2
	hwm=$(awk '/^VmHWM:/ { print $2 }' /proc/$pid/status)
	[ "$got" = "$size" ] || { echo "sailo sent $got bytes of $size"; exit 1; }
	# The digest of what sailo sends, once (not timed).
	d=$(curl -sS -f -H "Authorization: Bearer $rm" \
	    "http://127.0.0.1:$port/v1/aips/$aip/files/$path" | openssl dgst -sha256 | awk '{ print $NF }')
	[ "$d" = "$sha" ] || { echo "sailo sent other bytes: $d, not $sha"; exit 1; }
	hport=$(freeport)
	/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory \
	    "$(dirname "$stored")" "$hport" >/dev/null 2>&1 &
	hpid=$!
	until curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$hport/$(basename "$stored")"; do sleep 0.1; done
	t_http=$(curl -sS -f -o /dev/null -w '%{time_total}\n' \
	    "http://127.0.0.1:$hport/$(basename "$stored")")
	t0=$(now)
	cat "$stored" >/dev/null
	t_cat=$(awk -v t0="$t0" -v t1="$(now)" 'BEGIN { printf "%.3f", t1 - t0 }')
	echo "$size $t_sailo $t_http $t_cat $hwm" | awk '{
	    printf "(a) download of a 1 GiB file over loopback: sailo %.2f s (%.0f MB/s), peak RSS %d KiB; baseline python3 -m http.server %.2f s (%.0f MB/s), cat %.2f s: ratio to http.server %.2f\n",
	    $2, $1 / $2 / 1e6, $5, $3, $1 / $3 / 1e6, $4, $2 / $3 }'
esac
