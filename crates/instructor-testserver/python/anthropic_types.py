"""Anthropic Messages request bodies, checked against the official `anthropic` SDK's types.

    from anthropic_types import validate
    errors = validate(body)                      # POST /v1/messages, the SDK's API version
    errors = validate(body, legacy=True)         # ... sent as anthropic-version 2023-06-01
    errors = validate(body, batch=True)          # POST /v1/messages/batches
    # [] means valid; otherwise one "path: message [pydantic error type]" string per problem.

Written against anthropic 2.14.0 (which sends `anthropic-version: 2026-10-21`).

The SDK's request types are TypedDicts, and validating them as they are proves little:
pydantic ignores unknown TypedDict keys, validates the SDK's `Iterable[...]` lists lazily (so
nested items are never looked at), and the content-block unions also hold the SDK's response
models, which allow extra fields. So every TypedDict reachable from the request type is rebuilt
here: unknown keys forbidden (except where the SDK itself allows them, as in a tool's
`input_schema`), `Iterable`/`Sequence` made `list`, response models and file objects dropped
from unions, and unions of tagged dicts discriminated on `type` (or `role`) so that an error
names the one branch that was meant. Validation is strict (no "1" -> 1 coercion).

`betas`, `user_profile_id` and `workspace_id` sit in the SDK's param types but the SDK sends
them as headers (`anthropic-beta`, `anthropic-user-profile-id`, `anthropic-workspace-id`), so
they are not accepted in a /v1/messages body. Inside a batch request's `params`,
`user_profile_id` is a body field (the SDK's `batches.create` docstring speaks of "an
individual request whose `user_profile_id` body field"), the other two are not.
"""
from __future__ import annotations

import collections.abc
import functools
import os
import sys
import types
import typing
from typing import IO, Any, Dict, List, Literal, Optional, Union

import pydantic
import typing_extensions
from typing_extensions import Annotated, NotRequired, Required, get_args, get_origin, is_typeddict

__all__ = ["validate", "CUSTOM_ID_PATTERN"]

HEADER_ONLY_KEYS = frozenset({"betas", "user_profile_id", "workspace_id"})
BATCH_PARAMS_HEADER_ONLY_KEYS = frozenset({"betas", "workspace_id"})

# `custom_id` of a batch request, from the API reference (platform.claude.com/docs/en/api/
# {csharp,...}/messages/batches: "minLength: 1, maxLength: 64, pattern: ^[a-zA-Z0-9_-]{1,64}$";
# the API answers a 65-character id with 400 "requests.0.custom_id: String should have at
# most 64 characters", anthropic-sdk-python issue #984). The SDK itself does not check it.
CUSTOM_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
# `requests`: "minItems: 1, maxItems: 100000" (same API reference page).
BATCH_MAX_REQUESTS = 100_000


# The sampling parameters of anthropic-version 2023-06-01. anthropic 2.14.0 (API version
# 2026-10-21, which removed them) has none; these are the types of anthropic 0.75.0's
# `types/message_create_params.py` (`temperature: float`, `top_p: float`, `top_k: int`), with
# the range its `temperature` docstring gives ("Ranges from `0.0` to `1.0`") and top_p's (a
# probability).
class _LegacyOutputFormat(typing_extensions.TypedDict, total=True):
    """The structured-outputs beta's top-level `output_format` (with `anthropic-beta:
    structured-outputs-2025-11-13`), exactly as anthropic 0.75.0 typed it in
    `types/beta/message_create_params.py`: `output_format: Optional[BetaJSONOutputFormatParam]`,
    where `types/beta/beta_json_output_format_param.py` has

        class BetaJSONOutputFormatParam(TypedDict, total=False):
            schema: Required[Dict[str, object]]
            type: Required[Literal["json_schema"]]

    (anthropic 2.14.0 keeps only a vestigial `OutputFormat` and never sends the field.)"""

    schema: Dict[str, object]
    type: Literal["json_schema"]


