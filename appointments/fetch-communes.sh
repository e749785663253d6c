#!/usr/bin/env bash
# Fetch Etalab's découpage administratif (communes, postcodes, EPCI) from npm, pinned.
# Idempotent: does nothing when the version is already there. Needs npm (Debian: apt-get install npm).
set -euo pipefail
VERSION="${1:-6.0.0}"
DEST="${AIGUILLEUR_COMMUNES_CACHE:-$HOME/.cache/aiguilleur/communes}/$VERSION"
if [[ -f "$DEST/package/data/communes.json" ]]; then exit 0; fi
if ! command -v npm >/dev/null; then
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null
    else echo "npm is needed: apt-get install npm" >&2; exit 1; fi
fi
mkdir -p "$DEST"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@etalab/decoupage-administratif@$VERSION" >/dev/null)
tar xzf "$tmp"/etalab-decoupage-administratif-"$VERSION".tgz -C "$DEST" package/data/communes.json package/data/epci.json package/LICENSE package/package.json
echo "communes: @etalab/decoupage-administratif@$VERSION in $DEST"
