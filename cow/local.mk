# SPDX-License-Identifier: GPL-2.0-or-later
# cow/: the copy-on-write view (the request engine, the block map and its
# space accounting) and the stores overlay blocks live in (ram, file, base,
# xts, fault).

noinst_LIBRARIES += cow/libcow.a cow/libstore.a
cow_libcow_a_SOURCES = cow/cow.c cow/cow.h cow/map.c cow/map.h cow/store.h
cow_libstore_a_SOURCES = cow/store.h cow/store-local.h \
	cow/store-ram.c cow/store-file.c cow/store-map.c cow/store-xts.c \
	cow/store-fault.c
cow_libstore_a_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS) $(URING_CFLAGS)
