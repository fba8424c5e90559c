# SPDX-License-Identifier: GPL-2.0-or-later
# docs/: the man pages (installed) and the project's prose.

dist_man_MANS = docs/man/xen-ephemerald.8 docs/man/xen-ephemeral.1 \
	docs/man/xen-ephemeral-disk.5
EXTRA_DIST += docs/architecture.md docs/disk-spec.md docs/nbd.md \
	docs/performance.md docs/status.md docs/xl.md
