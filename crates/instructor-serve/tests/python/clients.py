"""Real Python clients against `instructor serve`.

Usage: python clients.py BASE_URL MODEL      (BASE_URL ends in /v1)

1. The reference program — instructor.from_openai(OpenAI(base_url=...)), system "You are a world
   class extractor", user 'Extract the following entities: "Jason is 20"',
   response_model=UserDetails — in modes JSON_SCHEMA, JSON, TOOLS and MD_JSON.
2. The bare openai SDK streaming a json_schema answer (with include_usage), validated with
   pydantic and jsonschema.
3. The SDK's structured-output helper (`chat.completions.parse`), and its typed errors for a
   bad request and an unknown model.

Prints one line per check and exits 1 if any failed. INSTRUCTOR_PY_MODES limits the modes
(comma-separated, e.g. "JSON_SCHEMA,TOOLS"). INSTRUCTOR_PY_KNOWN_MISSES lists modes whose wrong
*answers* are tolerated (default: none — every mode must give name='Jason' age=20); such a mode is
reported as MISS and does not fail the run as long as the server answered every attempt. Set it for a
strict run (a bigger model).
"""

import json
import os
import sys
import time
import traceback

import instructor
import jsonschema
import openai
from openai import OpenAI
from pydantic import BaseModel


class UserDetails(BaseModel):
    name: str
    age: int


MESSAGES = [
    {"role": "system", "content": "You are a world class extractor"},
    {"role": "user", "content": 'Extract the following entities: "Jason is 20"'},
]


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


def model_miss(e: Exception) -> bool:
    """The server answered every attempt; the model's answers were wrong."""
    if type(e).__name__ == "IncompleteOutputException":
        return True
    attempts = getattr(e, "failed_attempts", None) or []
    return bool(attempts) and all(a.completion is not None for a in attempts)


def main() -> int:
    base_url, model = sys.argv[1], sys.argv[2]
    wanted = os.environ.get("INSTRUCTOR_PY_MODES", "JSON_SCHEMA,JSON,TOOLS,MD_JSON").split(",")
    known_misses = set(filter(None, os.environ.get("INSTRUCTOR_PY_KNOWN_MISSES", "").split(",")))
    checks = [
        (f"instructor {name}", name in known_misses, lambda name=name: reference_program(base_url, model, instructor.Mode[name]))
        for name in wanted
        if name
    ]
    checks.append(("openai SDK: streamed json_schema", False, lambda: sdk_streams_json_schema(base_url, model)))
    checks.append(("openai SDK: parse() and typed errors", False, lambda: sdk_parse_and_errors(base_url, model)))
    print(f"openai {openai.__version__}, instructor {instructor.__version__}, model {model}")
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
                print(f"MISS {name} (known: the model's answer, every request served): {last} ({time.monotonic() - started:.1f} s)")
            else:
                failed += 1
                print(f"FAIL {name}: {last} ({time.monotonic() - started:.1f} s)")
    passed = len(checks) - failed - missed
    print(f"{passed}/{len(checks)} checks passed, {missed} known model misses, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
