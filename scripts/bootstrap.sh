#!/usr/bin/env bash
# Installs what a fresh machine lacks, and nothing twice: Debian packages, then the virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

# systemd: systemd-analyze checks the units in docker/systemd/; openssl: pbx.tls makes its certificate;
# kamailio: ivr cluster runs it in the foreground (Debian's own service is not needed nor started).
packages=(debootstrap sip-tester kannel kannel-extras chromium systemd openssl kamailio kamailio-postgres-modules)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: installing ${missing[*]} needs root (the bundled PBX runs by chroot too)" >&2
    exit 1
  fi
  echo "bootstrap: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # On a host with systemd, apt starts Debian's kamailio on *:5060, where the PBX listens.
  if command -v systemctl >/dev/null && systemctl is-active -q kamailio 2>/dev/null; then
    systemctl disable --now -q kamailio
  fi
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import ivr, pytest, pytest_asyncio, pytest_timeout, mypy, ruff, playwright" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.installed ]; then
  echo "bootstrap: pip install -e .[test]"
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  touch .venv/.installed
fi
