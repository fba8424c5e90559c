#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Install, with apt-get, the Debian 12 packages named as arguments that are
# not installed yet. Shared by tests/run-all.sh and tests/run-lab.sh.
set -euo pipefail
need=()
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed' || need+=("$p")
done
[ ${#need[@]} -gt 0 ] || exit 0
echo "install-deps: installing ${need[*]}"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
	--no-install-recommends "${need[@]}"
