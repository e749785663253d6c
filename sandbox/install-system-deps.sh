#!/usr/bin/env bash
# Install the Debian packages the sandbox (and the web tests) need, only when one is missing.
set -euo pipefail
need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
command -v debootstrap >/dev/null || need+=(debootstrap)
# Headless browser for the web tests (driven by Python playwright; never `playwright install`).
command -v chromium >/dev/null || need+=(chromium)
# npm fetches the communes dataset (appointments/fetch-communes.sh).
command -v npm >/dev/null || need+=(npm)
# Kamailio 5.6 (Debian 12): the SIP front of the two-node set-up (kamailio_conf/), with its
# PostgreSQL driver (db_postgres: the registrar's locations). The tests run it as their own child.
command -v kamailio >/dev/null || [ -x /usr/sbin/kamailio ] || need+=(kamailio)
compgen -G "/usr/lib/*/kamailio/modules/db_postgres.so" >/dev/null || need+=(kamailio-postgres-modules)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The package's own service (stock config: every interface, port 5060) would hold the port the
# sandbox Asterisk binds: never run it, ours is started by the tests and `aiguilleur` with its own config.
if [[ " ${need[*]} " == *" kamailio "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now kamailio >/dev/null 2>&1 || true
fi
