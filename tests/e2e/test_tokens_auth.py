"""An administrator issues tokens; every /v1/ route checks them."""
import uuid

import requests


def test_no_token_is_401_json(sailo):
    r = sailo.get("/v1/tokens")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "UNAUTHENTICATED"
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_bad_token_is_401(sailo):
    r = sailo.get("/v1/tokens", token="sailo_not-a-real-token")
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"code", "message"}


def test_wrong_role_is_403(sailo):
    rm = sailo.token("records_manager")
    r = sailo.get("/v1/tokens", token=rm)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "FORBIDDEN"
    assert "records_manager" in r.json()["error"]["message"]


def test_admin_creates_token_shown_once_that_works(sailo, admin):
    name = "integration-bus-" + uuid.uuid4().hex[:6]
    r = sailo.post("/v1/tokens", {"name": name, "role": "integration"},
                   token=admin)
    assert r.status_code == 201
    made = r.json()
    assert made["name"] == name and made["role"] == "integration"
    assert made["token"].startswith("sailo_")
    uuid.UUID(made["id"])
    assert r.headers["Location"] == f"/v1/tokens/{made['id']}"
    # the new token authenticates (and is not an admin's)
    assert sailo.get("/v1/tokens", token=made["token"]).status_code == 403
    # the list never shows a secret
    listing = sailo.get("/v1/tokens?limit=1000", token=admin)
    assert listing.status_code == 200
    assert made["token"] not in listing.text
    ids = [t["id"] for t in listing.json()["items"]]
    assert made["id"] in ids
    assert all("token" not in t for t in listing.json()["items"])


def test_one_principal_holds_several_tokens_and_clearance_is_the_principals(sailo, admin):
    name = "kirjaamo-" + uuid.uuid4().hex[:6]
    a = sailo.post("/v1/tokens", {"name": name, "role": "records_manager"},
                   token=admin).json()
    b = sailo.post("/v1/tokens", {"name": name, "role": "auditor",
                                  "clearance": ["Salassa pidettävä"]},
                   token=admin).json()
    assert a["principal_id"] == b["principal_id"]
    items = sailo.get("/v1/tokens?limit=1000", token=admin).json()["items"]
    mine = [t for t in items if t["name"] == name]
    assert len(mine) == 2
    assert all(t["clearance"] == ["Salassa pidettävä"] for t in mine)


def test_revoked_token_is_401(sailo, admin):
    made = sailo.post("/v1/tokens", {"name": "temp", "role": "admin"},
                      token=admin).json()
    assert sailo.get("/v1/tokens", token=made["token"]).status_code == 200
    r = requests.delete(f"{sailo.url}/v1/tokens/{made['id']}",
                        headers={"Authorization": f"Bearer {admin}"}, timeout=5)
    assert r.status_code == 200
    assert r.json()["revoked_at"] is not None
    assert sailo.get("/v1/tokens", token=made["token"]).status_code == 401
    r = requests.delete(f"{sailo.url}/v1/tokens/{uuid.uuid4()}",
                        headers={"Authorization": f"Bearer {admin}"}, timeout=5)
    assert r.status_code == 404
    r = requests.delete(f"{sailo.url}/v1/tokens/%FF%FE",
                        headers={"Authorization": f"Bearer {admin}"}, timeout=5)
    assert r.status_code == 404


def test_bad_bodies_are_400_with_a_reason(sailo, admin):
    r = sailo.post("/v1/tokens", {"name": "x", "role": "root"}, token=admin)
    assert r.status_code == 400 and "role" in r.json()["error"]["message"]
    r = sailo.post("/v1/tokens", {"role": "admin"}, token=admin)
    assert r.status_code == 400 and "name" in r.json()["error"]["message"]
    r = sailo.post("/v1/tokens", {"name": "x", "role": "auditor",
                                  "clearance": ["Julkinen"]}, token=admin)
    assert r.status_code == 400 and "clearance" in r.json()["error"]["message"]
    r = requests.post(sailo.url + "/v1/tokens", data='{"name": "x",\n "role": }',
                      headers={"Authorization": f"Bearer {admin}"}, timeout=5)
    assert r.status_code == 400
    assert "line 2" in r.json()["error"]["message"]
    r = requests.post(sailo.url + "/v1/tokens", data="name=x",
                      headers={"Authorization": f"Bearer {admin}",
                               "Content-Type": "application/x-www-form-urlencoded"},
                      timeout=5)
    assert r.status_code == 415


def test_json_body_over_the_limit_is_413(start_sailo):
    s = start_sailo(server_max_json_bytes=2048)
    admin = s.token("admin")
    r = s.post("/v1/tokens", {"name": "x" * 5000, "role": "admin"}, token=admin)
    assert r.status_code == 413


def test_list_pages_with_cursor(sailo, admin):
    for i in range(3):
        sailo.post("/v1/tokens", {"name": f"pager-{i}", "role": "auditor"},
                   token=admin)
    seen, after = [], None
    while True:
        r = sailo.get("/v1/tokens?limit=2" + (f"&after={after}" if after else ""),
                      token=admin)
        assert r.status_code == 200
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [t["id"] for t in page["items"]]
        after = page["next"]
        if after is None:
            break
    everything = sailo.get("/v1/tokens?limit=1000", token=admin).json()["items"]
    assert seen == [t["id"] for t in everything]
    assert len(seen) >= 4
    for bad in ("limit=0", "limit=1001", "limit=ten", "after=garbage!"):
        r = sailo.get("/v1/tokens?" + bad, token=admin)
        assert r.status_code == 400, bad
