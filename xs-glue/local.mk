# SPDX-License-Identifier: GPL-2.0-or-later
# Build rules for xs-glue/ (included by the top-level Makefile.am).
