"""OpenAI-compatible streaming chat completions over HTTP: vLLM on the GPU box, llama.cpp's server, or a
hosted provider (the same wire format everywhere).

The reply streams as server-sent events from `POST {url}/chat/completions`. Closing the stream (barge-in:
`aclose()` or cancelling the consumer) closes the HTTP response at once; vLLM and llama.cpp's server stop
generating when the client goes away. Tool calls are sent and parsed only when the backend declares
`tool_calling` (config option), since small models produce unusable calls.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from appliance.errors import ModelUnavailable
from models.http_clients import HttpClients, bearer
from models.llm.base import LLM, ChatMessage, Delta, LLMCapabilities, ToolCall, ToolSpec


@dataclass(slots=True)
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class OpenAIChatLLM(LLM):
    """Chat completions client. `tool_choice` is sent as given ("auto", "required", "none") or, for any other
    string, as a forced call of the function of that name."""

    name = "openai-http"

    def __init__(self, url: str, *, model: str = "", api_key: str | None = None, timeout_s: float = 10.0,
                 capabilities: LLMCapabilities | None = None, tool_choice: str = "auto",
                 extra_body: dict[str, Any] | None = None) -> None:
        if not url:
            raise ModelUnavailable("an OpenAI-compatible LLM backend needs a url (e.g. http://127.0.0.1:8000/v1)")
        self.capabilities = capabilities or LLMCapabilities(tool_calling=False, languages=("*",))
        self.model = model
        self.tool_choice = tool_choice
        self.extra_body = dict(extra_body or {})
        self.http = HttpClients(url, timeout_s=timeout_s, headers=bearer(api_key), secret=api_key)
        self.open_streams = 0  # responses being read right now (0 again as soon as a stream is closed)

    def _body(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], max_tokens: int,
              temperature: float) -> dict[str, Any]:
        use_tools = bool(tools) and self.capabilities.tool_calling
        body: dict[str, Any] = {
            **self.extra_body, "model": self.model, "stream": True, "max_tokens": max_tokens,
            "temperature": temperature, "messages": [_wire_message(m, use_tools) for m in messages
                                                     if use_tools or m.role != "tool"],
        }
        if use_tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": t.parameters}} for t in tools]
            body["tool_choice"] = (self.tool_choice if self.tool_choice in ("auto", "required", "none")
                                   else {"type": "function", "function": {"name": self.tool_choice}})
        return body

    async def _impl(self, messages: Sequence[ChatMessage], *, tools: Sequence[ToolSpec], max_tokens: int,
                    temperature: float) -> AsyncIterator[Delta]:
        body = self._body(messages, tools, max_tokens, temperature)
        calls: dict[int, _PendingCall] = {}
        finish: str | None = None
        try:
            async with self.http.get().stream("POST", "/chat/completions", json=body) as response:
                self.open_streams += 1
                try:
                    if response.status_code >= 400:
                        await response.aread()
                        raise self.http.status_error("chat completions", response)
                    async for chunk in _sse_json(response):
                        if "error" in chunk:
                            raise ModelUnavailable(f"chat completions at {self.http.base_url}: "
                                                   f"{self.http.scrub(str(chunk['error']))[:200]}")
                        for choice in chunk.get("choices") or ():
                            delta = choice.get("delta") or {}
                            if text := delta.get("content"):
                                yield Delta(text=str(text))
                            for part in delta.get("tool_calls") or ():
                                _merge_tool_call(calls, part)
                            finish = choice.get("finish_reason") or finish
                finally:
                    self.open_streams -= 1
        except httpx.HTTPError as exc:
            raise self.http.error("chat completions", exc) from exc
        for index in sorted(calls):
            yield Delta(tool_call=_finish_tool_call(calls[index]))
        yield Delta(finish_reason=finish or "stop")

    async def aclose(self) -> None:
        await self.http.aclose()


def _wire_message(m: ChatMessage, use_tools: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if use_tools and m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [{"id": c.id, "type": "function",
                              "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                             for c in m.tool_calls]
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id or ""
    return out


async def _sse_json(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream's `data:` lines, until `[DONE]`."""
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, comments (": ping"), event names
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            parsed = json.loads(data)
        except ValueError as exc:
            raise ModelUnavailable(f"chat completions sent a malformed event: {data[:80]!r}") from exc
        if isinstance(parsed, dict):
            yield parsed


def _merge_tool_call(calls: dict[int, _PendingCall], part: dict[str, Any]) -> None:
    """Tool calls arrive in pieces keyed by index: id and name once (some servers repeat them), arguments
    as string fragments to concatenate."""
    pending = calls.setdefault(int(part.get("index") or 0), _PendingCall())
    pending.id = pending.id or str(part.get("id") or "")
    function = part.get("function") or {}
    pending.name = pending.name or str(function.get("name") or "")
    if args := function.get("arguments"):
        pending.arguments.append(str(args))


def _finish_tool_call(pending: _PendingCall) -> ToolCall:
    raw = "".join(pending.arguments).strip() or "{}"
    try:
        arguments = json.loads(raw)
    except ValueError as exc:
        raise ModelUnavailable(f"the model called {pending.name or 'a tool'} with arguments that are not JSON: "
                               f"{raw[:80]!r}") from exc
    if not isinstance(arguments, dict):
        raise ModelUnavailable(f"the model called {pending.name} with non-object arguments: {raw[:80]!r}")
    return ToolCall(id=pending.id or f"call_{pending.name}", name=pending.name, arguments=arguments)
