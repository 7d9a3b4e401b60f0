"""DID routing, trunk rows and recording references that the SIP side reads from a real SQLite DB."""

from __future__ import annotations

from pathlib import Path

from appliance.audio import AudioFrame, write_wav
from appliance.config import load_config
from appliance.store.bootstrap import bootstrap
from appliance.store.db import open_database
from appliance.store.models import Agent, Call, Recording, Route, Trunk
from appliance.store.routing import add_recording, agent_for_number, sip_trunks


def _setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = load_config(data_dir=tmp_path)
    settings.paths.ensure()
    db = open_database(settings)
    db.upgrade()
    org_id = bootstrap(db, settings, org_name="Clinic").org_id
    return settings, db, org_id


def test_specific_did_route_wins_over_catch_all(tmp_path: Path) -> None:
    _, db, org = _setup(tmp_path)
    with db.session() as s:
        sales = Agent(organization_id=org, name="Sales")
        s.add(sales)
        s.flush()
        s.add(Route(organization_id=org, did_pattern="+4930555*", agent_id=sales.id, priority=10))
    assert agent_for_number(db, "+4930555123") == "Sales"
    assert agent_for_number(db, "+4940111222") == "Reception"


def test_trunk_password_comes_from_the_secret_file_not_the_db(tmp_path: Path) -> None:
    settings, db, org = _setup(tmp_path)
    settings.paths.write_secret("trunk-pbx", "s3cret")
    with db.session() as s:
        s.add(Trunk(organization_id=org, name="pbx", kind="register", host="127.0.0.1", port=5080,
                    username="agent", realm="pbx.local", password_secret="trunk-pbx"))
        s.add(Trunk(organization_id=org, name="peer", kind="ip", allowed_cidrs=["127.0.0.0/8"]))
        s.add(Trunk(organization_id=org, name="off", kind="ip", enabled=False))
    rows = {r["name"]: r for r in sip_trunks(db, settings)}
    assert set(rows) == {"pbx", "peer"}
    assert rows["pbx"]["registrar"] == "sip:127.0.0.1:5080" and rows["pbx"]["password"] == "s3cret"
    assert rows["peer"]["allowed_cidrs"] == ("127.0.0.0/8",) and "password" not in rows["peer"]


def test_recording_row_references_the_file_with_its_format(tmp_path: Path) -> None:
    settings, db, org = _setup(tmp_path)
    with db.session() as s:
        s.add(Call(id="c-1", organization_id=org, caller="+491701234567", callee="100"))
    wav = settings.paths.recordings / "c-1.wav"
    write_wav(wav, AudioFrame(b"\x01\x00\x02\x00" * 16000, 16000, channels=2))
    add_recording(db, "c-1", wav)
    add_recording(db, "unknown-call", wav)  # a call never stored gets no row and no error
    with db.session() as s:
        recs = s.query(Recording).all()
    assert len(recs) == 1
    assert recs[0].channels == 2 and abs(recs[0].duration_s - 1.0) < 1e-6 and len(recs[0].sha256) == 64
