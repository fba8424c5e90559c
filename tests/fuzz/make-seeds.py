#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpora of the fuzz targets into tests/fuzz/corpus/.

Run from the top of the source tree: python3 tests/fuzz/make-seeds.py
The files are committed; rerun this only to change the seeds. Layouts are
the ones the targets document (tests/fuzz/fuzz-*.c): fuzz-req takes a 12-byte
feature header, one 112-byte slot, then indirect pages; fuzz-nbd a 9-byte
export header, then a client's options and requests (big-endian); fuzz-wire
a configuration, then a worker's messages and the supervisor's actions.
"""
import os
import struct

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

READ, WRITE, BARRIER, FLUSH, RSVD, DISCARD, INDIRECT = range(7)


def out(target, name, data):
    d = os.path.join(TOP, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def hdr(flush=1, discard=1, secure=0, ro=0, max_ind=256, ss_shift=0,
        sectors=1 << 20):
    flags = flush | discard << 1 | secure << 2 | ro << 3
    return struct.pack("<BHBQ", flags, max_ind, ss_shift, sectors)


def pad(slot):
    return slot.ljust(112, b"\0")


def rw(op, nseg, rid, sector, segs, abi32=False):
    """A read/write/flush slot; segs = [(gref, first, last)]."""
    s = struct.pack("<BBH", op, nseg, 0x33)
    if not abi32:
        s += b"\0" * 4
    s += struct.pack("<QQ", rid, sector)
    for g, f, l in segs:
        s += struct.pack("<IBBH", g, f, l, 0)
    return pad(s)


def discard(flag, rid, sector, nr, abi32=False):
    s = struct.pack("<BBH", DISCARD, flag, 0)
    if not abi32:
        s += b"\0" * 4
    return pad(s + struct.pack("<QQQ", rid, sector, nr))


def indirect(iop, nseg, rid, sector, grefs=range(8), abi32=False):
    s = struct.pack("<BBH", INDIRECT, iop, nseg)
    if not abi32:
        s += b"\0" * 4
    s += struct.pack("<QQHH", rid, sector, 0x33, 0)
    s += b"".join(struct.pack("<I", g) for g in grefs)
    return pad(s)


def descs(n, first=0, last=7):
    return b"".join(struct.pack("<IBBH", 100 + i, first, last, 0)
                    for i in range(n))


def req_seeds():
    full = [(10 + i, 0, 7) for i in range(11)]
    seeds = {
        "read-1": hdr() + rw(READ, 1, 1, 0, full[:1]),
        "write-11": hdr() + rw(WRITE, 11, 2, 88, full),
        "read-11-x86_32": hdr() + rw(READ, 11, 3, 8, full, abi32=True),
        "partial-segs": hdr() + rw(WRITE, 3, 4, 5,
                                   [(1, 1, 1), (2, 0, 6), (3, 7, 7)]),
        "flush-empty": hdr() + rw(FLUSH, 0, 5, 0, []),
        "flush-data": hdr() + rw(FLUSH, 2, 6, 16, full[:2]),
        "flush-unadvertised": hdr(flush=0) + rw(FLUSH, 0, 7, 0, []),
        "barrier": hdr() + rw(BARRIER, 1, 8, 0, full[:1]),
        "reserved": hdr() + rw(RSVD, 1, 9, 0, full[:1]),
        "op-255": hdr() + rw(255, 1, 10, 0, full[:1]),
        "segs-12": hdr() + rw(READ, 12, 11, 0, full),
        "segs-0": hdr() + rw(READ, 0, 12, 0, []),
        "last-8": hdr() + rw(READ, 1, 13, 0, [(1, 0, 8)]),
        "first-gt-last": hdr() + rw(READ, 1, 14, 0, [(1, 6, 2)]),
        "past-end": hdr(sectors=100) + rw(READ, 1, 15, 96, full[:1]),
        "sector-wrap": hdr() + rw(READ, 2, 16, (1 << 64) - 8, full[:2]),
        "ro-write": hdr(ro=1) + rw(WRITE, 1, 17, 0, full[:1]),
        "ro-flush-data": hdr(ro=1) + rw(FLUSH, 1, 18, 0, full[:1]),
        "sector-4k-misaligned": hdr(ss_shift=3) + rw(READ, 1, 19, 1,
                                                     full[:1]),
        "discard": hdr() + discard(0, 20, 64, 4096),
        "discard-secure": hdr(secure=1) + discard(1, 21, 0, 8),
        "discard-wrap": hdr() + discard(0, 22, 8, (1 << 64) - 1),
        "discard-ro-x86_32": hdr(ro=1) + discard(0, 23, 0, 8, abi32=True),
        "indirect-read-16": hdr() + indirect(READ, 16, 24, 0) + descs(16),
        "indirect-write-600": hdr(max_ind=4096) + indirect(WRITE, 600, 25,
                                                           0) + descs(600),
        "indirect-4096": hdr(max_ind=4096) + indirect(READ, 4096, 26, 0) +
        descs(4096),
        "indirect-short-pages": hdr(max_ind=4096) + indirect(READ, 2000, 27,
                                                             0) + descs(100),
        "indirect-bad-desc": hdr() + indirect(READ, 4, 28, 0) +
        descs(3) + struct.pack("<IBBH", 1, 3, 9, 0),
        "indirect-op-flush": hdr() + indirect(FLUSH, 1, 29, 0) + descs(1),
        "indirect-65535-x86_32": hdr(max_ind=4096) +
        indirect(READ, 65535, 30, 0, abi32=True) + descs(8),
    }
    for name, data in seeds.items():
        out("req", name, data)


def frontend_seeds():
    sep = b"\xff"
    seeds = {
        "ring-single": b"4" + sep + b"1234" + sep + b"17" + sep + b"x86_64-abi",
        "ring-multi": b"\x44" + sep + b"2" + sep + b"4" + sep + b"8" + sep +
        b"9" + sep + b"10" + sep + b"11",
        "states": sep.join(str(i).encode() for i in range(10)),
        "protocols": sep.join([b"x86_32-abi", b"x86_64-abi", b"arm-abi",
                               b"x86_64-abi\0", b"native", b""]),
        "bools": sep.join([b"0", b"1", b"01", b"true", b"2"]),
        "u64-edges": sep.join([b"18446744073709551615",
                               b"18446744073709551616",
                               b"00000000000000000000000000001",
                               b"99999999999999999999999999999x"]),
        "u32-edges": sep.join([b"4294967295", b"4294967296", b"0"]),
        "junk": sep.join([b"+1", b"-1", b" 1", b"1 ", b"0x10", b"1\n",
                          b"1\0", b"\0"]),
        "order-big": b"\x08" + sep + b"32" + sep + b"4294967295" + sep +
        b"9",
        "queues-zero": b"\x40" + sep + b"0" + sep + b"5" + sep + b"4",
        "empty": b"",
        "only-separators": sep * 8,
    }
    for name, data in seeds.items():
        out("frontend", name, data)


def diskspec_seeds():
    seeds = {
        "cow-example":
        b"cow:base=/dev/qubes_dom0/vm-fedora-root,store=ram,limit=4G",
        "cow-min": b"cow:base=/b",
        "cow-xts": b"cow:base=/dev/vg/base,store=xts,scratch=/var/tmp,"
        b"limit=512M,on-full=pause",
        "blank": b"blank:size=10G",
        "blank-bytes": b"blank:size=1048576,store=ram",
        "blank-xts-blockdev":
        b"blank:size=2T,store=xts,scratch=/dev/nvme0n1p3",
        "ro": b"ro:base=/srv/modules.img",
        "ro-with-store": b"ro:base=/x,store=ram",
        "no-kind": b"cow",
        "unknown-kind": b"disk:base=/x",
        "dup-key": b"cow:base=/x,base=/y",
        "unknown-key": b"cow:base=/x,colour=red",
        "empty-value": b"cow:base=",
        "stray-comma": b"cow:base=/x,",
        "relative": b"cow:base=dev/x",
        "size-overflow": b"blank:size=16777216T",
        "size-zero": b"blank:size=0",
        "size-odd": b"blank:size=1000",
        "xts-no-scratch": b"cow:base=/x,store=xts",
        "ram-scratch": b"cow:base=/x,scratch=/t",
        "nul": b"cow:base=/x\0/y",
        "long-path": b"cow:base=/" + b"p" * 4094,
        "too-long-path": b"cow:base=/" + b"p" * 4095,
        "on-full-bad": b"cow:base=/x,on-full=panic",
    }
    for name, data in seeds.items():
        out("diskspec", name, data)


IHAVEOPT = b"IHAVEOPT"
REQ_MAGIC = 0x25609513
MiB = 1 << 20


def nbd_hdr(ro=0, fixed=1, nozeroes=1, sectors=2048):
    return struct.pack("<BQ", ro | fixed << 1 | nozeroes << 2, sectors)


def opt(option, data=b"", length=None):
    n = len(data) if length is None else length
    return IHAVEOPT + struct.pack(">II", option, n) + data


def go(name=b"", infos=(3,), option=7):
    d = struct.pack(">I", len(name)) + name + struct.pack(">H", len(infos))
    d += b"".join(struct.pack(">H", i) for i in infos)
    return opt(option, d)


def rq(typ, off, length, flags=0, cookie=1, magic=REQ_MAGIC):
    return struct.pack(">IHHQQI", magic, flags, typ, cookie, off, length)


READ_, WRITE_, DISC_, FLUSH_, TRIM_, CACHE_, ZERO_ = range(7)
FUA, NO_HOLE, DF, FAST_ZERO = 1, 2, 4, 16


def nbd_seeds():
    io = (rq(READ_, 0, 4096) + rq(WRITE_, 512, 1024, FUA) + b"\xab" * 1024 +
          rq(FLUSH_, 0, 0) + rq(TRIM_, 4096, 8192) +
          rq(ZERO_, 0, 4096, NO_HOLE) + rq(ZERO_, 512, 4096) +
          rq(DISC_, 0, 0))
    seeds = {
        "go-io": nbd_hdr() + go() + io,
        "info-go-io": nbd_hdr() + go(option=6) + go() + io,
        "export-name": nbd_hdr(nozeroes=0) + opt(1) + io,
        "export-name-nozeroes": nbd_hdr() + opt(1) + io,
        "export-name-named": nbd_hdr() + opt(1, b"disk0"),
        "not-fixed-export-name": nbd_hdr(fixed=0, nozeroes=0) + opt(1) + io,
        "not-fixed-go": nbd_hdr(fixed=0) + go(),
        "not-fixed-too-big": nbd_hdr(fixed=0) + opt(1, length=5000),
        "list-abort": nbd_hdr() + opt(3) + opt(3, b"x") + opt(2),
        "unsupported": nbd_hdr() + opt(5) + opt(8) + opt(11) +
        opt(9, struct.pack(">II", 0, 0)) +
        opt(10, struct.pack(">II", 0, 1) + struct.pack(">I", 15) +
            b"base:allocation") + opt(0x7fffffff, b"junk") + go() + io,
        "go-named": nbd_hdr() + go(b"disk0") + go() + io,
        "go-malformed": nbd_hdr() + opt(7) + opt(7, b"\0" * 5) +
        opt(7, b"\xff" * 4 + b"\0\0") + opt(7, b"\0" * 4 + b"\0\2\0\3") +
        opt(7, b"\0" * 4 + b"\0\1\0\3\0") + go() + io,
        "opt-4096": nbd_hdr() + opt(0x4242, b"\0" * 4096) + go() + io,
        "opt-too-big": nbd_hdr() + opt(7, length=4097),
        "opt-bad-magic": nbd_hdr() + b"IHAVEOPS" + struct.pack(">II", 7, 0),
        "read-only": nbd_hdr(ro=1) + go() + rq(WRITE_, 0, 512) + b"\0" * 512 +
        rq(TRIM_, 0, 512) + rq(ZERO_, 0, 512) + rq(READ_, 0, 512, FUA) +
        rq(FLUSH_, 0, 0) + rq(READ_, 0, 512),
        "bounds": nbd_hdr() + go() + rq(READ_, MiB - 512, 1024) +
        rq(READ_, MiB, 512) + rq(READ_, (1 << 64) - 512, 1024) +
        rq(WRITE_, MiB - 512, 1024) + b"\0" * 1024 + rq(TRIM_, 512, MiB) +
        rq(ZERO_, MiB, 512) + rq(READ_, 0, MiB),
        "alignment": nbd_hdr() + go() + rq(READ_, 1, 512) + rq(READ_, 0, 513) +
        rq(WRITE_, 100, 512) + b"\0" * 512 + rq(READ_, 0, 0) +
        rq(TRIM_, 0, 0) + rq(FLUSH_, 512, 0) + rq(FLUSH_, 0, 512),
        "flags": nbd_hdr() + go() + rq(READ_, 0, 512, DF) +
        rq(READ_, 0, 512, NO_HOLE) + rq(ZERO_, 0, 512, FAST_ZERO) +
        rq(WRITE_, 0, 512, 0x8000) + b"\0" * 512 + rq(CACHE_, 0, 512) +
        rq(7, 0, 512) + rq(0xffff, 0, 512),
        "big": nbd_hdr(sectors=(1 << 35) - 1) + go() +
        rq(READ_, 0, 32 * MiB) + rq(READ_, 0, 32 * MiB + 512) +
        rq(TRIM_, 0, 0xfffffe00) + rq(ZERO_, 0, 0xfffffe00, NO_HOLE) +
        rq(WRITE_, 0, 32 * MiB + 512),
        "request-bad-magic": nbd_hdr() + go() +
        rq(READ_, 0, 512, magic=0x12560953),
        "empty-export": nbd_hdr(sectors=0) + go() + rq(READ_, 0, 512),
    }
    for name, data in seeds.items():
        out("nbd", name, data)


# fuzz-wire: a worker's messages to the supervisor (tests/fuzz/fuzz-wire.c).
(W_HELLO, W_OPENED, W_CLOSED, W_CONNECTED, W_DISCONNECTED, W_EXPORTED,
 W_NBD_CLIENTS, W_WANT_LEASE, W_RETURN_LEASE, W_STATS_DONE, W_LIMIT_SET,
 W_FULL, W_ROOM) = range(64, 77)
BUDGETS = [0, 1, 64, 100, 4096, 8192, 10000, 1 << 20]


def wconf(doms, budget, disks):
    """doms domains, a budget index, then (n, pause mask) per domain."""
    b = bytes([(doms - 1) | BUDGETS.index(budget) << 2])
    return b + bytes(n | mask << 2 for n, mask in disks)


def wmsg(dom, op, slot=0, att=0, rc=0, val=0, tag=0, text=b"", fds=None,
         size=0):
    """size: 0 exact, -n short, +n long."""
    h = dom | (2 if fds is not None else 0) << 2
    extra = b""
    if fds is not None:
        extra += bytes([fds])
    if size:
        h |= (2 if size < 0 else 3) << 4
        extra += bytes([abs(size) - 1])
    return (bytes([h]) + extra +
            struct.pack("<IIIiQQ", op, slot, att, rc, val, tag) +
            bytes([len(text)]) + text)


def wact(dom, what, which=0, x=0):
    return bytes([dom | 3 << 2, what, which, x])


def tag(num, seq=0):
    return num << 16 | seq


def hello(dom):
    return wmsg(dom, W_HELLO, val=1)


def wire_seeds():
    one = wconf(1, 4096, [(2, 0b01)])  # disk 1 pauses, disk 2 errors
    opened = hello(0) + wmsg(0, W_OPENED, 0, val=2048, tag=tag(1)) + \
        wmsg(0, W_OPENED, 1, val=2048, tag=tag(2))
    seeds = {
        "hello-open": one + opened,
        "open-failed": one + hello(0) +
        wmsg(0, W_OPENED, 0, rc=-5, tag=tag(1), text=b"no room\n\x01"),
        "open-twice": one + opened + wmsg(0, W_OPENED, 0, tag=tag(1)),
        "full-room": one + opened + wmsg(0, W_FULL, 0, tag=tag(1)) +
        wmsg(0, W_FULL, 0, tag=tag(1)) + wmsg(0, W_ROOM, 0, tag=tag(1)) +
        wmsg(0, W_FULL, 1, tag=tag(2)) + wmsg(0, W_FULL, 0, tag=tag(1)),
        "full-then-detach": one + opened + wmsg(0, W_FULL, 0, tag=tag(1)) +
        wact(0, 5, 0),
        "full-then-lie": one + opened + wmsg(0, W_FULL, 0, tag=tag(1)) +
        wmsg(0, W_OPENED, 0, tag=tag(1)),
        "lease": one + opened + wmsg(0, W_WANT_LEASE, val=4096) +
        wmsg(0, W_RETURN_LEASE, val=1000) + wmsg(0, W_WANT_LEASE, val=9999) +
        wmsg(0, W_RETURN_LEASE, val=3096) + wmsg(0, W_RETURN_LEASE, val=1),
        "lease-none": wconf(1, 0, [(1, 0)]) + hello(0) +
        wmsg(0, W_WANT_LEASE, val=1 << 40) + wmsg(0, W_RETURN_LEASE, val=1),
        "lease-two": wconf(2, 10000, [(1, 0), (1, 1)]) + hello(0) + hello(1) +
        wmsg(0, W_WANT_LEASE, val=8000) + wmsg(1, W_WANT_LEASE, val=8000) +
        wmsg(0, W_RETURN_LEASE, val=8000) + wmsg(1, W_WANT_LEASE, val=8000),
        "stats": one + hello(0) + wact(0, 3) + wmsg(0, W_STATS_DONE, val=1) +
        wact(0, 4) + wmsg(0, W_STATS_DONE, val=2) +
        wmsg(0, W_STATS_DONE, val=3),
        "connect": one + opened + wact(0, 0, 0, 0b110) +
        wmsg(0, W_CONNECTED, 0, 0, val=4, tag=tag(1, 1)) +
        wact(0, 0, 1, 0b011) + wact(0, 1, 1, 1) +
        wmsg(0, W_CONNECTED, 1, 1, val=2, tag=tag(2, 1)) +
        wmsg(0, W_CONNECTED, 1, 2, tag=tag(2, 1)),
        "connect-failed": one + opened + wact(0, 0, 0, 0) +
        wmsg(0, W_CONNECTED, 0, rc=-22, tag=tag(1, 1), text=b"bad ring"),
        "nbd-clients": one + opened + wmsg(0, W_NBD_CLIENTS, 0, val=3,
                                           tag=tag(1)) +
        wact(0, 5, 0) + wmsg(0, W_NBD_CLIENTS, 0, val=0, tag=tag(1)) +
        wact(0, 5, 1),
        "limits": one + opened + wact(0, 2, 0, 16) + wact(0, 2, 1, 0) +
        wmsg(0, W_LIMIT_SET, 0, tag=tag(1)) +
        wmsg(0, W_LIMIT_SET, 1, rc=-34, tag=tag(2)),
        "three-domains": wconf(3, 100, [(1, 1), (2, 0b10), (3, 0b111)]) +
        hello(0) + hello(1) + hello(2) +
        wmsg(0, W_OPENED, 0, tag=tag(1)) + wmsg(1, W_OPENED, 0, tag=tag(2)) +
        wmsg(1, W_OPENED, 1, tag=tag(3)) + wmsg(2, W_OPENED, 0, tag=tag(4)) +
        wmsg(2, W_OPENED, 1, tag=tag(5)) + wmsg(2, W_OPENED, 2, tag=tag(6)) +
        wmsg(0, W_FULL, 0, tag=tag(1)) + wmsg(2, W_FULL, 2, tag=tag(6)) +
        wmsg(2, W_FULL, 0, tag=tag(2)) + wmsg(1, W_FULL, 0, tag=tag(4)) +
        wmsg(1, W_FULL, 1, tag=tag(3)) + wmsg(2, 9999) +
        wmsg(1, W_WANT_LEASE, val=100) + wmsg(0, W_WANT_LEASE, val=1),
        "other-domains-tag": wconf(2, 0, [(1, 1), (1, 1)]) + hello(0) +
        hello(1) + wmsg(1, W_OPENED, 0, tag=tag(2)) +
        wmsg(0, W_FULL, 0, tag=tag(2)) + wmsg(1, W_FULL, 0, tag=tag(2)) +
        wmsg(0, W_OPENED, 0, tag=tag(1)),
        "bad-before-hello": one + wmsg(0, W_OPENED, 0, tag=tag(1)),
        "bad-hello": one + wmsg(0, W_HELLO, val=2),
        "bad-hello-twice": one + hello(0) + hello(0),
        "bad-fds": one + hello(0) + wmsg(0, W_CLOSED, 0, tag=tag(1), fds=1),
        "bad-too-many-fds": one + hello(0) +
        wmsg(0, W_CLOSED, 0, tag=tag(1), fds=18),
        "bad-short": one + hello(0) + wmsg(0, W_CLOSED, tag=tag(1), size=-1),
        "bad-long": one + hello(0) + wmsg(0, W_CLOSED, tag=tag(1), size=8),
        "bad-rc": one + hello(0) + wmsg(0, W_OPENED, 0, rc=1, tag=tag(1)) ,
        "bad-rc-low": one + hello(0) +
        wmsg(0, W_OPENED, 0, rc=-4096, tag=tag(1)),
        "bad-slot": one + hello(0) + wmsg(0, W_FULL, 64, tag=tag(1)),
        "bad-att": one + opened +
        wmsg(0, W_DISCONNECTED, 0, 2, tag=tag(1)),
        "bad-tag-zero": one + hello(0) + wmsg(0, W_CLOSED, 0, tag=5),
        "bad-tag-unissued": one + hello(0) + wmsg(0, W_CLOSED, 0,
                                                   tag=tag(3)),
        "late-tag": one + opened + wact(0, 5, 1) +
        wmsg(0, W_FULL, 1, tag=tag(2)) + wmsg(0, W_CLOSED, 1, tag=tag(2)),
        "bad-return": one + hello(0) + wmsg(0, W_RETURN_LEASE, val=1),
        "bad-stats": one + hello(0) + wmsg(0, W_STATS_DONE, val=1),
        "bad-op": one + hello(0) + wmsg(0, 1) + hello(0),
        "release": one + opened + wact(0, 5, 0) + wact(0, 5, 1) +
        hello(0),
    }
    for name, data in seeds.items():
        out("wire", name, data)


if __name__ == "__main__":
    req_seeds()
    nbd_seeds()
    frontend_seeds()
    diskspec_seeds()
    wire_seeds()
