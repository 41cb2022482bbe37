#!/usr/bin/env python3
"""Recomputes a bond's jury draw from public data only, independently of the server's code.

usage: bond_jury.py BASE_URL BOND ROUND

Reads the pool snapshot and the indices of the draw's entries from the public GET
/v1/bonds/{id}/jury, and everything else from the public ledger (GET /v1/ledger/entries/{i}):
the round's latest filing entry (challenge.filed or appeal.filed, or a pool.renewed of that
round when the pool was renewed after a refused draw) must hold the SHA-256 of that pool; every
juror.drawn entry names the checkpoint (size, root) the seed came from; the root is recomputed
as the RFC 9162 Merkle tree hash of the first `size` entries, which must include the filing
entry; the seed and the seat draw follow docs/reputation.md ("jury draw", normative). Prints
"ok ..." and exits 0 when the recomputed seats equal the recorded ones, else prints the
difference and exits 1.
"""
import base64
import hashlib
import json
import struct
import sys
import urllib.request


def fetch(base, path):
    req = urllib.request.Request(base + path)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def be64(v):
    return struct.pack(">q", v)


def pool_hash(bond, rnd, pool):
    h = hashlib.sha256(b"lode pool v1" + be64(bond) + bytes([rnd]))
    for m in pool:
        h.update(be64(m["account"]) + be64(m["stake"]) + be64(m["factor_bps"]))
    return h.hexdigest()


def mth(leaves):
    """RFC 9162 Merkle tree hash of a list of leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


class Stream:
    def __init__(self, seed):
        self.seed = seed
        self.j = 0

    def next(self):
        block = hashlib.sha256(self.seed + struct.pack(">Q", self.j // 4)).digest()
        off = 8 * (self.j % 4)
        self.j += 1
        return int.from_bytes(block[off:off + 8], "big")

    def uniform(self, t):
        r = (1 << 64) % t
        while True:
            x = self.next()
            if r == 0 or x <= (1 << 64) - 1 - r:
                return x % t


def draw(cfg, seed, pool, excluded, seats, deposit):
    floor_stake = max(cfg["juror_stake_min"], deposit)
    raw = [m["stake"] * m["factor_bps"] // 10000
           if m["account"] not in excluded and m["stake"] >= floor_stake else 0 for m in pool]
    cap = max(1, sum(raw) * cfg["juror_weight_cap_bps"] // 10000)
    w = [min(x, cap) for x in raw]
    if sum(1 for x in w if x > 0) < seats:
        return None
    total = sum(w)
    stake = [m["stake"] for m in pool]
    stream = Stream(seed)
    order, counts = [], {}
    for _ in range(seats):
        u = stream.uniform(total)
        i = 0
        while u >= w[i]:
            u -= w[i]
            i += 1
        acct = pool[i]["account"]
        if acct not in counts:
            order.append(acct)
            counts[acct] = 0
        counts[acct] += 1
        stake[i] -= deposit
        if cfg["jury_distinct"] or stake[i] < deposit:
            total -= w[i]
            w[i] = 0
    return [(a, counts[a]) for a in order]


def main():
    base, bond, rnd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    jury = fetch(base, "/v1/bonds/%d/jury?round=%d" % (bond, rnd))
    filing_type = "challenge.filed" if rnd == 0 else "appeal.filed"

    def public_entry(index):
        return fetch(base, "/v1/ledger/entries/%d" % index)

    filing_index = jury["filing"]["index"]
    filing = public_entry(filing_index)["entry"]
    renewal = filing["type"] == "pool.renewed" and filing.get("round") == rnd
    if (filing["type"] != filing_type and not renewal) or filing["bond"] != bond:
        sys.exit("the filing entry at %d is neither the %s nor a pool.renewed of bond %d round %d"
                 % (filing_index, filing_type, bond, rnd))
    got_pool = pool_hash(bond, rnd, jury["pool"])
    if filing["pool"] != got_pool or jury["pool_sha256"] != got_pool:
        sys.exit("pool hash mismatch: ledger %s, recomputed %s" % (filing["pool"], got_pool))

    drawn = []
    for index in jury["drawn_entries"]:
        entry = public_entry(index)["entry"]
        if entry["type"] != "juror.drawn" or entry["bond"] != bond or entry["round"] != rnd:
            sys.exit("entry %d is not a juror.drawn entry of bond %d round %d" % (index, bond, rnd))
        drawn.append(entry)
    if not drawn:
        sys.exit("no juror.drawn entry for round %d" % rnd)
    size = drawn[0]["checkpoint_size"]
    root_hex = drawn[0]["checkpoint_root"]
    seed_hex = drawn[0]["seed"]
    if any(d["checkpoint_size"] != size or d["checkpoint_root"] != root_hex or d["seed"] != seed_hex
           for d in drawn):
        sys.exit("the juror.drawn entries disagree on the checkpoint")
    if size <= filing_index:
        sys.exit("checkpoint %d does not cover the filing entry %d" % (size, filing_index))
    leaves = []
    for i in range(size):
        raw = base64.b64decode(public_entry(i)["entry_base64"])
        leaves.append(hashlib.sha256(b"\x00" + raw).digest())
    root = mth(leaves)
    if root.hex() != root_hex:
        sys.exit("checkpoint root mismatch: recorded %s, recomputed %s" % (root_hex, root.hex()))
    seed = hashlib.sha256(b"lode jury v1" + root + be64(bond) + bytes([rnd])).digest()
    if seed.hex() != seed_hex:
        sys.exit("seed mismatch: recorded %s, recomputed %s" % (seed_hex, seed.hex()))
    want = draw(jury["config"], seed, jury["pool"], set(jury["excluded"]), jury["seats"],
                jury["seat_deposit"])
    got = [(d["juror"], d["seats"]) for d in drawn]
    if want != got:
        sys.exit("seats differ: recomputed %s, recorded %s" % (want, got))
    print("ok bond %d round %d: %d seats for %d jurors from checkpoint %d, pool of %d"
          % (bond, rnd, jury["seats"], len(got), size, len(jury["pool"])))


if __name__ == "__main__":
    main()
