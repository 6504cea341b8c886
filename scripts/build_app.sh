#!/usr/bin/env bash
# Build the standalone app dist/modstudio/ with PyInstaller (build.spec) and check it:
# the frozen `modstudio --selftest` (one epoch in the spawned worker, python export) and a
# frozen GUI start under QT_QPA_PLATFORM=offscreen. Prints the folder's size; exits non-zero
# when a step fails.
#
#   scripts/build_app.sh              build, then check
#   scripts/build_app.sh --no-build   check the app that is already in dist/modstudio/
#
# PYTHON picks the interpreter (default: .venv/bin/python when there is one, else python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
APP="$ROOT/dist/modstudio"
EXE="$APP/modstudio"
BUILD=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "build_app.sh: unknown option '$arg' (options: --no-build)" >&2; exit 2 ;;
  esac
done
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

fail() {
  echo "build_app: FAILED: $*" >&2
  exit 1
}
step() {
  echo
  echo "== $*"
}
now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if [[ "$BUILD" == 1 ]]; then
  step "PyInstaller"
  if ! "$PYTHON" -m PyInstaller --version >/dev/null 2>&1; then
    echo "PyInstaller is missing: installing the build extra"
    "$PYTHON" -m pip install -e ".[build]" || fail "could not install the build extra (pip install -e '.[build]')"
  fi
  echo "python $("$PYTHON" -c 'import sys; print(sys.version.split()[0])'), PyInstaller $("$PYTHON" -m PyInstaller --version)"

  step "build: pyinstaller --noconfirm --clean build.spec (log: build/pyinstaller.log)"
  mkdir -p build
  started=$(now)
  if ! "$PYTHON" -m PyInstaller --noconfirm --clean build.spec >build/pyinstaller.log 2>&1; then
    tail -n 30 build/pyinstaller.log >&2
    fail "pyinstaller did not build the app (the whole log is in build/pyinstaller.log)"
  fi
  grep -E "WARNING|ERROR" build/pyinstaller.log | grep -v "Library not found\|Hidden import .* not found" | tail -n 10 || true
  echo "built $EXE in $(seconds_since "$started") s"
fi
[[ -x "$EXE" ]] || fail "$EXE does not exist (build first: scripts/build_app.sh)"

step "Qt platform plugins"
PLATFORMS="$(find "$APP" -path "*/plugins/platforms/*.so" -printf "%f " 2>/dev/null)"
echo "${PLATFORMS:-none}"
for plugin in libqoffscreen.so libqxcb.so; do
  [[ "$PLATFORMS" == *"$plugin"* ]] || fail "the Qt platform plugin $plugin is not in the app"
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/modstudio-app-check-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

step "frozen selftest: dist/modstudio/modstudio --selftest"
started=$(now)
# run outside the checkout, so nothing can come from the source tree
(cd "$WORK" && env -u PYTHONPATH TMPDIR="$WORK" "$EXE" --selftest) || fail "the frozen selftest failed (output above)"
echo "frozen selftest took $(seconds_since "$started") s"

step "frozen GUI start: QT_QPA_PLATFORM=offscreen MODSTUDIO_EXIT_AFTER_SHOW=1 dist/modstudio/modstudio"
started=$(now)
if ! shown="$(cd "$WORK" && env -u PYTHONPATH QT_QPA_PLATFORM=offscreen MODSTUDIO_EXIT_AFTER_SHOW=1 \
  XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data" XDG_CACHE_HOME="$WORK/cache" \
  timeout 300 "$EXE" 2>&1)"; then
  echo "$shown" | tail -n 30 >&2
  fail "the frozen GUI did not start"
fi
echo "$shown" | grep -v "^$" | tail -n 5
echo "$shown" | grep -q "^shown: " || fail "the frozen GUI exited without showing its window"
echo "frozen GUI started and closed in $(seconds_since "$started") s"

step "size"
du -sh "$APP"
echo "$(find "$APP" -type f | wc -l) files; the largest parts:"
du -sh "$APP"/_internal/* 2>/dev/null | sort -rh | head -n 8
echo
echo "build_app: ok: $APP"
