"""Has the official SDKs call a server, one call per scenario, and prints what each SDK read.

    python sdk_read.py --base http://127.0.0.1:PORT < scenarios.jsonl

`--base` is the server's bare origin (a trailing `/v1` is tolerated and dropped). Each input line
is a scenario, run in order, each making ONE call (a batch makes several, below):

    {"sdk": "anthropic", "op": "create" | "stream" | "batch"}
    {"sdk": "gemini", "op": "create" | "stream"}
    {"sdk": "openai-responses", "op": "create" | "stream"}
    {"sdk": "openai-chat", "op": "create" | "stream"}

An optional `"params": {...}` is merged into the call's keyword arguments (for `batch`, into the
one request's `params`; `"custom_id"` sets that request's id, default `req-0`).

Replies are read strictly by default. The anthropic and openai clients are built with
`_strict_response_validation=True`, so a reply that is not of the SDK's types (a wrong type, a
missing required field, an unknown literal) fails with APIResponseValidationError where the
SDK would by default build the object regardless. google-genai always validates what it keeps,
but first drops every field it does not know (a misspelt field vanishes silently), so each
Gemini reply as sent is also checked against its GenerateContentResponse type the way
gemini_types.py checks requests: unknown fields, snake_case keys (which the SDK's model takes
and its converter then drops), wrong types, inexact enum values; a failure is error class
GeminiReplyRejected, with "errors", and what was read as "partial". `"strict": false` in a
scenario gives the SDKs' own, lenient reading.

A call that fails before it sends anything (a TypeError for a parameter the SDK does not have)
takes no reply, so the replies of the scenarios after it shift by one.

The calls:
  anthropic         anthropic.Anthropic(base_url=ORIGIN).messages.create(model="claude-test",
                    max_tokens=64, messages=[{"role": "user", "content": "hi"}]) -> POST /v1/messages;
                    `stream`: messages.stream(...) iterated, then get_final_message().
  anthropic batch   consumes FOUR replies, in this order:
                      1. POST /v1/messages/batches           messages.batches.create (a message_batch)
                      2. GET  /v1/messages/batches/{id}      messages.batches.retrieve(id)
                      3. GET  /v1/messages/batches/{id}      messages.batches.results(id) retrieves
                                                             the batch again for its results_url ...
                      4. GET  {results_url}                  ... then fetches that (JSON lines; an
                                                             absolute URL is used as it is, a
                                                             relative one is joined to ORIGIN)
                    `{id}` is the id the first reply gave.
  gemini            genai.Client(api_key=..., http_options=HttpOptions(base_url=ORIGIN,
                    api_version="v1beta")).models.generate_content(model="gemini-test",
                    contents="hi") -> POST /v1beta/models/gemini-test:generateContent;
                    `stream`: generate_content_stream -> ...:streamGenerateContent?alt=sse.
  openai-responses  openai.OpenAI(base_url=ORIGIN + "/v1").responses.create(model="gpt-test",
                    input="hi") -> POST /v1/responses; `stream`: responses.stream(...) iterated,
                    then get_final_response().
  openai-chat       ... .chat.completions.create(model="gpt-test", messages=[user "hi"]) ->
                    POST /v1/chat/completions; `stream`: chat.completions.stream(...) iterated,
                    then get_final_completion().
Every client: api_key "test-key", no retries, a 30 s timeout.

Each output line is `{"ok": true, "summary": S}` or `{"ok": false, "error": E}` (and, when a
stream failed part way or a Gemini reply was rejected, `"partial": S` with what was read). S, the same keys for every SDK:
    text      the reply's text (text blocks / parts / output_text joined)
    calls     [{"id", "name", "arguments"}]: tool_use blocks (arguments = `input`), Gemini
              functionCall parts (`args`; id null when absent), Responses function_call items
              (id = item id, plus "call_id"), chat tool_calls; arguments parsed from JSON text
              (kept as the raw string, with "arguments_error", if it is not JSON)
    stop      Anthropic stop_reason, Gemini finishReason, Responses status, chat finish_reason
    usage     the usage object as the SDK parsed it, in the SDK's field names, nulls left out
              (Anthropic cache_creation_input_tokens / cache_read_input_tokens, Gemini
              cached_content_token_count, Responses input_tokens_details.cached_tokens ...)
    id, model
    message   the whole final object as the SDK parsed it (JSON, nulls left out)
    events    streams only: the event types in the order the SDK yielded them (Anthropic: the
              wire events, `ping` being dropped by the SDK; "helper_events" adds the SDK's own
              text / input_json events; Gemini, which has no event types: per chunk, the kinds
              of its parts, e.g. "text", "function_call", "text+function_call", or "empty")
    + anthropic: stop_sequence, request_id; gemini streams: chunks (per-chunk summaries);
      responses: incomplete_details, error; batch: created, retrieved, results.
E: {"class": exception class name, "status": HTTP status or null, "type": provider error type
(Anthropic error.type, Gemini status string, OpenAI error type, else its code), "message": the
provider's message (else str(exception))}, plus "request_id" / "code" / "details" / "body"
where the SDK has them. An error event inside a 200 stream has status 200 (Anthropic) or the
embedded code (Gemini).

A line also has `"warnings": [...]` when an SDK warned during the call (deprecations left out;
google-genai warns, for one, about an enum value it does not know).

Exit status 0, whatever the calls did; 2 when an input line is not a scenario (after answering
the lines before it). Anything the SDKs print goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Any, Callable, Dict, List, Optional

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts, in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # gemini_types

TIMEOUT_S = 30.0
API_KEY = "test-key"
OPS = {
    "anthropic": {"create", "stream", "batch"},
    "gemini": {"create", "stream"},
    "openai-responses": {"create", "stream"},
    "openai-chat": {"create", "stream"},
}


class ReadFailed(Exception):
    """An exception raised part way through a read, with what was read before it."""

    def __init__(self, cause: BaseException, partial: Dict[str, Any]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.partial = partial


def dump(model: Any) -> Any:
    """A pydantic model (or list of them) as JSON data, nulls left out."""
    if model is None:
        return None
    if isinstance(model, list):
        return [dump(m) for m in model]
    if hasattr(model, "model_dump"):
        return model.model_dump(mode="json", exclude_none=True, warnings=False)
    return model


def arguments(raw: Any) -> Dict[str, Any]:
    """`{"arguments": parsed JSON}` from JSON text, else the text and an error note."""
    if not isinstance(raw, str):
        return {"arguments": raw}
    try:
        return {"arguments": json.loads(raw)}
    except json.JSONDecodeError as e:
        return {"arguments": raw, "arguments_error": f"not JSON: {e}"}


# ---------------------------------------------------------------------------- Anthropic
HELPER_EVENTS = {"text", "citation", "thinking", "signature", "input_json", "compaction"}


def anthropic_message(msg: Any) -> Dict[str, Any]:
    blocks = msg.content or []
    return {
        "id": msg.id,
        "model": msg.model,
        "text": "".join(b.text for b in blocks if getattr(b, "type", None) == "text"),
        "calls": [{"id": b.id, "name": b.name, "arguments": b.input} for b in blocks if getattr(b, "type", None) == "tool_use"],
        "stop": msg.stop_reason,
        "stop_sequence": msg.stop_sequence,
        "usage": dump(msg.usage),
        "request_id": getattr(msg, "_request_id", None),
        "message": dump(msg),
    }


class Anthropic:
    def __init__(self, origin: str, strict: bool) -> None:
        import anthropic

        self.sdk = anthropic
        self.client = anthropic.Anthropic(base_url=origin, api_key=API_KEY, max_retries=0, timeout=TIMEOUT_S,
                                          _strict_response_validation=strict)

    def request(self, params: Dict[str, Any]) -> Dict[str, Any]:
        return {"model": "claude-test", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], **params}

    def create(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        return anthropic_message(self.client.messages.create(**self.request(scenario.get("params") or {})))

    def stream(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        events: List[str] = []
        helper: List[str] = []
        try:
            with self.client.messages.stream(**self.request(scenario.get("params") or {})) as s:
                for event in s:
                    helper.append(event.type)
                    if event.type not in HELPER_EVENTS:
                        events.append(event.type)
                final = s.get_final_message()
        except Exception as e:
            raise ReadFailed(e, {"events": events, "helper_events": helper}) from e
        return {"events": events, "helper_events": helper, **anthropic_message(final)}

    def batch(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        request = {"custom_id": scenario.get("custom_id", "req-0"), "params": self.request(scenario.get("params") or {})}
        created = self.client.messages.batches.create(requests=[request])
        retrieved = self.client.messages.batches.retrieve(created.id)
        results = []
        for line in self.client.messages.batches.results(created.id):
            result: Dict[str, Any] = {"custom_id": line.custom_id, "type": line.result.type}
            if line.result.type == "succeeded":
                result["message"] = anthropic_message(line.result.message)
            elif line.result.type == "errored":
                error = line.result.error
                inner = getattr(error, "error", None)
                result["error"] = {"type": getattr(inner, "type", None), "message": getattr(inner, "message", None), "body": dump(error)}
            results.append(result)
        return {"created": dump(created), "retrieved": dump(retrieved), "results": results}

    def error(self, e: BaseException) -> Optional[Dict[str, Any]]:
        if isinstance(e, self.sdk.APIStatusError):
            return {"class": type(e).__name__, "status": e.status_code, "type": e.type,
                    "message": e.api_message if e.api_message is not None else e.message,
                    "request_id": e.request_id, "body": e.body}
        if isinstance(e, self.sdk.APIError):
            return {"class": type(e).__name__, "status": None, "type": None, "message": e.message, "body": e.body}
        return None


# ---------------------------------------------------------------------------- Gemini
class GeminiReplyRejected(Exception):
    """A reply, as sent, is not a GenerateContentResponse of google-genai's types (unknown or
    snake_case fields, wrong types, inexact enum values): the SDK would misread or drop it."""

    def __init__(self, errors: List[str]) -> None:
        super().__init__("google-genai's GenerateContentResponse does not take the reply as sent: " + "; ".join(errors))
        self.errors = errors


def gemini_parts(response: Any) -> List[Any]:
    candidates = response.candidates or []
    content = candidates[0].content if candidates else None
    return list((content.parts if content else None) or [])


def gemini_enum(value: Any) -> Any:
    return getattr(value, "value", value)


def gemini_response(response: Any) -> Dict[str, Any]:
    parts = gemini_parts(response)
    candidates = response.candidates or []
    return {
        "id": response.response_id,
        "model": response.model_version,
        "text": "".join(p.text for p in parts if p.text is not None and not p.thought),
        "calls": [{"id": p.function_call.id, "name": p.function_call.name, "arguments": p.function_call.args}
                  for p in parts if p.function_call is not None],
        "stop": gemini_enum(candidates[0].finish_reason) if candidates else None,
        "usage": dump(response.usage_metadata),
        "message": response.model_dump(mode="json", exclude_none=True, exclude={"sdk_http_response"}, warnings=False),
    }


def gemini_kind(response: Any) -> str:
    kinds = []
    for p in gemini_parts(response):
        for k in ("text", "function_call", "inline_data", "file_data", "executable_code", "code_execution_result"):
            if getattr(p, k, None) is not None:
                kinds.append(k)
                break
        else:
            kinds.append("other")
    return "+".join(kinds) or "empty"


# The replies as they came off the wire, before google-genai's converter keeps only the fields it
# knows (so a misspelt field would vanish silently): recorded for the strict check below.
GEMINI_RAW: List[Dict[str, Any]] = []


def _spy_on_gemini_replies() -> bool:
    from google.genai import models

    convert = getattr(models, "_GenerateContentResponse_from_mldev", None)
    if convert is None or getattr(convert, "_sdk_read_spy", False):
        return convert is not None

    def spy(from_object: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(from_object, dict):
            GEMINI_RAW.append(json.loads(json.dumps({k: v for k, v in from_object.items() if k != "sdkHttpResponse"}, default=str)))
        return convert(from_object, *args, **kwargs)

    spy._sdk_read_spy = True  # type: ignore[attr-defined]
    models._GenerateContentResponse_from_mldev = spy
    return True


class Gemini:
    def __init__(self, origin: str, strict: bool) -> None:
        from google import genai
        from google.genai import errors, types

        self.errors = errors
        self.types = types
        # google-genai validates what it keeps, but drops fields it does not know; strict also
        # validates each reply as sent against GenerateContentResponse (extra='forbid').
        self.strict = strict and _spy_on_gemini_replies()
        options = types.HttpOptions(base_url=origin, api_version="v1beta", timeout=int(TIMEOUT_S * 1000))
        self.client = genai.Client(vertexai=False, api_key=API_KEY, http_options=options)

    def request(self, params: Dict[str, Any]) -> Dict[str, Any]:
        return {"model": "gemini-test", "contents": "hi", **params}

    def check_raw(self, start: int, partial: Dict[str, Any]) -> None:
        if not self.strict:
            return
        import gemini_types

        errors = [e for i, raw in enumerate(GEMINI_RAW[start:])
                  for e in gemini_types.validate_value(raw, self.types.GenerateContentResponse, f"reply[{i}]")]
        if errors:
            raise ReadFailed(GeminiReplyRejected(errors), partial)

    def create(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        start = len(GEMINI_RAW)
        summary = gemini_response(self.client.models.generate_content(**self.request(scenario.get("params") or {})))
        self.check_raw(start, summary)
        return summary

    def stream(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        chunks: List[Dict[str, Any]] = []
        last = None
        start = len(GEMINI_RAW)
        try:
            for response in self.client.models.generate_content_stream(**self.request(scenario.get("params") or {})):
                last = response
                summary = gemini_response(response)
                del summary["message"]
                chunks.append({"kind": gemini_kind(response), **summary})
        except Exception as e:
            raise ReadFailed(e, {"events": [c["kind"] for c in chunks], "chunks": chunks}) from e
        self.check_raw(start, {"events": [c["kind"] for c in chunks], "chunks": chunks})
        usage = next((c["usage"] for c in reversed(chunks) if c["usage"]), None)
        return {
            "id": chunks[-1]["id"] if chunks else None,
            "model": chunks[-1]["model"] if chunks else None,
            "text": "".join(c["text"] for c in chunks),
            "calls": [call for c in chunks for call in c["calls"]],
            "stop": next((c["stop"] for c in reversed(chunks) if c["stop"]), None),
            "usage": usage,
            "events": [c["kind"] for c in chunks],
            "chunks": chunks,
            "message": last.model_dump(mode="json", exclude_none=True, exclude={"sdk_http_response"}, warnings=False) if last else None,
        }

    def error(self, e: BaseException) -> Optional[Dict[str, Any]]:
        if isinstance(e, self.errors.APIError):
            body = e.details if isinstance(e.details, dict) else {}
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            return {"class": type(e).__name__, "status": e.code, "type": e.status, "message": e.message,
                    "details": inner.get("details") if isinstance(inner, dict) else None, "body": e.details}
        return None


# ---------------------------------------------------------------------------- OpenAI
def responses_response(response: Any) -> Dict[str, Any]:
    calls = []
    for item in response.output or []:
        if getattr(item, "type", None) == "function_call":
            calls.append({"id": getattr(item, "id", None), "call_id": item.call_id, "name": item.name, **arguments(item.arguments)})
    return {
        "id": response.id,
        "model": response.model,
        "text": response.output_text,
        "calls": calls,
        "stop": response.status,
        "usage": dump(response.usage),
        "incomplete_details": dump(response.incomplete_details),
        "error": dump(response.error),
        "message": dump(response),
    }


def chat_completion(completion: Any) -> Dict[str, Any]:
    choice = completion.choices[0] if completion.choices else None
    message = choice.message if choice else None
    calls = []
    for call in (message.tool_calls if message else None) or []:
        function = getattr(call, "function", None)
        calls.append({"id": call.id, "name": getattr(function, "name", None), **arguments(getattr(function, "arguments", None))})
    return {
        "id": completion.id,
        "model": completion.model,
        "text": (message.content if message else None) or "",
        "calls": calls,
        "stop": choice.finish_reason if choice else None,
        "usage": dump(completion.usage),
        "message": dump(completion),
    }


class OpenAI:
    def __init__(self, origin: str, strict: bool) -> None:
        import openai

        self.sdk = openai
        self.client = openai.OpenAI(base_url=origin + "/v1", api_key=API_KEY, max_retries=0, timeout=TIMEOUT_S,
                                    _strict_response_validation=strict)

    def responses_create(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        return responses_response(self.client.responses.create(**{"model": "gpt-test", "input": "hi", **(scenario.get("params") or {})}))

    def responses_stream(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        events: List[str] = []
        terminal = None
        try:
            with self.client.responses.stream(**{"model": "gpt-test", "input": "hi", **(scenario.get("params") or {})}) as s:
                for event in s:
                    events.append(event.type)
                    if event.type in ("response.completed", "response.incomplete", "response.failed"):
                        terminal = event.response
                final = s.get_final_response()
        except Exception as e:
            partial: Dict[str, Any] = {"events": events}
            if terminal is not None:
                partial.update(responses_response(terminal))
            raise ReadFailed(e, partial) from e
        return {"events": events, **responses_response(final)}

    def chat_create(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        return chat_completion(self.client.chat.completions.create(**self.chat_request(scenario)))

    def chat_stream(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        events: List[str] = []
        try:
            with self.client.chat.completions.stream(**self.chat_request(scenario)) as s:
                for event in s:
                    events.append(event.type)
                final = s.get_final_completion()
        except Exception as e:
            raise ReadFailed(e, {"events": events}) from e
        return {"events": events, **chat_completion(final)}

    @staticmethod
    def chat_request(scenario: Dict[str, Any]) -> Dict[str, Any]:
        return {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], **(scenario.get("params") or {})}

    def error(self, e: BaseException) -> Optional[Dict[str, Any]]:
        if isinstance(e, self.sdk.APIStatusError):
            body = e.body if isinstance(e.body, dict) else {}
            message = body.get("message") if isinstance(body.get("message"), str) else e.message
            return {"class": type(e).__name__, "status": e.status_code, "type": e.type or e.code, "message": message,
                    "code": e.code, "request_id": e.request_id, "body": e.body}
        if isinstance(e, self.sdk.APIError):
            body = e.body if isinstance(e.body, dict) else {}
            return {"class": type(e).__name__, "status": None, "type": getattr(e, "type", None) or getattr(e, "code", None),
                    "message": body.get("message") if isinstance(body.get("message"), str) else e.message,
                    "code": getattr(e, "code", None), "body": e.body}
        return None


# ---------------------------------------------------------------------------- driver
class Reader:
    def __init__(self, base: str) -> None:
        origin = base.rstrip("/")
        if origin.endswith("/v1"):
            origin = origin[: -len("/v1")]
        self.origin = origin
        self._clients: Dict[Any, Any] = {}

    def client(self, sdk: str, strict: bool) -> Any:
        kind = {"anthropic": Anthropic, "gemini": Gemini, "openai-responses": OpenAI, "openai-chat": OpenAI}[sdk]
        key = (kind.__name__, strict)
        if key not in self._clients:
            self._clients[key] = kind(self.origin, strict)
        return self._clients[key]

    def run(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = self._run(scenario)
        notes = sorted({f"{w.category.__name__}: {w.message}" for w in caught
                        if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))})
        if notes:
            out["warnings"] = notes
        return out

    def _run(self, scenario: Dict[str, Any]) -> Dict[str, Any]:
        sdk, op = scenario["sdk"], scenario["op"]
        client = None
        try:
            client = self.client(sdk, scenario.get("strict", True) is not False)
            call: Callable[[Dict[str, Any]], Dict[str, Any]]
            if sdk == "openai-responses":
                call = client.responses_create if op == "create" else client.responses_stream
            elif sdk == "openai-chat":
                call = client.chat_create if op == "create" else client.chat_stream
            else:
                call = getattr(client, op)
            return {"ok": True, "summary": call(scenario)}
        except Exception as e:  # every failure is a result to report, not a crash
            partial = None
            if isinstance(e, ReadFailed):
                partial, e = e.partial, e.cause
            error = (client.error(e) if client is not None else None) or {
                "class": type(e).__name__, "status": None, "type": None, "message": str(e)}
            if isinstance(e, GeminiReplyRejected):
                error["errors"] = e.errors
            out: Dict[str, Any] = {"ok": False, "error": error}
            if partial is not None:
                out["partial"] = partial
            return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the server's origin, http://127.0.0.1:PORT")
    args = parser.parse_args()
    out = sys.stdout
    sys.stdout = sys.stderr  # whatever the SDKs print stays out of the results
    reader = Reader(args.base)
    # All input first: the caller writes every line before it reads any answer, so answering
    # while it still writes could fill both pipes and hang.
    lines = sys.stdin.read().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            scenario = json.loads(line)
        except json.JSONDecodeError as e:
            print(f"sdk_read.py: input line {n} is not JSON: {e}", file=sys.stderr)
            return 2
        if (not isinstance(scenario, dict) or scenario.get("op") not in OPS.get(scenario.get("sdk"), ())
                or not isinstance(scenario.get("params", {}), dict)):
            print(f"sdk_read.py: input line {n} is not a scenario ({ {k: sorted(v) for k, v in OPS.items()} }, "
                  f"optional \"params\" object): {line.strip()[:200]}", file=sys.stderr)
            return 2
        result = reader.run(scenario)
        out.write(json.dumps(result, default=str) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