_LegacyOutputFormat.__pydantic_config__ = pydantic.ConfigDict(extra="forbid")  # type: ignore[attr-defined]

LEGACY_FIELDS: Dict[str, Any] = {
    "temperature": Annotated[float, pydantic.Field(ge=0.0, le=1.0)],
    "top_p": Annotated[float, pydantic.Field(ge=0.0, le=1.0)],
    "top_k": Annotated[int, pydantic.Field(ge=0)],
    "output_format": Optional[_LegacyOutputFormat],
}

_DROP = object()


class _Rebuilder:
    """Rebuilds the SDK's TypedDicts strictly (see the module docstring). One per process."""

    def __init__(self) -> None:
        self._memo: Dict[Any, Any] = {}
        self._in_progress: set = set()

    @staticmethod
    def _td_chain(td: type) -> List[type]:
        """TypedDict classes from the root base down to `td`."""
        out: List[type] = []
        for base in getattr(td, "__orig_bases__", ()):
            if is_typeddict(base):
                for b in _Rebuilder._td_chain(base):
                    if b not in out:
                        out.append(b)
        out.append(td)
        return out

    @staticmethod
    def _own_fields(td: type) -> Dict[str, tuple]:
        """name -> (resolved annotation, required), honouring Required/NotRequired and the
        `total=` of the class that (re)declares each key. The SDK modules use `from __future__
        import annotations`, so annotations are strings evaluated in their own module."""
        fields: Dict[str, tuple] = {}
        for cls in _Rebuilder._td_chain(td):
            base_ann: Dict[str, Any] = {}
            for b in getattr(cls, "__orig_bases__", ()):
                if is_typeddict(b):
                    base_ann.update(b.__annotations__)
            namespace = dict(vars(sys.modules[cls.__module__]))
            for name, ann in cls.__annotations__.items():
                if name in base_ann and base_ann[name] == ann:
                    continue  # inherited unchanged
                if isinstance(ann, typing.ForwardRef):
                    ann = ann.__forward_arg__
                if isinstance(ann, str):
                    ann = eval(ann, namespace)  # noqa: S307 - the SDK's own annotations
                required = bool(getattr(cls, "__total__", True))
                if get_origin(ann) is Required:
                    required, ann = True, get_args(ann)[0]
                elif get_origin(ann) is NotRequired:
                    required, ann = False, get_args(ann)[0]
                fields[name] = (ann, required)
        return fields

    @staticmethod
    def _literal_values(tp: Any) -> Any:
        if get_origin(tp) is Literal:
            return set(get_args(tp))
        if get_origin(tp) is Union:
            vals: set = set()
            for a in get_args(tp):
                if a is type(None):
                    continue
                lv = _Rebuilder._literal_values(a)
                if lv is None:
                    return None
                vals |= lv
            return vals or None
        return None

    @staticmethod
    def _discriminated(members: List[Any]) -> Any:
        """A union of TypedDicts tagged by a Literal `type` (or `role`) -> a callable
        Discriminator. One member may have the tag optional (ToolParam's `type:
        Optional[Literal["custom"]]`): it is the branch for an absent or null tag."""
        for key in ("type", "role"):
            mapping: Dict[Any, str] = {}
            default = None
            ok = True
            for m in members:
                hint = getattr(m, "__strict_fields__", {}).get(key)
                lv = _Rebuilder._literal_values(hint[0]) if hint else None
                if not lv or (mapping.keys() & lv):
                    ok = False
                    break
                for val in lv:
                    mapping[val] = m.__name__
                if not hint[1]:
                    if default is not None:
                        ok = False
                        break
                    default = m.__name__
            if not ok:
                continue

            def pick(v: Any, _k: str = key, _map: Dict[Any, str] = mapping, _d: Any = default) -> Any:
                if not isinstance(v, dict):
                    return None
                val = v.get(_k)
                if val is None:
                    return _d
                return _map.get(val) if isinstance(val, str) else None

            tagged = tuple(Annotated[m, pydantic.Tag(m.__name__)] for m in members)
            return Annotated[
                Union[tagged],  # type: ignore[valid-type]
                pydantic.Discriminator(
                    pick,
                    custom_error_type="unknown_tag",
                    custom_error_message=f"unknown or missing `{key}` (expected one of {sorted(map(str, mapping))})",
                ),
            ]
        return None

    def strict(self, tp: Any) -> Any:
        if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
            return _DROP  # response models: not part of the request
        if is_typeddict(tp):
            return self.typed_dict(tp)
        origin, args = get_origin(tp), get_args(tp)
        if origin is Annotated or origin in (Required, NotRequired):
            return self.strict(args[0])
        if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
            members = [m for m in (self.strict(a) for a in args) if m is not _DROP]
            flat: List[Any] = []
            for m in members:  # flatten nested unions (also already-discriminated ones)
                inner = get_args(m)[0] if get_origin(m) is Annotated else m
                if get_origin(inner) is Union:
                    for a in get_args(inner):
                        a = get_args(a)[0] if get_origin(a) is Annotated else a
                        if a not in flat:
                            flat.append(a)
                elif m not in flat:
                    flat.append(m)
            if not flat:
                return _DROP
            if len(flat) == 1:
                return flat[0]
            if all(is_typeddict(m) for m in flat):
                d = self._discriminated(flat)
                if d is not None:
                    return d
            return Union[tuple(flat)]  # type: ignore[valid-type]
        if origin in (collections.abc.Iterable, collections.abc.Sequence, list, collections.abc.Iterator):
            return List[self.strict(args[0]) if args else Any]  # type: ignore[misc]
        if origin in (dict, collections.abc.Mapping):
            k, v = args if args else (str, Any)
            return Dict[k, self.strict(v)]  # type: ignore[valid-type]
        if origin is IO or tp is IO or origin is os.PathLike or tp is os.PathLike:
            return _DROP  # SDK-side file objects, never on the wire
        return tp

    def typed_dict(self, td: type) -> Any:
        if td in self._memo:
            return self._memo[td]
        if td in self._in_progress:
            raise RuntimeError(f"recursive TypedDict {td!r} not supported")
        self._in_progress.add(td)
        try:
            fields = {}
            strict_fields = {}
            for name, (ann, required) in self._own_fields(td).items():
                sv = self.strict(ann)
                if sv is _DROP:
                    continue
                strict_fields[name] = (sv, required)
                fields[name] = Required[sv] if required else NotRequired[sv]
            new = typing_extensions.TypedDict(td.__name__, fields, total=False)  # type: ignore[operator]
            old = dict(getattr(td, "__pydantic_config__", {}) or {})
            new.__pydantic_config__ = pydantic.ConfigDict(  # type: ignore[attr-defined]
                extra="allow" if old.get("extra") == "allow" else "forbid", arbitrary_types_allowed=True
            )
            new.__strict_fields__ = strict_fields  # type: ignore[attr-defined]
            self._memo[td] = new
            return new
        finally:
            self._in_progress.discard(td)

    def body(self, td: type, name: str, drop: frozenset, extra: Dict[str, Any]) -> Any:
        """`td` rebuilt as a body: the `drop` keys removed, the `extra` keys (optional) added."""
        s = self.typed_dict(td)
        fields = {k: (Required[v] if r else NotRequired[v]) for k, (v, r) in s.__strict_fields__.items() if k not in drop}
        fields.update({k: NotRequired[t] for k, t in extra.items()})
        out = typing_extensions.TypedDict(name, fields, total=False)  # type: ignore[operator]
        out.__pydantic_config__ = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)  # type: ignore[attr-defined]
        return out


