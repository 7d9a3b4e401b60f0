"""GDPR erase canary: a caller's number and a phrase they said are findable everywhere the box keeps data
before the erase (raw bytes of the SQLite file and its -wal, recordings, Chroma, the log file) and nowhere
after; another caller's data is untouched and the erase is audited without the number."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from appliance.gdpr import erase_subject, export_subject
from appliance.logs import TextFormatter, _ContextFilter, mask_number
from appliance.store.models import AuditEntry, Call, Message, Turn
from appliance.store.repositories import AuditLog
from tests.gdpr.conftest import Box
from tests.gdpr.rawscan import files_holding
from tests.gdpr.seed import seed_caller, seed_knowledge

PHONE = "+4915112345678"
PHRASE = "the purple walrus sings at dawn"
OTHER_PHONE = "+4930987654321"
OTHER_PHRASE = "the green heron waits"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """The appliance's log as an operator would keep it (text format, DEBUG), in a file."""
    path = tmp_path / "vocaliq.log"
    handler = logging.FileHandler(path)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    root.setLevel(old_level)
    handler.close()


def wal_size(data: Path) -> int:
    wal = data / "vocaliq.db-wal"
    return wal.stat().st_size if wal.exists() else 0


def db_rows_holding(box: Box, needle: str) -> list[str]:
    """Tables with a row whose text contains `needle` (for PostgreSQL, whose files we do not grep)."""
    hits = []
    with box.db.engine.connect() as conn:
        for table in ("calls", "turns", "call_events", "recordings", "appointments", "messages", "contacts",
                      "webhook_deliveries", "audit_log"):
            rows = conn.execute(text(f"select * from {table}")).all()
            if any(needle in json.dumps([str(v) for v in row]) for row in rows):
                hits.append(table)
    return hits


async def seed_both(box: Box) -> None:
    await seed_caller(box, call_id="erase-me", phone=PHONE, name="Quentin Zybrowski", phrase=PHRASE)
    await seed_caller(box, call_id="keep-me", phone=OTHER_PHONE, name="Olga Other", phrase=OTHER_PHRASE)
    await seed_knowledge(box, f"Patient list.\f Quentin Zybrowski, {PHONE}: says {PHRASE}.\f"
                              f" Olga Other, {OTHER_PHONE}: {OTHER_PHRASE}.")


async def test_erase_leaves_no_trace_of_the_number_or_phrase_in_any_file(box: Box, log_file: Path) -> None:
    data = box.settings.paths.root
    foot = await seed_caller(box, call_id="erase-me", phone=PHONE, name="Quentin Zybrowski", phrase=PHRASE)
    await seed_caller(box, call_id="keep-me", phone=OTHER_PHONE, name="Olga Other", phrase=OTHER_PHRASE)
    await seed_knowledge(box, f"Patient list.\f Quentin Zybrowski, {PHONE}: says {PHRASE}.\f"
                              f" Olga Other, {OTHER_PHONE}: {OTHER_PHRASE}.")
    digits = PHONE.lstrip("+").encode()
    for needle in (digits, PHRASE.encode()):
        found = files_holding(data, needle)
        assert any(f.startswith("vocaliq.db") for f in found), (needle, found)  # the DB file or its -wal
        assert any(f.startswith("chroma/") for f in found), (needle, found)
    assert files_holding(data, foot.pcm_marker) == ["recordings/erase-me.wav"]

    report = erase_subject(box.db, box.settings.paths, box.org, phone="+49 151 1234 5678", actor="dpo@praxis")

    assert report.counts["calls"] == 1 and report.counts["messages"] == 1 and report.counts["deliveries"] >= 3
    assert report.recording_files == 1 and report.knowledge_chunks == 1 and report.problems == []
    for needle in (digits, PHONE.encode(), PHRASE.encode(), b"Zybrowski", foot.pcm_marker):
        assert files_holding(data, needle) == [], needle
        assert files_holding(log_file, needle) == [], needle
    assert wal_size(data) == 0  # checkpointed with TRUNCATE: the -wal file holds nothing
    # the other caller is untouched
    for needle in (OTHER_PHRASE.encode(), OTHER_PHONE.encode()):
        assert any(f.startswith("vocaliq.db") for f in files_holding(data, needle))
    assert files_holding(data, OTHER_PHRASE.encode()) != []
    assert (data / "recordings" / "keep-me.wav").exists()
    with box.db.session() as s:
        kept = s.get(Call, "erase-me")  # an anonymous statistic remains: time, duration, outcome
        assert kept is not None and kept.caller == "" and kept.summary == "" and kept.duration_s >= 0
        assert s.scalars(select(Turn).where(Turn.call_id == "erase-me")).all() == []
        assert [m.caller_name for m in s.scalars(select(Message))] == ["Olga Other"]
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "gdpr.erase")).one()
        assert entry.actor == "dpo@praxis" and entry.target == f"phone:{mask_number(PHONE)}"
        assert AuditLog(s).verify() == (True, None)


async def test_erase_on_the_database_in_use(any_box: Box) -> None:
    """SQLite and PostgreSQL: no table keeps a row naming the number or the phrase."""
    await seed_both(any_box)
    assert "turns" in db_rows_holding(any_box, PHRASE) and "calls" in db_rows_holding(any_box, PHONE)
    assert "webhook_deliveries" in db_rows_holding(any_box, PHONE)
    erase_subject(any_box.db, any_box.settings.paths, any_box.org, phone=PHONE)
    assert db_rows_holding(any_box, PHRASE) == [] and db_rows_holding(any_box, PHONE.lstrip("+")) == []
    assert "turns" in db_rows_holding(any_box, OTHER_PHRASE)


async def test_export_zip_holds_the_calls_turns_message_recording_payloads_and_passages(box: Box) -> None:
    foot = await seed_caller(box, call_id="erase-me", phone=PHONE, name="Quentin Zybrowski", phrase=PHRASE)
    await seed_caller(box, call_id="keep-me", phone=OTHER_PHONE, name="Olga Other", phrase=OTHER_PHRASE)
    await seed_knowledge(box, f"Patient list.\f Quentin Zybrowski, {PHONE}: says {PHRASE}.")
    out = io.BytesIO()
    result = export_subject(box.db, box.settings.paths, box.org, out, phone="004915112345678", actor="dpo@praxis")
    archive = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    assert sorted(archive.namelist()) == sorted(["subject.json", "README.txt", "recordings/erase-me-1.wav"])
    assert archive.read("recordings/erase-me-1.wav") == foot.recording.read_bytes()
    doc = json.loads(archive.read("subject.json"))
    (call,) = doc["calls"]
    assert call["id"] == "erase-me" and call["caller"] == PHONE
    assert any(PHRASE in t["user_text"] for t in call["turns"]) and call["events"]
    assert call["recordings"][0]["file"] == "recordings/erase-me-1.wav"
    assert [m["caller_name"] for m in doc["messages"]] == ["Quentin Zybrowski"]
    assert {p["event"] for p in doc["webhook_payloads"]} >= {"call.started", "call.ended", "message.taken"}
    assert [PHRASE in p["text"] for p in doc["knowledge_passages"]] == [True]
    assert OTHER_PHRASE not in json.dumps(doc) and OTHER_PHONE not in json.dumps(doc)
    assert result.counts["calls"] == 1
    with box.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "gdpr.export")).one()
        assert entry.target == f"phone:{mask_number(PHONE)}" and PHONE not in json.dumps(entry.detail)
