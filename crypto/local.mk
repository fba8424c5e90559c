# SPDX-License-Identifier: GPL-2.0-or-later
# crypto/: key lifetime and AES-256-XTS with libcrypto. No I/O, no Xen.

noinst_LIBRARIES += crypto/libxecrypto.a
crypto_libxecrypto_a_SOURCES = crypto/key.c crypto/key.h \
	crypto/xts.c crypto/xts.h
crypto_libxecrypto_a_CFLAGS = $(AM_CFLAGS) $(CRYPTO_CFLAGS)
