#!/usr/bin/env python3
"""Writes a large pprof profile for bench/serve_first_page.sh: N samples (default 1,000,000), each
its own Sample entry of value 1 with pid, tid, cpu, comm and a 100 ms "time" label, as
`perfscope record` labels them. Stacks are drawn (seeded, so every run writes the same file) from a
call tree of FUNCTIONS functions up to 24 frames deep, so the flame graph has thousands of frames.
The labels make nearly every sample distinct, so none merge when read: the profile really holds N
samples.

    python3 bench/make_serve_profile.py OUT.pb.gz [SAMPLES]

The protobuf is encoded here by hand (profile.proto's field numbers), with no module beyond the
standard library."""
import gzip
import random
import sys


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_bytes(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def packed(num, values):
    return field_bytes(num, b"".join(varint(v) for v in values))


def main():
    out = sys.argv[1]
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    rng = random.Random(23)
    strings = [""]
    index = {"": 0}

    def s(text):
        if text not in index:
            index[text] = len(strings)
            strings.append(text)
        return index[text]

    # Functions: main, then layers of workers; each location is one function (id = location id).
    names = ["main"] + [f"bench::layer{d}::fn{k}(int, long)" for d in range(1, 25) for k in range(40)]
    body = bytearray()
    body += field_bytes(1, field_varint(1, s("samples")) + field_varint(2, s("count")))
    body += field_bytes(1, field_varint(1, s("cpu")) + field_varint(2, s("nanoseconds")))
    mapping = field_varint(1, 1) + field_varint(2, 0x400000) + field_varint(3, 0x800000)
    mapping += field_varint(5, s("/usr/bin/bench-app"))
    body += field_bytes(3, mapping)
    for i, name in enumerate(names, start=1):
        body += field_bytes(5, field_varint(1, i) + field_varint(2, s(name)) + field_varint(4, s("bench.cpp")))
        line = field_varint(1, i) + field_varint(2, 10 + i)
        loc = field_varint(1, i) + field_varint(2, 1) + field_varint(3, 0x400000 + 16 * i)
        body += field_bytes(4, loc + field_bytes(4, line))

    # A few thousand distinct stacks: a random walk down the layers, skewed so some paths are hot.
    stacks = []
    for _ in range(4000):
        depth = rng.randint(4, 24)
        path = [1]
        for d in range(1, depth):
            k = min(39, int(rng.expovariate(0.35)))
            path.append(1 + (d - 1) * 40 + k + 1)
        stacks.append(list(reversed(path)))  # leaf first
    weights = [1.0 / (1 + i) ** 0.8 for i in range(len(stacks))]
    k_pid, k_tid, k_cpu, k_comm, k_time = s("pid"), s("tid"), s("cpu"), s("comm"), s("time")
    u_ms = s("milliseconds")
    comms = [s(f"worker-{i}") for i in range(8)]
    chosen = rng.choices(range(len(stacks)), weights=weights, k=samples)
    buckets = 600  # 60 s in 100 ms periods
    for n, st in enumerate(chosen):
        proc = n % 8
        tid = 1000 + proc * 8 + (n // 8) % 8
        labels = field_bytes(3, field_varint(1, k_pid) + field_varint(3, 100 + proc))
        labels += field_bytes(3, field_varint(1, k_tid) + field_varint(3, tid))
        labels += field_bytes(3, field_varint(1, k_cpu) + field_varint(3, rng.randrange(16)))
        labels += field_bytes(3, field_varint(1, k_comm) + field_varint(2, comms[proc]))
        labels += field_bytes(3, field_varint(1, k_time) + field_varint(3, (n * buckets // samples) * 100)
                              + field_varint(4, u_ms))
        body += field_bytes(2, packed(1, stacks[st]) + packed(2, [1, 10_101_010]) + labels)
    for text in strings:
        body += field_bytes(6, text.encode())
    body += field_varint(10, 60_000_000_000)
    body += field_bytes(11, field_varint(1, s("cpu")) + field_varint(2, s("nanoseconds")))
    body += field_varint(12, 10_101_010)
    body += field_varint(14, s("samples"))  # default_sample_type, as perfscope record writes
    with gzip.open(out, "wb", compresslevel=1) as f:
        f.write(bytes(body))


if __name__ == "__main__":
    main()
