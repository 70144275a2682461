"""A migration drops packages into the inbox folder: each becomes a
transfer of the principal `inbox`, with NAME.report.json in the outbox."""
import hashlib
import json
import os
import time


def inbox_sailo(start_sailo, tmp_path, **settings):
    s = start_sailo(ingest_paused="true", ingest_inbox_dir=tmp_path / "inbox",
                    ingest_outbox_dir=tmp_path / "outbox",
                    storage_spool=tmp_path / "spool",
                    ingest_inbox_interval_ms=200, **settings)
    s.inbox, s.outbox = tmp_path / "inbox", tmp_path / "outbox"
    return s


def drop(s, tmp_path, name, data):
    """Written beside the inbox, then renamed into it: atomic."""
    tmp = tmp_path / (name + ".writing")
    tmp.write_bytes(data)
    os.rename(tmp, s.inbox / name)


def wait_report(s, name, timeout=10):
    path = s.outbox / (name + ".report.json")
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"no report for {name}"
        time.sleep(0.05)
    return json.loads(path.read_text())


def test_dropped_package_becomes_a_transfer_with_a_report(start_sailo, tmp_path):
    s = inbox_sailo(start_sailo, tmp_path)
    data = os.urandom(200000)
    drop(s, tmp_path, "palkat 2019.zip", data)
    report = wait_report(s, "palkat 2019.zip")
    t = report["transfer"]
    assert report["file"] == "palkat 2019.zip"
    assert t["package_sha256"] == hashlib.sha256(data).hexdigest()
    assert t["submitted_by"] == "inbox" and t["status"] == "received"
    assert os.listdir(s.inbox) == []
    rm = s.token("records_manager")
    assert s.get(f"/v1/transfers/{t['id']}", token=rm).json()["id"] == t["id"]
    assert (tmp_path / "spool" / f"{t['id']}.pkg").read_bytes() == data
    # the same bytes again: the first transfer, not a second copy
    drop(s, tmp_path, "again.zip", data)
    assert wait_report(s, "again.zip")["transfer"]["id"] == t["id"]


def test_unfinished_and_hidden_files_are_left_alone(start_sailo, tmp_path):
    s = inbox_sailo(start_sailo, tmp_path)
    (s.inbox / "big.zip.part").write_bytes(b"still writing")
    (s.inbox / ".hidden").write_bytes(b"x")
    drop(s, tmp_path, "empty.zip", b"")
    report = wait_report(s, "empty.zip")
    assert report["error"]["code"] == "EMPTY_PACKAGE"
    assert (s.outbox / "empty.zip").exists()       # moved out of the way
    assert sorted(os.listdir(s.inbox)) == [".hidden", "big.zip.part"]


def test_with_markers_only_marked_packages_are_taken(start_sailo, tmp_path):
    s = inbox_sailo(start_sailo, tmp_path, ingest_inbox_require_marker="true")
    (s.inbox / "henkilosto.tar").write_bytes(os.urandom(1000))
    time.sleep(1)
    assert not (s.outbox / "henkilosto.tar.report.json").exists()
    (s.inbox / "henkilosto.tar.ready").write_bytes(b"")
    report = wait_report(s, "henkilosto.tar")
    assert report["transfer"]["submitted_by"] == "inbox"
    assert os.listdir(s.inbox) == []
