"""Sentence splitter: turns a stream of LLM text pieces into whole sentences as early as possible.

Each sentence goes to TTS the moment it is complete, so the first audio does not wait for the whole reply.
Abbreviations ("Dr.", "z.B.") and decimals ("3.5") do not end a sentence.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = {
    "dr", "mr", "mrs", "ms", "prof", "st", "nr", "no", "vs", "etc", "z.b", "bzw", "ca", "usw", "e.g", "i.e",
    "str", "tel", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
}
_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|\n+")


class SentenceSplitter:
    """Feed text pieces with `push`; it returns the sentences they completed. `flush` returns the rest."""

    def __init__(self, min_chars: int = 8) -> None:
        self._buffer = ""
        self._min_chars = min_chars  # avoids synthesizing "Ok." alone when more follows at once

    def push(self, text: str) -> list[str]:
        self._buffer += text
        out: list[str] = []
        start = 0
        for match in _END.finditer(self._buffer):
            candidate = self._buffer[start : match.end()].strip()
            if not candidate:
                start = match.end()
                continue
            if self._is_abbreviation(candidate) or len(candidate) < self._min_chars:
                continue
            out.append(candidate)
            start = match.end()
        self._buffer = self._buffer[start:]
        return out

    def flush(self) -> list[str]:
        rest = self._buffer.strip()
        self._buffer = ""
        return [rest] if rest else []

    @staticmethod
    def _is_abbreviation(sentence: str) -> bool:
        if not sentence.endswith("."):
            return False
        last = sentence.rsplit(None, 1)[-1].rstrip(".").lower()
        return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()) or last.isdigit()


def split_sentences(text: str) -> list[str]:
    """All sentences of a finished text."""
    splitter = SentenceSplitter()
    return [*splitter.push(text + " "), *splitter.flush()]
