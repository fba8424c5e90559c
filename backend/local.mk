# SPDX-License-Identifier: GPL-2.0-or-later
# backend/: blkif requests off the ring, validation, dispatch into cow/,
# responses; and the NBD export of a view for a dom0 device model. No Xen
# header: blkif.h is our own description of the ABI, and Xen is reached only
# through platform/.

noinst_LIBRARIES += backend/libbackend.a
backend_libbackend_a_SOURCES = \
	backend/blkif.h \
	backend/nbd.c backend/nbd.h \
	backend/nbd-proto.c backend/nbd-proto.h \
	backend/req.c backend/req.h \
	backend/ring.c backend/ring.h \
	backend/vbd.c backend/vbd.h \
	backend/view.c backend/view.h \
	backend/wire.c backend/wire.h \
	backend/worker.c backend/worker.h