@functools.lru_cache(maxsize=None)
def _rebuilder() -> _Rebuilder:
    return _Rebuilder()


@functools.lru_cache(maxsize=None)
def _message_adapter(streaming: bool, legacy: bool) -> pydantic.TypeAdapter:
    from anthropic.types import message_create_params as m

    td = m.MessageCreateParamsStreaming if streaming else m.MessageCreateParamsNonStreaming
    name = td.__name__ + ("Legacy" if legacy else "") + "Body"
    return pydantic.TypeAdapter(_rebuilder().body(td, name, HEADER_ONLY_KEYS, LEGACY_FIELDS if legacy else {}))


@functools.lru_cache(maxsize=None)
def _batch_adapter(legacy: bool) -> pydantic.TypeAdapter:
    from anthropic.types import message_create_params as m

    params = _rebuilder().body(
        m.MessageCreateParamsNonStreaming,
        "BatchParams" + ("Legacy" if legacy else ""),
        BATCH_PARAMS_HEADER_ONLY_KEYS,
        LEGACY_FIELDS if legacy else {},
    )
    request = typing_extensions.TypedDict(  # type: ignore[operator]
        "Request",
        {"custom_id": Required[Annotated[str, pydantic.StringConstraints(pattern=CUSTOM_ID_PATTERN)]], "params": Required[params]},
        total=False,
    )
    request.__pydantic_config__ = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)  # type: ignore[attr-defined]
    body = typing_extensions.TypedDict(  # type: ignore[operator]
        "BatchCreateParamsBody",
        {"requests": Required[Annotated[List[request], pydantic.Field(min_length=1, max_length=BATCH_MAX_REQUESTS)]]},  # type: ignore[valid-type]
        total=False,
    )
    body.__pydantic_config__ = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)  # type: ignore[attr-defined]
    return pydantic.TypeAdapter(body)


