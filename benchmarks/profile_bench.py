"""Benchmark of Gate 1 (not a test): wall time and peak memory of `profile_source` on demo sources.

    python benchmarks/profile_bench.py              # scales 1, 10 and 40
    python benchmarks/profile_bench.py 1 10         # chosen scales
    SDRUN_PROFILE_MEMORY_LIMIT=256MB python benchmarks/profile_bench.py   # another memory limit

Sources come from `orchestrator.demo.generator.generate(seed=1)` and are cached under benchmarks/work/
(gitignored); scale 40 (about 10 million rows, 1 GB) takes a few minutes to generate the first time.
Each profile runs in its own subprocess, which reports its own peak resident memory
(getrusage RUSAGE_SELF ru_maxrss, all threads) and CPU time; the wall time is measured around it.
Targets (issue "Gate 1"): scale 1 under 2 s, scale 40 under 2 minutes, memory flat as rows grow.
The machine's load average is printed too: other work on the machine inflates wall times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
TARGET_SECONDS = {1: 2.0, 40: 120.0}

CHILD = """
import json, resource, sys, time
from pathlib import Path
from orchestrator.profile import profile_source
cpu0, t0 = time.process_time(), time.perf_counter()
p = profile_source(Path(sys.argv[1]))
out = {"seconds": time.perf_counter() - t0, "cpu": time.process_time() - cpu0,
       "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "rows": p["summary"]["rows"], "values": p["summary"]["values"], "score": p["score"]["overall"],
       "halted": p["breaker"]["halted"]}
print(json.dumps(out))
"""


def source(scale: float) -> Path:
    """The cached demo source for `scale`, generated once."""
    from orchestrator.demo.generator import generate

    path = WORK / f"demo-scale{scale:g}-seed1.db"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        print(f"generating scale {scale:g} → {path} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        summary = generate(path, scale=scale, seed=1)
        summary.write_manifest(path.with_suffix(".json"))
        print(f"  generated in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return path


def measure(path: Path) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"profile of {path} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall"] = wall
    return result


def main(argv: list[str]) -> int:
    scales = [float(a) for a in argv] or [1.0, 10.0, 40.0]
    limit = os.environ.get("SDRUN_PROFILE_MEMORY_LIMIT", "default")
    print(f"profile benchmark: {os.cpu_count()} CPUs, DuckDB memory limit {limit}")
    columns = ("scale", 6), ("rows", 12), ("values", 12), ("wall s", 8), ("cpu s", 8), ("peak RSS MiB", 13), ("load", 5)
    header = " ".join(f"{name:>{width}}" for name, width in columns) + "  target"
    print(header)
    print("-" * len(header))
    for scale in scales:
        path = source(scale)
        load = os.getloadavg()[0]
        r = measure(path)
        target = TARGET_SECONDS.get(int(scale)) if scale.is_integer() else None
        verdict = "" if target is None else f"< {target:g} s: {'yes' if r['seconds'] < target else 'NO'}"
        print(
            f"{scale:>6g} {int(r['rows']):>12,} {int(r['values']):>12,} {r['seconds']:>8.2f} {r['cpu']:>8.2f} "
            f"{r['peak_rss_mib']:>13.0f} {load:>5.1f}  {verdict}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
