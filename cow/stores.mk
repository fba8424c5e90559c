# SPDX-License-Identifier: GPL-2.0-or-later
# Build rules (included by the top-level Makefile.am).
