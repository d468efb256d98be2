#!/usr/bin/env bash
# The Python virtual environment the tests use: the official SDKs (openai, anthropic,
# google-genai) that referee requests and read the test server's replies, and jsonschema.
# Created once at ${INSTRUCTOR_PY_VENV:-~/.cache/instructor/py-venv} and reused.
set -euo pipefail
venv=${INSTRUCTOR_PY_VENV:-$HOME/.cache/instructor/py-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'openai>=1.40' 'anthropic>=2.10' 'google-genai>=3' jsonschema pydantic
