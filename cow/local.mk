# SPDX-License-Identifier: GPL-2.0-or-later
# cow/: the copy-on-write view (block map, copy-up, discard, space policy).

noinst_LIBRARIES += cow/libcow.a
cow_libcow_a_SOURCES = cow/cow.c cow/cow.h cow/map.c cow/map.h cow/store.h
