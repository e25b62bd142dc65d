#!/usr/bin/env python3
"""Times the Java, C and PyTorch EMA updates in turns across processes and prints one markdown table (stdlib only).

A round of the other tables spans minutes, and this shared machine drifts by 15% and more within that; ratios of
numbers taken minutes apart carry the drift. Here every variant lives in a peer process that has set up its
parameter set and warmed up, and waits on its standard input: bench/c/ema_update.c (serve), ema4j.bench.TurnPeer
and bench/torch_peer.py (--serve). Each round gives every variant one turn, in a fresh random order: the fastest of
TURN updates. The variants' turns of a round are at most a few seconds apart, so the ratios of a round compare like
with like; the table gives each ratio's median over the rounds and its range.

Columns: GB/s counts 12 bytes per float32 parameter; "vs baseline" is the round's fastest of c-contiguous,
c-tensors and java-baseline divided by the variant's time (>= 0.85 is the target for djl-ema4j); "vs PyTorch" is the
variant's time divided by the round's fastest torch-* variant (<= 0.9 is the target).

--scalar-peer starts one more Java peer without the Vector API module, whose djl-ema4j takes its turns as
djl-ema4j@scalar: the scalar kernel that such a JVM falls back to, in the same rounds.

Usage: python3 bench/turns.py --jar ema4j-bench/target/benchmarks.jar --c ema4j-bench/target/ema_update
           [--java java] [--java-opts OPTIONS] [--scalar-peer] [--torch /usr/bin/python3 | --torch none]
           [--sets resnet50,100m] [--threads 1,2] [--rounds 15] [--turn 5] [--raw FILE] [--logs DIR]
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile

PARAMS = {"resnet50": 25_557_032, "100m": 4 * 25_557_032}
BASELINES = ("c-contiguous", "c-tensors", "java-baseline")
OURS = "djl-ema4j"


class Peer:
    """One process that answers "VARIANT N" with the fastest of N updates, after a line "ready VARIANT...".

    Its standard error goes to a log file, so that a chatty peer never blocks on a full pipe. Keeping the fastest
    of N updates leaves out a first update slowed by a neighbour whose threads are still spinning down."""

    def __init__(self, name, command, log_path, only=None, label=""):
        # OpenMP threads (the C kernel's, PyTorch's) must stay awake between the parallel regions of one update
        # (PyTorch runs one per tensor operation; with OMP_WAIT_POLICY=PASSIVE it loses a quarter of its speed),
        # yet stop spinning soon after their turn, not steal the next peer's cores for GOMP's default 300,000 spins
        env = dict(os.environ, GOMP_SPINCOUNT="100000")
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                        text=True, env=env)
        ready = self._read().split()
        if not ready or ready[0] != "ready":
            self.fail(f"expected 'ready VARIANT...', got {' '.join(ready)!r}")
        # a peer that stands for another kernel takes only the turns of `only`, named VARIANT@label
        self.suffix = f"@{label}" if label else ""
        self.variants = [v + self.suffix for v in ready[1:] if only is None or v == only]
        if not self.variants:
            self.fail(f"offers none of {only!r}")

    def _read(self):
        line = self.process.stdout.readline()
        if not line:
            self.fail("ended without an answer")
        return line.strip()

    def fail(self, why):
        status = self.process.poll()
        if status is None:
            self.process.kill()
        self.log.close()
        with open(self.log_path) as f:
            tail = f.read()[-2000:]
        ended = "still running, stopped" if status is None else f"exit status {status}"
        sys.exit(f"turns: the {self.name} peer {why} ({ended}); its log {self.log_path} ends:\n{tail}")

    def turn(self, variant, updates):
        variant = variant[:len(variant) - len(self.suffix)]
        self.process.stdin.write(f"{variant} {updates}\n")
        self.process.stdin.flush()
        answer = self._read()
        try:
            return float(answer)
        except ValueError:
            self.fail(f"answered {answer!r} to '{variant} {updates}'")

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            self.process.wait(timeout=60)
        self.log.close()


def spread(values):
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def measure(args, name, threads, log_dir, raw):
    def java(vector_module=True):
        return [args.java, *(["--add-modules", "jdk.incubator.vector"] if vector_module else []), "-Xmx4g",
                "-Dai.djl.offline=true", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", *args.java_opts.split(),
                "-cp", args.jar, "ema4j.bench.TurnPeer", name, str(threads)]

    commands = [("C", [args.c, "serve", name, str(threads)], None, ""), ("Java", java(), None, "")]
    if args.scalar_peer:
        commands.append(("Java@scalar", java(vector_module=False), OURS, "scalar"))
    if args.torch != "none":
        commands.append(("PyTorch", [args.torch, os.path.join(os.path.dirname(__file__), "torch_peer.py"),
                                     "--serve", name, str(threads)], None, ""))
    peers = [Peer(peer, command, os.path.join(log_dir, f"turns-{peer.lower()}-{name}-{threads}.log"), only, label)
             for peer, command, only, label in commands]
    try:
        turns = [(peer, variant) for peer in peers for variant in peer.variants]
        order = random.Random(f"{name}/{threads}")
        times = {variant: [] for _, variant in turns}
        for round_number in range(1, args.rounds + 1):
            order.shuffle(turns)
            for peer, variant in turns:
                ms = peer.turn(variant, args.turn)
                times[variant].append(ms)
                print(f"turn {name} {threads} {round_number} {variant} {ms:.4f}", file=raw, flush=True)
    finally:
        for peer in peers:
            peer.close()
    return times


def rows(name, threads, times):
    rounds = len(next(iter(times.values())))
    base = [min(times[v][r] for v in BASELINES if v in times) for r in range(rounds)]
    torch_names = [v for v in times if v.startswith("torch-")]
    torch = [min(times[v][r] for v in torch_names) for r in range(rounds)] if torch_names else None
    order = sorted(times, key=lambda v: (not v.startswith("c-"), v != "java-baseline", v != OURS, v))
    out = []
    for variant in order:
        ms = times[variant]
        median = statistics.median(ms)
        vs_base = spread([b / m for b, m in zip(base, ms)])
        vs_torch = spread([m / t for m, t in zip(ms, torch)]) if torch else "-"
        if variant == OURS:
            variant, vs_base, vs_torch = f"**{variant}**", f"**{vs_base}**", f"**{vs_torch}**"
        out.append(f"| {variant} | {name} | {PARAMS[name]:,} | {threads} | {median:.2f} | "
                   f"{12 * PARAMS[name] / median / 1e6:.1f} | {vs_base} | {vs_torch} |")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jar", required=True, help="ema4j-bench's benchmarks.jar")
    parser.add_argument("--c", required=True, help="bench/c/ema_update.c, built")
    parser.add_argument("--java", default="java")
    parser.add_argument("--java-opts", default="", help="more JVM options for the Java peers")
    parser.add_argument("--scalar-peer", action="store_true",
                        help="one more Java peer without the Vector API; its djl-ema4j is named djl-ema4j@scalar")
    parser.add_argument("--torch", default="/usr/bin/python3", help="a python3 with torch, or none")
    parser.add_argument("--sets", default="resnet50,100m")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--turn", type=int, default=5, help="updates per turn; the fastest counts")
    parser.add_argument("--raw", help="file for every turn's time: 'turn SET THREADS ROUND VARIANT MS'")
    parser.add_argument("--logs", default=os.path.join(tempfile.gettempdir(), "ema4j-turns"),
                        help="folder for the peers' logs (default: ema4j-turns in the temporary folder)")
    args = parser.parse_args()
    if args.rounds < 1 or args.turn < 1:
        sys.exit(f"rounds and turn must be >= 1, were {args.rounds} and {args.turn}")
    for name in args.sets.split(","):
        if name not in PARAMS:
            sys.exit(f"sets must be resnet50 or 100m, was {name}")
    os.makedirs(args.logs, exist_ok=True)
    table = ["| variant | set | params | threads | median ms | GB/s (12 B/param) | "
             "vs baseline: baseline ms / ms (>= 0.85 target) | vs PyTorch: ms / torch best ms (<= 0.9 target) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    with open(args.raw or os.devnull, "w") as raw:
        for name in args.sets.split(","):
            for threads in (int(t) for t in args.threads.split(",")):
                print(f"[turns] {name}, {threads} thread(s): {args.rounds} rounds", file=sys.stderr, flush=True)
                table += rows(name, threads, measure(args, name, threads, args.logs, raw))
    print("\n".join(table))


if __name__ == "__main__":
    main()
