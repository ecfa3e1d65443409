#!/usr/bin/env bash
# Regenerates the sounds ivr ships, reproducibly (sox from Debian). Asterisk plays .gsm at
# 8 kHz without transcoding to G.711 beyond its cheap built-in path.
set -euo pipefail
cd "$(dirname "$0")/../sounds"
command -v sox >/dev/null || { echo "make_sounds: apt-get install sox" >&2; exit 1; }

# Hold music: a slow, quiet arpeggio of four chords, 16 s, looped by Asterisk.
parts=()
for chord in "C4 E4 G4" "A3 C4 E4" "F3 A3 C4" "G3 B3 D4"; do
  for note in $chord $chord; do
    file=$(mktemp --suffix=.wav); parts+=("$file")
    sox -R -D -n -r 8000 -c 1 -b 16 "$file" synth 0.6667 sine "$note" fade q 0.05 0.6667 0.3 vol 0.25
  done
done
sox -R -D "${parts[@]}" -r 8000 -c 1 moh/ivr-hold.gsm
rm -f "${parts[@]}"
