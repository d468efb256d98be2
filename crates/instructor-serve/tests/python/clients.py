"""Real Python clients against `instructor serve`.

Usage: python clients.py BASE_URL MODEL      (BASE_URL ends in /v1)

1. The reference program — instructor.from_openai(OpenAI(base_url=...)), system "You are a world
   class extractor", user 'Extract the following entities: "Jason is 20"',
   response_model=UserDetails — in modes JSON_SCHEMA, JSON, TOOLS and MD_JSON.
2. The bare openai SDK streaming a json_schema answer (with include_usage), validated with
   pydantic and jsonschema.
3. The SDK's structured-output helper (`chat.completions.parse`), and its typed errors for a
   bad request and an unknown model.
4. OpenAI's Responses API (`POST /v1/responses`) through the openai SDK: `responses.parse` and
   `responses.stream` with `text_format=UserDetails`.
5. Anthropic's Messages API (`POST /v1/messages`) through the anthropic SDK, whose base_url is the
   bare origin (no /v1): a forced tool, structured outputs (`output_config` and, where the SDK has
   it, `messages.parse(output_format=...)`), and a streamed forced tool.
6. instructor.from_anthropic in modes ANTHROPIC_TOOLS and ANTHROPIC_JSON.
7. Pydantic AI: an Agent on its AnthropicModel with output_type=UserDetails.

The anthropic SDK (2.x) sends anthropic-version 2026-10-21, which has no sampling parameters: none
are passed to the Anthropic clients.

Prints one line per check and exits 1 if any failed. INSTRUCTOR_PY_MODES limits the openai modes
(comma-separated, e.g. "JSON_SCHEMA,TOOLS"). INSTRUCTOR_PY_KNOWN_MISSES lists instructor modes whose
wrong *answers* are tolerated (default: ANTHROPIC_JSON, which only asks for JSON in the system
prompt, where the 135M model answers wrongly: no JSON, or the whole sentence as the name; every
other mode must give name='Jason' age=20); such a mode is reported as MISS and does not fail the
run as long as the server answered every attempt, or the answer parsed and validated but was wrong
(`WrongAnswer`). Set it to "" for a strict run (a bigger model).
"""

import json
import os
import sys
import time
import traceback

import anthropic
import instructor
import jsonschema
import openai
import pydantic_ai
from openai import OpenAI
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.providers.anthropic import AnthropicProvider


class UserDetails(BaseModel):
    name: str
    age: int


SYSTEM = "You are a world class extractor"
PROMPT = 'Extract the following entities: "Jason is 20"'
MESSAGES = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": PROMPT},
]
# The same conversation as Anthropic's Messages API takes it: the system prompt apart.
ANTHROPIC_MESSAGES = [{"role": "user", "content": PROMPT}]
FORCED_TOOL = {
    "tools": [{"name": "UserDetails", "input_schema": UserDetails.model_json_schema()}],
    "tool_choice": {"type": "tool", "name": "UserDetails"},
}


class WrongAnswer(AssertionError):
    """A reply that parsed and validated, but is not the seed's answer: the model's miss."""

    def __init__(self, user) -> None:
        super().__init__(f"got {user!r}")
        self.user = user


def jason(user) -> None:
    assert user is not None, "no value"
    if (user.name, user.age) != ("Jason", 20):
        raise WrongAnswer(user)


def reference_program(base_url: str, model: str, mode: instructor.Mode) -> str:
    client = instructor.from_openai(OpenAI(base_url=base_url, api_key="unused"), mode=mode)
    user = client.chat.completions.create(
        model=model, response_model=UserDetails, messages=MESSAGES, max_retries=2, max_tokens=200
    )
    assert (user.name, user.age) == ("Jason", 20), f"got {user!r}"
    return repr(user)


def sdk_streams_json_schema(base_url: str, model: str) -> str:
    client = OpenAI(base_url=base_url, api_key="unused")
    schema = UserDetails.model_json_schema()
    stream = client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "UserDetails", "schema": schema, "strict": True},
        },
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage, chunks = [], None, None, 0
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    text = "".join(pieces)
    jsonschema.validate(instance=json.loads(text), schema=schema)
    user = UserDetails.model_validate_json(text)
    assert finish == "stop", f"finish_reason {finish!r}"
    assert usage is not None and usage.completion_tokens > 0, "usage in the last chunk"
    assert chunks >= 3, f"only {chunks} chunks"
    assert (user.name, user.age) == ("Jason", 20), f"got {user!r}"
    return f"{user!r} from {chunks} chunks, usage {usage.prompt_tokens}+{usage.completion_tokens}"


