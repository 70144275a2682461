#!/bin/sh
# pgcluster.sh start|stop|status — Sailo's private PostgreSQL cluster.
#
# The cluster lives in var/pg and listens only on a Unix socket in var/run
# (no TCP).  Authentication is `trust`, which is safe because the socket
# folder is private (mode 0700, owned by the cluster's owner).  Roles:
# sailo_owner (owns the database, runs migrations) and sailo_app (the
# daemon; only the privileges that migrations grant it).  PostgreSQL
# refuses to run as root, so as root its tools run as the `postgres` user.
set -eu

cd "$(dirname "$0")/.."
root=$(pwd)
data=$root/var/pg
sock=$root/var/run
port=5432

# When the user postgres cannot reach var/ (a clone under a 0700 home
# folder), the cluster lives under /var/lib/postgresql instead, and var/pg
# and var/run are symbolic links to it; the daemon keeps using var/run.
if [ -L "$data" ]; then
	data=$(readlink -f "$data")
	sock=$(readlink -f "$sock")
fi

die() { echo "pgcluster: $*" >&2; exit 1; }

# Debian keeps initdb and pg_ctl off PATH, in /usr/lib/postgresql/N/bin.
bindir=$(pg_config --bindir 2>/dev/null || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
	bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
[ -n "$bindir" ] && [ -x "$bindir/initdb" ] ||
	die "cannot find initdb: install the postgresql package (make deps)"

if [ "$(id -u)" = 0 ]; then
	owner=postgres
	as_owner() { (cd / && runuser -u postgres -- "$@"); }
else
	owner=$(id -un)
	as_owner() { "$@"; }
fi

psql_su() { PGOPTIONS="-c client_min_messages=warning" as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"; }

running() { as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

start() {
	# A Unix socket path must fit in 108 bytes.
	[ $(( ${#root} + 20 )) -le 100 ] && [ ${#sock} -le 90 ] ||
		die "socket folder $sock is too long for a Unix socket; clone to a shorter path"
	mkdir -p "$root/var"
	if [ "$owner" = postgres ] && [ ! -L "$root/var/pg" ] &&
	    ! as_owner test -x "$root/var"; then
		base=/var/lib/postgresql/sailo-$(printf %s "$root" | sha256sum | cut -c1-12)
		echo "pgcluster: user postgres cannot reach $root/var (a parent folder is not searchable); placing the cluster in $base"
		mkdir -p "$base/pg" "$base/run"
		chown postgres "$base" "$base/pg" "$base/run"
		ln -sfn "$base/pg" "$root/var/pg"
		ln -sfn "$base/run" "$root/var/run"
		data=$base/pg
		sock=$base/run
	fi
	mkdir -p "$data" "$sock"
	[ "$owner" = postgres ] && chown postgres "$data" "$sock"
	chmod 0700 "$data" "$sock"
	if [ ! -f "$data/PG_VERSION" ]; then
		echo "pgcluster: creating the private cluster in $data"
		as_owner "$bindir/initdb" -D "$data" -U postgres -A trust \
			-E UTF8 --locale=C.UTF-8 >"$root/var/initdb.log" 2>&1 ||
			die "initdb failed; see var/initdb.log"
		cat >>"$data/postgresql.conf" <<CONF
# Sailo's private cluster: a Unix socket only.
listen_addresses = ''
unix_socket_directories = '$sock'
unix_socket_permissions = 0700
port = $port
max_connections = 200
fsync = on
shared_buffers = 1GB
CONF
		printf 'local all all trust\n' >"$data/pg_hba.conf"
	fi
	if ! running; then
		as_owner "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
			-t 60 start >/dev/null ||
			die "the cluster did not start; see $data/server.log"
	fi
	psql_su -d postgres <<'SQL'
SELECT 'CREATE ROLE sailo_owner LOGIN CREATEDB'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sailo_owner') \gexec
SELECT 'CREATE ROLE sailo_app LOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sailo_app') \gexec
SELECT 'CREATE DATABASE sailo OWNER sailo_owner'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'sailo') \gexec
-- the tests' and benchmarks' scratch databases are dropped as the owner
GRANT pg_signal_backend TO sailo_owner;
-- Write-heavy (every act writes its audit event twice: queued, then
-- chained): checkpoints less often, and their full-page images in the WAL
-- compressed.  Reloadable, so clusters made before this get them too.
ALTER SYSTEM SET max_wal_size = '4GB';
ALTER SYSTEM SET checkpoint_timeout = '15min';
ALTER SYSTEM SET wal_compression = on;
-- A large transfer's catalogue rows and their indexes stay in PostgreSQL's
-- own buffers instead of being written out and read back (128 MB by
-- default).  Takes effect when the cluster next starts; a new cluster has
-- it from its postgresql.conf.
ALTER SYSTEM SET shared_buffers = '1GB';
SELECT pg_reload_conf() \gset
SQL
}

stop() {
	if [ -f "$data/PG_VERSION" ] && running; then
		as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
		echo "pgcluster: stopped"
	fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) if running; then echo running; else echo stopped; exit 3; fi ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
