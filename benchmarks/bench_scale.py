"""Benchmark the whole study (``linkage run``) at several scales: seconds and peak memory per
stage, candidate pairs and F1.

Each scale runs in a fresh child process (``run_study``, exactly what ``linkage run --scale X``
does). The parent samples the resident memory of the child and all its descendants (a Spark
JVM included) from ``/proc`` every 0.2 s and books each sample to the stage the child reports
it is in, so "peak GB" per stage is the largest resident set seen while that stage ran
(memory kept from earlier stages included: the process does not hand it back).

    python benchmarks/bench_scale.py                          # 1%, 10% and 100% of a national year
    python benchmarks/bench_scale.py --scales 0.01 0.1 --seed 3
    python benchmarks/bench_scale.py --scales 0.002 --backend spark   # needs the [spark] extra
    python benchmarks/bench_scale.py --json bench_out/scale.json      # also save the figures

Targets (2 cores / 24 GB): the full national year (``--scales 1.0``: 20.5M tips,
about 820k referrals and 250k case records) end to end in <= 150 s and <= 4 GB peak.
Timings depend on what else the machine runs: benchmark on a quiet machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from linkage.study import StudyConfig, run_study
scale, out, progress, backend = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
seed = int(sys.argv[5]) if sys.argv[5] != "-" else None

def on_progress(stage, frac, _fh=open(progress, "a", buffering=1)):
    _fh.write(f"{stage}\\n")

kwargs = {"backend": backend} if backend != "duckdb" else {}
t0 = time.perf_counter()
result = run_study(StudyConfig(scale=scale, seed=seed, out=Path(out), **kwargs), on_progress)
wall = time.perf_counter() - t0
m = result.manifest.to_dict()
ev = result.summaries.get("evaluation")
print(json.dumps({
    "wall_s": wall,
    "stage_seconds": result.stage_seconds,
    "link_seconds": result.summaries["link"].seconds,
    "counts": {"tips": m["row_counts"].get("raw_tips"),
               "referrals": m["linkage"]["n_referrals"], "cases": m["linkage"]["n_cases"],
               "candidate_pairs": m["linkage"]["n_candidate_pairs"],
               "scored_pairs": m["linkage"]["n_scored_pairs"],
               "links": m["linkage"]["n_links"]},
    "f1": ev.splink.f1 if ev else None,
    "precision": ev.splink.precision if ev else None,
    "recall": ev.splink.recall if ev else None,
    "ru_maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
}))
"""

STAGES = ("generate", "load", "validate", "link", "evaluate", "estimate", "report")
POLL_S = 0.2


def _tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and every descendant (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name may hold spaces or parentheses: fields start after the last ")"
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
                total += int(fh.read().split()[1]) * page
        except OSError:
            pass
        todo.extend(children.get(pid, []))
    return total


def _current_stage(progress: Path) -> str | None:
    try:
        lines = progress.read_text(encoding="utf-8").split()
    except OSError:
        return None
    return lines[-1] if lines else None


def run_scale(scale: float, seed: int | None, backend: str, keep: Path | None) -> dict:
    """Run one study in a child process; return its figures and per-stage peak memory."""
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        out = (keep / f"scale_{scale:g}") if keep else Path(tmp) / "study"
        progress = Path(tmp) / "progress.txt"
        progress.touch()
        cmd = [sys.executable, "-c", CHILD, str(scale), str(out), str(progress), backend,
               "-" if seed is None else str(seed)]
        t0 = time.perf_counter()
        with tempfile.TemporaryFile(mode="w+") as stdout, \
                tempfile.TemporaryFile(mode="w+") as stderr:
            proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, text=True)
            peak: dict[str, int] = {}
            while proc.poll() is None:
                stage = _current_stage(progress) or "start"
                rss = _tree_rss_bytes(proc.pid)
                peak[stage] = max(peak.get(stage, 0), rss)
                time.sleep(POLL_S)
            wall = time.perf_counter() - t0
            stdout.seek(0)
            stderr.seek(0)
            if proc.returncode != 0:
                raise RuntimeError(f"scale {scale}: child exited {proc.returncode}\n"
                                   + stderr.read()[-4000:])
            result = json.loads(stdout.read().strip().splitlines()[-1])
    result.update(scale=scale, backend=backend, process_wall_s=wall,
                  peak_gb={k: v / 1024**3 for k, v in peak.items()},
                  peak_total_gb=max(peak.values(), default=0) / 1024**3)
    return result


