"""Turn TXT, Markdown, PDF and HTML documents into plain text and overlapping chunks for retrieval."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

from appliance.errors import VocalIQError


class UnsupportedDocument(VocalIQError):
    """A document type we cannot read, or a file without any text."""

    exit_code = 2


class _HtmlText(HTMLParser):
    _SKIP: ClassVar[set[str]] = {"script", "style", "noscript", "head", "nav", "footer"}
    _BLOCK: ClassVar[set[str]] = {"p", "div", "br", "li", "tr", "section", "article", *(f"h{i}" for i in range(1, 7))}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\f" if tag.startswith("h") and tag[1:].isdigit() else "\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def extract_text(name: str, data: bytes) -> str:
    """Plain text of a document, chosen by file extension."""
    suffix = Path(name).suffix.lower()
    if suffix in (".txt", ".text", ""):
        text = data.decode("utf-8", errors="replace")
    elif suffix in (".md", ".markdown"):
        text = data.decode("utf-8", errors="replace")
        text = re.sub(r"^#{1,6}\s*", "\f", text, flags=re.MULTILINE)  # a heading starts a new section
        text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
        text = re.sub(r"[*_`]{1,3}", "", text)
    elif suffix in (".html", ".htm"):
        parser = _HtmlText()
        parser.feed(data.decode("utf-8", errors="replace"))
        text = "".join(parser.parts)
    elif suffix == ".pdf":
        from pypdf import PdfReader

        try:
            reader = PdfReader(io.BytesIO(data))
            text = "\n\n".join(page.extract_text() or "" for page in reader.pages)
        except Exception as exc:
            raise UnsupportedDocument(f"{name}: not a readable PDF ({exc})") from exc
    else:
        raise UnsupportedDocument(f"{name}: unsupported type {suffix} (use .txt, .md, .pdf or .html)")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\n\s*\n+", "\n\n", text)
    text = re.sub(r"\s*\f\s*", "\f", text).strip()
    if not text:
        raise UnsupportedDocument(f"{name}: no text found")
    return text


def chunk_text(text: str, *, max_chars: int = 700, overlap_sentences: int = 1) -> list[str]:
    """Pack sentences into chunks of up to `max_chars`, each starting with the last sentence of the one before.
    Sections (separated by form feeds, i.e. headings) never share a chunk."""
    if "\f" in text:
        return [c for section in text.split("\f") if section.strip()
                for c in chunk_text(section, max_chars=max_chars, overlap_sentences=overlap_sentences)]
    sentences: list[str] = []
    for paragraph in text.split("\n\n"):
        parts = re.split(r"(?<=[.!?])\s+", paragraph.strip())
        for part in parts:
            part = part.strip()
            while len(part) > max_chars:  # one giant "sentence" (tables, lists)
                sentences.append(part[:max_chars])
                part = part[max_chars:]
            if part:
                sentences.append(part)
    chunks: list[str] = []
    current: list[str] = []
    for sentence in sentences:
        if current and len(" ".join([*current, sentence])) > max_chars:
            chunks.append(" ".join(current))
            current = current[-overlap_sentences:] if overlap_sentences else []
            if len(" ".join([*current, sentence])) > max_chars:
                current = []
        current.append(sentence)
    if current:
        chunks.append(" ".join(current))
    return chunks
