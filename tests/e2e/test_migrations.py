"""`sailo db migrate` applies sql/NNN_*.sql in order, once, and refuses an
applied file that has changed."""
import os
import shutil
import subprocess
import uuid

import psycopg2
import pytest

from conftest import ROOT, SAILO, conninfo


@pytest.fixture
def scratch_db():
    name = "sailo_mig_" + uuid.uuid4().hex[:8]
    admin = psycopg2.connect(conninfo("sailo_owner", "sailo"))
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    yield name
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def migrate(db, migrations_dir):
    env = dict(os.environ,
               SAILO_DATABASE_OWNER_CONNINFO=conninfo("sailo_owner", db),
               SAILO_DATABASE_MIGRATIONS_DIR=str(migrations_dir))
    return subprocess.run([SAILO, "db", "migrate"], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def test_migrations_apply_in_order_once_and_refuse_edits(scratch_db, tmp_path):
    mig = tmp_path / "sql"
    shutil.copytree(os.path.join(ROOT, "sql"), mig)
    shipped = sorted(p for p in os.listdir(mig) if p.endswith(".sql"))
    (mig / "998_extra.sql").write_text("CREATE TABLE extra_a (x int);\n")
    (mig / "999_more.sql").write_text(
        "CREATE TABLE extra_b (x int REFERENCES extra_a (x));\n")
    # 999 depends on a unique key added by... nothing: it fails, atomically
    out = migrate(scratch_db, mig)
    assert out.returncode == 1
    assert "999_more.sql" in out.stderr
    with psycopg2.connect(conninfo("sailo_owner", scratch_db)) as c:
        cur = c.cursor()
        cur.execute("SELECT name FROM schema_migrations ORDER BY version")
        assert [r[0] for r in cur.fetchall()] == shipped + ["998_extra.sql"]
        cur.execute("SELECT to_regclass('extra_b')")
        assert cur.fetchone()[0] is None        # nothing half-applied

    (mig / "999_more.sql").write_text("CREATE TABLE extra_b (x int);\n")
    out = migrate(scratch_db, mig)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "applied 999_more.sql"
    out = migrate(scratch_db, mig)
    assert out.returncode == 0 and "up to date" in out.stdout

    (mig / "998_extra.sql").write_text("CREATE TABLE extra_a (x bigint);\n")
    out = migrate(scratch_db, mig)
    assert out.returncode == 1
    assert "998_extra.sql has changed since it was applied" in out.stderr


def test_application_role_cannot_delete_tokens(database):
    with psycopg2.connect(conninfo("sailo_app", database)) as c:
        cur = c.cursor()
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("DELETE FROM tokens")