def _fmt_int(v: int | None) -> str:
    return "–" if v is None else f"{v:,}"


def format_tables(results: list[dict]) -> str:
    """Three plain-text tables: volumes and quality, seconds per stage, peak GB per stage."""
    lines = ["volumes and linkage quality"]
    head = (f"{'scale':>6} {'tips':>11} {'referrals':>9} {'cases':>8} {'cand. pairs':>12} "
            f"{'links':>8} {'precision':>9} {'recall':>7} {'F1':>6}")
    lines += [head, "-" * len(head)]
    for r in results:
        c = r["counts"]
        q = [("–" if r[k] is None else f"{r[k]:.3f}") for k in ("precision", "recall", "f1")]
        lines.append(f"{r['scale']:>6g} {_fmt_int(c['tips']):>11} {_fmt_int(c['referrals']):>9} "
                     f"{_fmt_int(c['cases']):>8} {_fmt_int(c['candidate_pairs']):>12} "
                     f"{_fmt_int(c['links']):>8} {q[0]:>9} {q[1]:>7} {q[2]:>6}")
    link_steps = sorted({k for r in results for k in r["link_seconds"]},
                        key=lambda k: ("staging", "train", "predict", "charts", "links").index(k)
                        if k in ("staging", "train", "predict", "charts", "links") else 99)
    lines += ["", "wall seconds per stage (link split into its steps on the right)"]
    head = (f"{'scale':>6} " + " ".join(f"{s:>9}" for s in STAGES) + f" {'total':>7}  | "
            + " ".join(f"{s:>8}" for s in link_steps))
    lines += [head, "-" * len(head)]
    for r in results:
        st = r["stage_seconds"]
        cells = " ".join(f"{st.get(s, 0):>9.1f}" if s in st else f"{'–':>9}" for s in STAGES)
        steps = " ".join(f"{r['link_seconds'].get(s, 0):>8.1f}" for s in link_steps)
        lines.append(f"{r['scale']:>6g} {cells} {r['process_wall_s']:>7.1f}  | {steps}")
    lines += ["", "peak resident memory per stage, GB (child process and its descendants)"]
    head = f"{'scale':>6} " + " ".join(f"{s:>9}" for s in STAGES) + f" {'peak':>7}"
    lines += [head, "-" * len(head)]
    for r in results:
        pk = r["peak_gb"]
        cells = " ".join(f"{pk[s]:>9.2f}" if s in pk else f"{'–':>9}" for s in STAGES)
        lines.append(f"{r['scale']:>6g} {cells} {r['peak_total_gb']:>7.2f}")
    lines.append("(total = the child's wall time, Python start-up and imports included)")
    lines += growth_table(results)
    return "\n".join(lines)


def growth_table(results: list[dict]) -> list[str]:
    """Lines of the measured growth exponent b (cost ~ scale^b) per stage, candidate pairs
    and scored pairs, between each pair of consecutive scales run (1 = linear)."""
    runs = sorted(results, key=lambda r: r["scale"])
    if len(runs) < 2:
        return []
    rows = [("candidate pairs", lambda r: r["counts"]["candidate_pairs"]),
            ("scored pairs", lambda r: r["counts"]["scored_pairs"]),
            *((stage, (lambda r, s=stage: r["stage_seconds"].get(s))) for stage in STAGES),
            ("total", lambda r: r["process_wall_s"])]
    spans = list(itertools.pairwise(runs))
    labels = [f"{a['scale']:g}->{b['scale']:g}" for a, b in spans]
    head = f"{'':>16} " + " ".join(f"{label:>11}" for label in labels)
    lines = ["", "growth exponent b (cost ~ scale^b; 1 = linear) between consecutive scales",
             head, "-" * len(head)]
    for name, value in rows:
        cells = []
        for a, b in spans:
            va, vb = value(a), value(b)
            ok = va and vb and va > 0 and vb > 0
            cells.append(f"{math.log(vb / va) / math.log(b['scale'] / a['scale']):>11.2f}"
                         if ok else f"{'–':>11}")
        lines.append(f"{name:>16} " + " ".join(cells))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    ap.add_argument("--seed", type=int, default=None, help="default: the scenario's")
    ap.add_argument("--backend", choices=["duckdb", "spark"], default="duckdb")
    ap.add_argument("--keep", type=Path, default=None, help="keep each study folder here")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    results = []
    for scale in args.scales:
        print(f"running scale {scale:g} ...", file=sys.stderr, flush=True)
        results.append(run_scale(scale, args.seed, args.backend, args.keep))
    print(format_tables(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