def sdk_parse_and_errors(base_url: str, model: str) -> str:
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    completion = client.chat.completions.parse(model=model, messages=MESSAGES, response_format=UserDetails)
    user = completion.choices[0].message.parsed
    assert user is not None and (user.name, user.age) == ("Jason", 20), f"got {user!r}"
    try:
        client.chat.completions.create(model=model, messages="not a list")
        raise AssertionError("a bad request was accepted")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and e.body and e.body.get("param") == "messages", e.body
    try:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError as e:
        assert e.status_code == 404 and e.body and e.body.get("code") == "model_not_found", e.body
    return f"{user!r}; 400 and 404 raised as BadRequestError and NotFoundError"


def responses_parse(base_url: str, model: str) -> str:
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    response = client.responses.parse(model=model, instructions=SYSTEM, input=PROMPT, text_format=UserDetails)
    jason(response.output_parsed)
    assert response.status == "completed", f"status {response.status!r}"
    return f"{response.output_parsed!r}, usage {response.usage.input_tokens}+{response.usage.output_tokens}"


def responses_stream(base_url: str, model: str) -> str:
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    events: dict[str, int] = {}
    with client.responses.stream(model=model, instructions=SYSTEM, input=PROMPT, text_format=UserDetails) as stream:
        for event in stream:
            events[event.type] = events.get(event.type, 0) + 1
        response = stream.get_final_response()
    deltas = events.get("response.output_text.delta", 0)
    assert deltas >= 2, f"{deltas} text deltas; events {events}"
    assert events.get("response.completed") == 1, f"events {events}"
    jason(response.output_parsed)
    return f"{response.output_parsed!r} from {deltas} text deltas, {sum(events.values())} events"


def anthropic_client(origin: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=origin, api_key="unused", max_retries=0)


def tool_input(message) -> UserDetails:
    calls = [block for block in message.content if block.type == "tool_use"]
    assert len(calls) == 1 and calls[0].name == "UserDetails", f"content {message.content!r}"
    assert message.stop_reason == "tool_use", f"stop_reason {message.stop_reason!r}"
    return UserDetails.model_validate(calls[0].input)


def anthropic_forced_tool(origin: str, model: str) -> str:
    message = anthropic_client(origin).messages.create(
        model=model, max_tokens=200, system=SYSTEM, messages=ANTHROPIC_MESSAGES, **FORCED_TOOL
    )
    user = tool_input(message)
    jason(user)
    return f"{user!r}, usage {message.usage.input_tokens}+{message.usage.output_tokens}"


