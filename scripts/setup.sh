#!/usr/bin/env bash
# Creates .venv with nasxfer and everything its agent, notebooks and tests need,
# and installs Chromium for the browser tests where it is absent and installable.
# torch comes as the CPU build: the default PyPI wheel drags in gigabytes of CUDA
# libraries that a laptop (and our CI) never uses. Pass --gpu to take PyPI's default.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if [ "${1:-}" = "--gpu" ]; then
  "${pip[@]}" "torch==2.13.0"
else
  # "+cpu" builds sort above plain ones, so pip takes the CPU wheel from this index
  # (or from a local wheel folder that pip is configured with).
  "${pip[@]}" "torch==2.13.0" --extra-index-url https://download.pytorch.org/whl/cpu 2> >(grep -v -e "Retrying" -e "Could not fetch URL" -e "^WARNING: Location" >&2)
fi
"${pip[@]}" -e ".[agent,notebooks,test]" 2> >(grep -v "^WARNING: Location" >&2)
# Chromium, for the tests that open charts in a real browser (tests/test_browser.py):
# Debian's package where this machine can install it; elsewhere those tests skip and say why.
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || [ -n "${CHROMIUM:-}" ]; then
  :
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  start=$(date +%s)
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
    echo "chromium installed in $(( $(date +%s) - start )) s (for tests/test_browser.py)"
  else
    echo "apt-get could not install chromium: tests/test_browser.py will skip" >&2
  fi
else
  echo "no chromium here, and installing it needs root and apt-get: tests/test_browser.py will skip" \
       "(install chromium, or set CHROMIUM=/path/to/chrome, to run them)" >&2
fi
echo "nasxfer is installed in .venv ($(.venv/bin/python -c 'import torch, ray; print(f"torch {torch.__version__}, ray {ray.__version__}")'))"
