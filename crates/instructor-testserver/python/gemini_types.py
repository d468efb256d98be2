"""Gemini `generateContent` request bodies, checked against the official `google-genai` SDK's types.

    from gemini_types import validate
    errors = validate(body)                                   # strict: camelCase, exact enums
    errors = validate(body, allow_snake=True, strict_enums=False)   # what the SDK tolerates
    # [] means valid; otherwise one "path: message" string per problem.

Written against google-genai 3.6.1. The body is the REST `GenerateContentRequest` (proto3 JSON:
lowerCamelCase keys, UPPER_SNAKE enum strings, base64 bytes), e.g. `POST
/v1beta/models/{model}:generateContent` or `:streamGenerateContent?alt=sse`.

What is checked:
  * top-level keys: only the request members in TOP;
  * each member is validated in pydantic JSON mode against the SDK's types, whose base model has
    `extra='forbid'` (so unknown nested fields are rejected) and whose bytes fields must be
    base64 (standard or URL-safe);
  * keys must be the camelCase wire names (the SDK's models also take snake_case, and the server
    takes both, but the wire form is camelCase); `allow_snake=True` lifts this;
  * enum values must be spelled exactly ("ANY", not "any"): the SDK's CaseInSensitiveEnum
    otherwise takes any case silently and unknown values with a warning.
    `strict_enums=False` accepts any case (unknown values are still errors);
  * fields the SDK's types have but refuses to send to the Gemini Developer API (Vertex AI only,
    `ValueError(... not supported in Gemini API)` in its converters);
  * rules the all-Optional SDK types leave out (see `_semantics`).
No global state is changed (the SDK's enum class is not patched); the walk that checks key
spelling checks the enums too.
"""
from __future__ import annotations

import enum
import functools
import json
import re
import types as _pytypes
import typing
import warnings
from typing import Any, Dict, List

import pydantic

__all__ = ["validate", "validate_value"]

# Part members that carry the part's payload; exactly one must be set.
PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse",
             "executableCode", "codeExecutionResult", "toolCall", "toolResponse")
# Google's API reference for FunctionDeclaration.name (the SDK does not check it).
FN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
# Fields of the SDK's types that its Gemini Developer API converters refuse (google-genai 3.6.1,
# models.py `_..._to_mldev`: "... parameter is not supported in Gemini API."), by type name.
VERTEX_ONLY = {
    "GenerationConfig": {"routingConfig", "modelSelectionConfig", "audioTimestamp", "enableAffectiveDialog",
                         "translationConfig", "audioTranscriptionConfig"},
    "FunctionCall": {"partialArgs", "willContinue"},
    "FunctionCallingConfig": {"streamFunctionCallArguments"},
    "Tool": {"retrieval", "enterpriseWebSearch"},
    "SafetySetting": {"method"},
    "Blob": {"displayName"},
    "FileData": {"displayName"},
}


@functools.lru_cache(maxsize=None)
def _top() -> Dict[str, Any]:
    from google.genai import types

    return {
        "contents": list[types.Content],
        "systemInstruction": types.Content,
        "tools": list[types.Tool],
        "toolConfig": types.ToolConfig,
        "generationConfig": types.GenerationConfig,
        "safetySettings": list[types.SafetySetting],
        "cachedContent": str,  # "cachedContents/{id}"
    }


@functools.lru_cache(maxsize=None)
def _adapter(ann: Any) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(ann)


def _snake(k: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), k)


def _camel(k: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k)


def _get(d: Any, camel: str) -> Any:
    if not isinstance(d, dict):
        return None
    return d[camel] if camel in d else d.get(_snake(camel))


def _alternatives(ann: Any) -> List[Any]:
    """The annotations a value of type `ann` could have (Optional/Union/Annotated unwrapped)."""
    origin = typing.get_origin(ann)
    if origin is typing.Union or origin is _pytypes.UnionType:
        out = []
        for a in typing.get_args(ann):
            if a is not type(None):
                out.extend(_alternatives(a))
        return out
    if origin is typing.Annotated:
        return _alternatives(typing.get_args(ann)[0])
    return [ann]