def anthropic_structured_output(origin: str, model: str) -> str:
    client = anthropic_client(origin)
    schema = UserDetails.model_json_schema()
    message = client.messages.create(
        model=model,
        max_tokens=200,
        system=SYSTEM,
        messages=ANTHROPIC_MESSAGES,
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    texts = [block.text for block in message.content if block.type == "text"]
    assert len(texts) == 1 and message.stop_reason == "end_turn", f"{message.stop_reason}: {message.content!r}"
    jsonschema.validate(instance=json.loads(texts[0]), schema=schema)
    user = UserDetails.model_validate_json(texts[0])
    jason(user)
    detail = f"output_config: {texts[0]}"
    if hasattr(client.messages, "parse"):
        parsed = client.messages.parse(
            model=model, max_tokens=200, system=SYSTEM, messages=ANTHROPIC_MESSAGES, output_format=UserDetails
        )
        jason(parsed.parsed_output)
        detail += f"; messages.parse(output_format=UserDetails): {parsed.parsed_output!r}"
    else:
        detail += "; this SDK has no messages.parse"
    return detail


def anthropic_streamed_tool(origin: str, model: str) -> str:
    events: dict[str, int] = {}
    with anthropic_client(origin).messages.stream(
        model=model, max_tokens=200, system=SYSTEM, messages=ANTHROPIC_MESSAGES, **FORCED_TOOL
    ) as stream:
        for event in stream:
            events[event.type] = events.get(event.type, 0) + 1
        message = stream.get_final_message()
    deltas = events.get("input_json", 0)
    assert deltas >= 2, f"{deltas} input_json deltas; events {events}"
    assert events.get("message_stop") == 1, f"events {events}"
    user = tool_input(message)
    jason(user)
    return f"{user!r} from {deltas} input_json deltas, {sum(events.values())} events"


def instructor_anthropic(origin: str, model: str, mode: instructor.Mode) -> str:
    client = instructor.from_anthropic(anthropic.Anthropic(base_url=origin, api_key="unused"), mode=mode)
    user = client.messages.create(
        model=model,
        response_model=UserDetails,
        system=SYSTEM,
        messages=ANTHROPIC_MESSAGES,
        max_retries=2,
        max_tokens=200,
    )
    jason(user)
    return repr(user)


def pydantic_ai_agent(origin: str, model: str, max_tokens: int | None) -> str:
    provider = AnthropicProvider(base_url=origin, api_key="unused")
    agent = Agent(AnthropicModel(model, provider=provider), output_type=UserDetails, instructions=SYSTEM)
    settings = {"max_tokens": max_tokens} if max_tokens else None
    result = agent.run_sync(PROMPT, model_settings=settings)
    jason(result.output)
    usage = result.usage if hasattr(result.usage, "requests") else result.usage()  # a method before 2.6x
    return f"{result.output!r} in {usage.requests} request(s), usage {usage.input_tokens}+{usage.output_tokens}"


def model_reply(e: Exception) -> str:
    """The text of the model's last reply that the exception carries, if any."""
    if isinstance(e, WrongAnswer):
        return repr(e.user)
    completion = getattr(e, "last_completion", None)
    attempts = getattr(e, "failed_attempts", None) or []
    if completion is None and attempts:
        completion = attempts[-1].completion
    if completion is None:
        return ""
    try:
        if hasattr(completion, "choices"):  # openai chat completion
            message = completion.choices[0].message
            text = message.content or json.dumps([c.function.arguments for c in message.tool_calls or []])
        else:  # anthropic message
            text = " ".join(getattr(b, "text", None) or json.dumps(getattr(b, "input", None)) for b in completion.content)
    except Exception:  # noqa: BLE001 - a reply of another shape is shown as it is
        text = str(completion)
    return text


def model_miss(e: Exception) -> bool:
    """The server answered every attempt; the model's answers were wrong."""
    if isinstance(e, WrongAnswer) or type(e).__name__ == "IncompleteOutputException":
        return True
    attempts = getattr(e, "failed_attempts", None) or []
    return bool(attempts) and all(a.completion is not None for a in attempts)


def main() -> int:
    base_url, model = sys.argv[1], sys.argv[2]
    # Anthropic's clients take the bare origin and add /v1 themselves.
    origin = base_url.rstrip("/").removesuffix("/v1")
    wanted = os.environ.get("INSTRUCTOR_PY_MODES", "JSON_SCHEMA,JSON,TOOLS,MD_JSON").split(",")
    known_misses = set(filter(None, os.environ.get("INSTRUCTOR_PY_KNOWN_MISSES", "ANTHROPIC_JSON").split(",")))
    checks = [
        (f"instructor {name}", name in known_misses, lambda name=name: reference_program(base_url, model, instructor.Mode[name]))
        for name in wanted
        if name
    ]
    checks.append(("openai SDK: streamed json_schema", False, lambda: sdk_streams_json_schema(base_url, model)))
    checks.append(("openai SDK: parse() and typed errors", False, lambda: sdk_parse_and_errors(base_url, model)))
    checks.append(("openai SDK: responses.parse(text_format)", False, lambda: responses_parse(base_url, model)))
    checks.append(("openai SDK: responses.stream(text_format)", False, lambda: responses_stream(base_url, model)))
    checks.append(("anthropic SDK: forced tool", False, lambda: anthropic_forced_tool(origin, model)))
    checks.append(("anthropic SDK: structured output", False, lambda: anthropic_structured_output(origin, model)))
    checks.append(("anthropic SDK: streamed forced tool", False, lambda: anthropic_streamed_tool(origin, model)))
    checks += [
        (
            f"instructor from_anthropic {name}",
            name in known_misses,
            lambda name=name: instructor_anthropic(origin, model, instructor.Mode[name]),
        )
        for name in ("ANTHROPIC_TOOLS", "ANTHROPIC_JSON")
    ]
    checks.append(
        ("Pydantic AI: Agent(AnthropicModel), max_tokens 200", False, lambda: pydantic_ai_agent(origin, model, 200))
    )
    checks.append(
        ("Pydantic AI: Agent(AnthropicModel), its default max_tokens", False, lambda: pydantic_ai_agent(origin, model, None))
    )
    print(
        f"openai {openai.__version__}, instructor {instructor.__version__}, anthropic {anthropic.__version__}, "
        f"pydantic-ai {pydantic_ai.__version__}, model {model}"
    )
    failed = missed = 0
    for name, may_miss, check in checks:
        started = time.monotonic()
        try:
            detail = check()
            print(f"PASS {name}: {detail} ({time.monotonic() - started:.1f} s)")
        except Exception as e:  # noqa: BLE001 - every failure is reported the same way
            last = " ".join(traceback.format_exception_only(type(e), e)[-1].split())[:300]
            if may_miss and model_miss(e):
                missed += 1
                reply = json.dumps(model_reply(e)[:160])
                print(
                    f"MISS {name} (known: the model's answer, every request served): {last}; "
                    f"reply {reply} ({time.monotonic() - started:.1f} s)"
                )
            else:
                failed += 1
                print(f"FAIL {name}: {last} ({time.monotonic() - started:.1f} s)")
    passed = len(checks) - failed - missed
    print(f"{passed}/{len(checks)} checks passed, {missed} known model misses, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
