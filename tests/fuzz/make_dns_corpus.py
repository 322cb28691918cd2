#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_dns_answer and fuzz_dns_cache_record.

Each seed is a real-shaped message built byte by byte here (no resolver, no network), so the
fuzzer starts from inputs that reach deep into c-ares's parsers and bulkq's record decoder.
Run from anywhere: python3 tests/fuzz/make_dns_corpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
A, CNAME, SOA, MX, AAAA, IN = 1, 5, 6, 15, 28, 1
QNAME = 12  # the question's name starts right after the header


def header(qd, an, ns, rcode=0, tc=False):
    flags = 0x8180 | rcode | (0x0200 if tc else 0)
    return struct.pack(">HHHHHH", 0x1234, flags, qd, an, ns, 0)


def name(dotted, pointer=None):
    out = b"".join(bytes([len(l)]) + l.encode() for l in dotted.split(".") if l)
    return out + (struct.pack(">H", 0xC000 | pointer) if pointer is not None else b"\0")


def question(qname, qtype):
    return name(qname) + struct.pack(">HH", qtype, IN)


def rr(owner_ptr, rtype, ttl, rdata):
    return struct.pack(">HHHIH", 0xC000 | owner_ptr, rtype, IN, ttl, len(rdata)) + rdata


def soa(owner_ptr, ttl, minimum):
    rdata = name("ns", owner_ptr) + name("hostmaster", owner_ptr)
    rdata += struct.pack(">IIIII", 2026112901, 7200, 900, 1209600, minimum)
    return rr(owner_ptr, SOA, ttl, rdata)


def dns_seeds():
    q = question("example.com", MX)
    com = QNAME + 8
    yield "mx_two_compressed", header(1, 2, 0) + q + rr(
        QNAME, MX, 3600, struct.pack(">H", 10) + name("mx1", QNAME)) + rr(
        QNAME, MX, 300, struct.pack(">H", 5) + name("mx2", QNAME))
    yield "mx_null", header(1, 1, 0) + q + rr(QNAME, MX, 86400, struct.pack(">H", 0) + b"\0")
    cname_target = 12 + len(q) + 12
    yield "mx_via_cname", header(1, 2, 0) + q + rr(QNAME, CNAME, 60, name("alias", QNAME)) + rr(
        cname_target, MX, 3600, struct.pack(">H", 1) + name("mx", QNAME))
    yield "nxdomain_soa", header(1, 0, 1, rcode=3) + q + soa(com, 900, 300)
    yield "nodata_soa", header(1, 0, 1) + q + soa(com, 60, 3600)
    yield "servfail", header(1, 0, 0, rcode=2) + q
    yield "truncated_tc", header(1, 0, 0, tc=True) + q
    qa = question("mx1.example.com", A)
    yield "a_two", header(1, 2, 0) + qa + rr(QNAME, A, 600, bytes([192, 0, 2, 1])) + rr(
        QNAME, A, 120, bytes([127, 0, 0, 5]))
    qaaaa = question("mx1.example.com", AAAA)
    yield "aaaa_one", header(1, 1, 0) + qaaaa + rr(
        QNAME, AAAA, 86400, bytes.fromhex("20010db8000000000000000000000001"))


def le(v, n):
    return (v & ((1 << (8 * n)) - 1)).to_bytes(n, "little")


def cache_record(status, reason, hosts, stored=1_800_000_000_000, route_expires=1_800_003_600_000):
    out = bytes([1, status]) + le(stored, 8) + le(route_expires, 8)
    out += le(len(reason), 2) + reason.encode() + bytes([len(hosts)])
    for host, pref, implicit, expires, addrs in hosts:
        out += bytes([len(host)]) + host.encode() + le(pref, 2) + bytes([implicit]) + le(expires, 8)
        out += bytes([len(addrs)])
        for a in addrs:
            out += bytes([4 if len(a) == 4 else 6]) + a + bytes(16 - len(a))
    return out


def cache_seeds():
    v4 = bytes([127, 0, 0, 5])
    v6 = bytes.fromhex("20010db8000000000000000000000001")
    yield "route_two_hosts", cache_record(0, "", [
        ("mx1.example.com", 10, 0, 1_800_000_300_000, [v4, v6]),
        ("mx2.example.com", 20, 0, 1_800_000_060_000, [])])
    yield "route_implicit", cache_record(0, "", [("example.com", 0, 1, 1_800_000_060_000, [v4])])
    yield "permanent_null_mx", cache_record(1, "domain does not accept mail (null MX, RFC 7505)", [])
    yield "temporary_timeout", cache_record(2, "MX lookup failed: timeout", [])
    yield "bad_version_2", bytes([2]) + cache_record(0, "", [])[1:]


def write(corpus, seeds):
    directory = os.path.join(HERE, "corpus", corpus)
    os.makedirs(directory, exist_ok=True)
    for label, data in seeds:
        with open(os.path.join(directory, label), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("fuzz_dns_answer", dns_seeds())
    write("fuzz_dns_cache_record", cache_seeds())