def _format(e: pydantic.ValidationError) -> List[str]:
    errs = e.errors(include_url=False)

    # A `str | list` union also reports its failed `str` branch; drop it when the list branch
    # produced errors at the same place.
    def noise(err: Any) -> bool:
        loc = err["loc"]
        if not loc or loc[-1] != "str" or err["type"] != "string_type":
            return False
        pre = loc[:-1]
        return any(o is not err and o["loc"][: len(pre)] == pre and o["loc"] != loc for o in errs)

    out = []
    for err in errs:
        if noise(err):
            continue
        parts = [str(p) for p in err["loc"]]
        # pydantic's union-branch labels ("list[...]", "str", long type reprs) say nothing here
        loc = ".".join(p for p in parts if not (p.startswith(("list[", "tagged-union[", "union[")) or len(p) > 60)) or "<root>"
        out.append(f"{loc}: {err['msg']} [{err['type']}]")
    return out


def validate(body: Any, legacy: bool = False, batch: bool = False) -> List[str]:
    """The problems the SDK's types find in `body` ([] when valid).

    legacy: an `anthropic-version: 2023-06-01` request, which may also carry `temperature`,
        `top_p`, `top_k` and the structured-outputs beta's top-level `output_format`.
    batch: a `POST /v1/messages/batches` body, `{"requests": [{"custom_id", "params"}]}`;
        with `legacy`, the params may carry the legacy fields.
    """
    if not isinstance(body, dict):
        return ["<root>: the request body must be a JSON object"]
    if batch:
        adapter = _batch_adapter(legacy)
    else:
        adapter = _message_adapter(body.get("stream") is True, legacy)
    errors: List[str] = []
    try:
        adapter.validate_python(body, strict=True)
    except pydantic.ValidationError as e:
        errors = _format(e)
    if batch and isinstance(body.get("requests"), list):
        seen: Dict[str, int] = {}
        for i, r in enumerate(body["requests"]):
            cid = r.get("custom_id") if isinstance(r, dict) else None
            if isinstance(cid, str):
                if cid in seen:
                    errors.append(f"requests.{i}.custom_id: {cid!r} repeats requests.{seen[cid]}.custom_id (must be unique in a batch)")
                seen.setdefault(cid, i)
    return errors


if __name__ == "__main__":
    import json

    flags = set(sys.argv[1:])
    problems = validate(json.load(sys.stdin), legacy="--legacy" in flags, batch="--batch" in flags)
    print("\n".join(problems) if problems else "OK")
    sys.exit(1 if problems else 0)
