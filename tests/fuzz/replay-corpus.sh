#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Replay the seed corpus of one fuzz target: tests/fuzz/replay-corpus.sh NAME
# runs tests/fuzz/fuzz-NAME (replay build or libFuzzer build) once over every
# file of tests/fuzz/corpus/NAME/. A crash or sanitizer report fails.
set -eu
name=$1
prog=./tests/fuzz/fuzz-$name
corpus=${srcdir:-.}/tests/fuzz/corpus/$name
set -- "$corpus"/*
if [ ! -e "$1" ]; then
	echo "no seed files in $corpus" >&2
	exit 1
fi
echo "replaying $# inputs from $corpus"
exec $prog "$@"
