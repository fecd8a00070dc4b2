#!/usr/bin/env bash
# Install the system tools the toolkit calls: lame, sox with mp3 support, graphviz.
# With --renderer also fluidsynth and the FluidR3_GM soundfont, which only the dataset builders need; with
# --browser also Debian's chromium, in which the tests open the pages to listen on (make test).
# Idempotent: does nothing when they are already there.
set -euo pipefail

RENDERER=0
BROWSER=0
for arg in "$@"; do
  [ "$arg" = "--renderer" ] && RENDERER=1
  [ "$arg" = "--browser" ] && BROWSER=1
done

have_all() {
  command -v lame >/dev/null && command -v sox >/dev/null && command -v dot >/dev/null \
    && sox -h 2>/dev/null | grep -q "AUDIO FILE FORMATS:.* mp3" \
    && { [ "$RENDERER" -eq 0 ] || { command -v fluidsynth >/dev/null && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ]; }; } \
    && { [ "$BROWSER" -eq 0 ] || command -v chromium >/dev/null; }
}

if have_all; then
  exit 0
fi

PKGS=(lame sox libsox-fmt-mp3 graphviz)
[ "$RENDERER" -eq 1 ] && PKGS+=(fluidsynth fluid-soundfont-gm)
[ "$BROWSER" -eq 1 ] && PKGS+=(chromium)
if ! command -v apt-get >/dev/null; then
  echo "lame, sox (with mp3) and graphviz are needed; on macOS: brew install lame sox graphviz" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "need root to install system packages; run once: sudo apt-get install -y ${PKGS[*]}" >&2
  exit 1
fi
echo "installing ${PKGS[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq "${PKGS[@]}" >/dev/null
have_all
