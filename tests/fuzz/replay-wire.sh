#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
exec "${srcdir:-.}/tests/fuzz/replay-corpus.sh" wire
