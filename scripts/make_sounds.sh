#!/usr/bin/env bash
# Regenerates the sounds ivr ships, reproducibly (sox from Debian). Asterisk plays .gsm at
# 8 kHz without transcoding to G.711 beyond its cheap built-in path.
set -euo pipefail
cd "$(dirname "$0")/../sounds"
for tool in sox espeak-ng; do
  command -v $tool >/dev/null || { echo "make_sounds: apt-get install $tool" >&2; exit 1; }
done

# Prompts: espeak-ng speaks each text, sox makes it 8 kHz mono GSM. name|English|Spanish
prompts=(
  "enter-customer-id|Please enter your customer number, followed by the hash key.|Por favor, ingrese su número de cliente, seguido de la tecla numeral."
  "invalid-entry|That entry is not valid.|La entrada no es válida."
  "no-entry|We did not receive your entry.|No recibimos su entrada."
  "you-entered|You entered|Usted ingresó"
  "to-confirm-press-1|If this is correct, press 1. Otherwise, press 2.|Si es correcto, presione 1. Si no, presione 2."
  "please-hold|Please hold while we look up your account.|Por favor, espere mientras buscamos su cuenta."
  "thank-you-goodbye|Thank you for calling. Goodbye.|Gracias por llamar. Adiós."
  "keep-agent|To be served by this same agent next time, press 1. For whoever is free first, press 2.|Para ser atendido por este mismo agente la próxima vez, presione 1. Para quien esté libre primero, presione 2."
  "own-agent-busy|Your agent is busy. The next free agent will take your call.|Su agente está ocupado. El próximo agente libre atenderá su llamada."
  "callback-offer|To be called back instead of waiting, without losing your place, press 2.|Para que le llamemos en lugar de esperar, sin perder su turno, presione 2."
  "callback-enter-number|Please enter the number to call you back on, followed by the hash key. To go back to the queue, press star.|Por favor, ingrese el número al que le llamaremos, seguido de la tecla numeral. Para volver a la cola, presione asterisco."
  "callback-invalid-number|We cannot call that number.|No podemos llamar a ese número."
  "callback-confirm|is the number we will call you back on. If it is correct, press 1. To enter another, press 2. To go back to the queue, press star.|es el número al que le llamaremos. Si es correcto, presione 1. Para ingresar otro, presione 2. Para volver a la cola, presione asterisco."
  "callback-leave-message|After the tone, tell us briefly why you are calling, then press hash.|Después del tono, díganos brevemente el motivo de su llamada y presione numeral."
  "callback-registered|Thank you. An agent will call you back, in your turn. Goodbye.|Gracias. Un agente le devolverá la llamada, en su turno. Adiós."
  "callback-not-registered|We could not register your callback.|No pudimos registrar su solicitud de llamada."
  "callback-accept|Hello. We are calling you back, as you asked. To speak with an agent now, press 1.|Hola. Le devolvemos la llamada, como nos pidió. Para hablar con un agente ahora, presione 1."
)
for language in en es; do
  mkdir -p "$language"
  voice=$([ $language = en ] && echo en-us || echo es)
  for entry in "${prompts[@]}"; do
    IFS='|' read -r name english spanish <<<"$entry"
    text=$([ $language = en ] && echo "$english" || echo "$spanish")
    raw=$(mktemp --suffix=.wav)
    espeak-ng -v "$voice" -s 150 -w "$raw" "$text"
    sox -R -D "$raw" -r 8000 -c 1 "$language/$name.gsm" norm -3
    rm -f "$raw"
  done
done

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