class _Check:
    def __init__(self, allow_snake: bool, strict_enums: bool) -> None:
        self.allow_snake = allow_snake
        self.strict_enums = strict_enums
        self.errors: List[str] = []

    def err(self, path: str, msg: str) -> None:
        self.errors.append(f"{path}: {msg}")

    def typed(self, value: Any, ann: Any, path: str) -> None:
        """pydantic's verdict on `value` as an `ann`, then the walk below."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                _adapter(ann).validate_json(json.dumps(value))
            except pydantic.ValidationError as e:
                for d in e.errors(include_url=False):
                    loc = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in d["loc"])
                    self.err(f"{path}{loc}", f"{d['msg']} [{d['type']}] (input: {json.dumps(d.get('input'))[:80]})")
        for w in caught:
            # CaseInSensitiveEnum warns "X is not a valid Mode" and keeps the unknown value; the
            # walk reports that more precisely when enums are strict
            if not self.strict_enums or "is not a valid" not in str(w.message):
                self.err(path, f"SDK warning: {w.message}")
        self.walk(value, ann, path)

    # -- key spelling, enum spelling, Vertex-only fields ------------------------------------
    def walk(self, value: Any, ann: Any, path: str) -> None:
        for a in _alternatives(ann):
            origin = typing.get_origin(a)
            if isinstance(a, type) and issubclass(a, enum.Enum) and isinstance(value, str):
                if self.strict_enums and value not in {m.value for m in a}:
                    self.err(path, f"{value!r} is not one of {a.__name__}'s values {[m.value for m in a]}")
                return
            if isinstance(a, type) and issubclass(a, pydantic.BaseModel) and isinstance(value, dict):
                a.model_rebuild(raise_errors=False)
                fields = a.model_fields
                by_alias = {f.alias or n: (n, f) for n, f in fields.items()}
                vertex = VERTEX_ONLY.get(a.__name__, set())
                for k, v in value.items():
                    if k in by_alias:
                        if k in vertex:
                            self.err(f"{path}.{k}", f"not supported by the Gemini Developer API (Vertex AI only; the SDK refuses it)")
                        self.walk(v, by_alias[k][1].annotation, f"{path}.{k}")
                    elif k in fields and (fields[k].alias or k) != k:
                        if not self.allow_snake:
                            self.err(f"{path}.{k}", f'snake_case field name; the wire name is "{fields[k].alias}"')
                        elif (fields[k].alias or k) in vertex:
                            self.err(f"{path}.{k}", "not supported by the Gemini Developer API (Vertex AI only)")
                        self.walk(v, fields[k].annotation, f"{path}.{k}")
                    # unknown keys: pydantic reports them (extra='forbid')
                return
            if origin in (list, typing.List) and isinstance(value, list):
                (item,) = typing.get_args(a) or (typing.Any,)
                for i, v in enumerate(value):
                    self.walk(v, item, f"{path}[{i}]")
                return
            if origin in (dict, typing.Dict) and isinstance(value, dict):
                args = typing.get_args(a)
                if len(args) == 2:
                    for k, v in value.items():
                        self.walk(v, args[1], f"{path}.{k}")
                return

    # -- rules beyond the types --------------------------------------------------------------
    def content(self, c: Any, path: str, roles: set) -> None:
        if not isinstance(c, dict):
            return
        role = c.get("role")
        if role is not None and role not in roles:
            self.err(f"{path}.role", f'"{role}" is not one of {sorted(roles)}')
        parts = c.get("parts")
        if not parts:
            self.err(f"{path}.parts", "missing or empty")
            return
        for i, p in enumerate(parts):
            pp = f"{path}.parts[{i}]"
            if not isinstance(p, dict):
                continue
            kinds = [k for k in PART_DATA if k in p or _snake(k) in p]
            if len(kinds) != 1:
                self.err(pp, f"a part needs exactly one of {list(PART_DATA)}, found {kinds or 'none'}")
            inline = _get(p, "inlineData")
            if isinstance(inline, dict):
                for k in ("mimeType", "data"):
                    if _get(inline, k) is None:
                        self.err(f"{pp}.inlineData", f"{k} is required")
            fdata = _get(p, "fileData")
            if isinstance(fdata, dict) and _get(fdata, "fileUri") is None:
                self.err(f"{pp}.fileData", "fileUri is required")
            fc = _get(p, "functionCall")
            if isinstance(fc, dict):
                if not fc.get("name"):
                    self.err(f"{pp}.functionCall", "name is required")
                if "args" in fc and not isinstance(fc["args"], dict):
                    self.err(f"{pp}.functionCall.args", "must be a JSON object, not a string")
            fr = _get(p, "functionResponse")
            if isinstance(fr, dict):
                if not fr.get("name"):
                    self.err(f"{pp}.functionResponse", "name is required")
                if not isinstance(fr.get("response"), dict) and "parts" not in fr:
                    self.err(f"{pp}.functionResponse", "response (a JSON object) is required")

    def semantics(self, body: Dict[str, Any]) -> None:
        contents = body.get("contents")
        if not contents:
            self.err("contents", "required and must be non-empty")
        elif isinstance(contents, list):
            for i, c in enumerate(contents):
                self.content(c, f"contents[{i}]", {"user", "model"})
        si = _get(body, "systemInstruction")
        if isinstance(si, dict):
            self.content(si, "systemInstruction", {"user", "model", "system"})

        declared = set()
        for ti, tool in enumerate(body.get("tools") or []):
            if not isinstance(tool, dict):
                continue
            for fi, fd in enumerate(_get(tool, "functionDeclarations") or []):
                fp = f"tools[{ti}].functionDeclarations[{fi}]"
                if not isinstance(fd, dict):
                    continue
                name = fd.get("name")
                if not name:
                    self.err(fp, "name is required")
                elif not isinstance(name, str) or not FN_NAME.match(name):
                    self.err(f"{fp}.name", f"{name!r} must match {FN_NAME.pattern}")
                else:
                    declared.add(name)
                if fd.get("parameters") is not None and _get(fd, "parametersJsonSchema") is not None:
                    self.err(fp, "parameters and parametersJsonSchema are mutually exclusive")
                if fd.get("response") is not None and _get(fd, "responseJsonSchema") is not None:
                    self.err(fp, "response and responseJsonSchema are mutually exclusive")

        fcc = _get(_get(body, "toolConfig"), "functionCallingConfig")
        if isinstance(fcc, dict):
            names = _get(fcc, "allowedFunctionNames")
            mode = fcc.get("mode")
            if isinstance(mode, str) and not self.strict_enums:
                mode = mode.upper()
            if names:
                if mode not in ("ANY", "VALIDATED"):
                    self.err("toolConfig.functionCallingConfig.allowedFunctionNames",
                             f"only meaningful with mode ANY or VALIDATED (mode is {mode!r})")
                for n in names if isinstance(names, list) else []:
                    if n not in declared:
                        self.err("toolConfig.functionCallingConfig.allowedFunctionNames", f'"{n}" is not declared in tools')
            if mode in ("ANY", "VALIDATED") and not declared:
                self.err("toolConfig.functionCallingConfig.mode", f"{mode} needs functionDeclarations")

        gc = _get(body, "generationConfig")
        if isinstance(gc, dict):
            rs, rjs = _get(gc, "responseSchema"), _get(gc, "responseJsonSchema")
            if rs is not None and rjs is not None:
                self.err("generationConfig", "responseSchema and responseJsonSchema are mutually exclusive")
            if (rs is not None or rjs is not None) and not _get(gc, "responseMimeType"):
                self.err("generationConfig", "responseSchema/responseJsonSchema need responseMimeType "
                                             "(application/json, or text/x.enum for an enum schema)")


def validate_value(value: Any, ann: Any, path: str, allow_snake: bool = False, strict_enums: bool = True) -> List[str]:
    """The problems with `value` (wire JSON) as a value of the SDK type `ann` (e.g.
    `types.GenerateContentResponse`): pydantic's (unknown fields, wrong types, bad base64) plus
    snake_case keys and inexact enum values; no request-level rules."""
    check = _Check(allow_snake, strict_enums)
    check.typed(value, ann, path)
    return check.errors


def validate(body: Any, allow_snake: bool = False, strict_enums: bool = True) -> List[str]:
    """The problems the SDK's types find in `body` ([] when valid)."""
    if not isinstance(body, dict):
        return ["<root>: the request body must be a JSON object"]
    top = _top()
    check = _Check(allow_snake, strict_enums)
    for key, value in body.items():
        wire = key
        if key not in top:
            camel = _camel(key)
            if allow_snake and camel in top:
                wire = camel
            else:
                hint = f' (the wire name is "{camel}")' if camel in top else ""
                check.err(key, f"unknown top-level field{hint}; allowed: {sorted(top)}")
                continue
        check.typed(value, top[wire], key)
    check.semantics(body)
    return check.errors


if __name__ == "__main__":
    import sys

    flags = set(sys.argv[1:])
    problems = validate(json.load(sys.stdin), allow_snake="--allow-snake" in flags, strict_enums="--lenient-enums" not in flags)
    print("\n".join(problems) if problems else "OK")
    sys.exit(1 if problems else 0)
