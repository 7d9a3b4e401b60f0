"""`vocaliq chat --script --json` and `vocaliq knowledge ...` through the real CLI commands (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.chat_cmd  # noqa: F401  (registers its commands on the app)
from cli.main import app

pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed")


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _json(output: str) -> object:
    """The JSON document in the output (log lines may precede it)."""
    start = min(i for i in (output.find("{"), output.find("[")) if i >= 0)
    return json.loads(output[start:])


def test_chat_script_json_reports_each_turn_with_intent(tmp_path: Path) -> None:
    script = tmp_path / "caller.txt"
    script.write_text("When are you open?\n#9\nI'd like to book an appointment\nbye\n")
    report = _json(_run("chat", "--data-dir", str(tmp_path / "data"), "--script", str(script), "--json"))
    assert isinstance(report, dict)
    turns = report["turns"]
    assert turns[1]["intent"] == "opening_hours" and "Monday" in turns[1]["played_text"]
    assert "9 is not an option" in turns[2]["played_text"]
    assert turns[3]["intent"] == "book_appointment"
    assert report["reason"] == "agent_hangup"


def test_knowledge_add_search_list_remove(tmp_path: Path) -> None:
    doc = tmp_path / "faq.md"
    doc.write_text("# Office\n\n## Parking\nFree parking in the garage on Lindenstrasse 12.\n\n"
                   "## Payment\nWe accept credit cards.\n")
    data = ["--data-dir", str(tmp_path / "data")]
    added = _json(_run("knowledge", "add", str(doc), *data, "--json"))
    assert isinstance(added, list)
    doc_id = added[0]["doc_id"]
    hits = _json(_run("knowledge", "search", "Where can I park?", *data, "--json"))
    assert isinstance(hits, list) and "Lindenstrasse 12" in hits[0]["text"]
    assert doc_id in _run("knowledge", "list", *data)
    assert "removed" in _run("knowledge", "remove", doc_id, *data)
    assert "no documents" in _run("knowledge", "list", *data)
