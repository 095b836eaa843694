"""Loading benchmark: peak resident memory and time of `from_pretrained`, minibert vs transformers.

Each measurement runs in a fresh Python process, so nothing is shared or cached in the
interpreter between them (the file itself is in the OS page cache after the first, untimed,
load of each library). In the child:
  1. import torch and the library (the baseline),
  2. reset the kernel's peak-RSS counter (write 5 to /proc/self/clear_refs; where that is not
     possible the baseline is the current RSS instead),
  3. time BertModel.from_pretrained(checkpoint),
  4. read VmHWM (peak resident set) from /proc/self/status.
"peak above baseline" = VmHWM after loading - RSS before. Resident memory counts only the
pages of the memory-mapped checkpoint that were touched, and a library that leaves its
weights mapped has touched few of them when from_pretrained returns; so the child then reads
every weight once (as the first forward pass will) and reports that peak too
("peak_with_weights_read"): a model that uses the mapped file as its weights costs about 1x
the file there. Target: <= 1.3x the weights' size, and load time no worse than transformers'.

Run: python -m benchmarks.bench_loading [--quick] [--repeats 3]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402
from benchmarks.bench_model import BERT_BASE, TINY, write_weights  # noqa: E402

COLUMNS = ["library", "weights_mb", "peak_above_baseline_mb", "peak_over_weights", "peak_with_weights_read_over_weights",
           "load_s_median", "load_s_ratio_vs_transformers"]

CHILD = r"""
import json, os, sys, time
from pathlib import Path
library, path = sys.argv[1], sys.argv[2]
import torch
torch.set_num_threads(int(sys.argv[3]))
if library == "minibert":
    sys.path.insert(0, sys.argv[4])
    from minibert import BertModel
else:
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    from transformers import BertModel

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None

baseline = status("VmRSS")
try:
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    reset = True
except OSError:
    reset = False
start = time.perf_counter()
model = BertModel.from_pretrained(path)
seconds = time.perf_counter() - start
peak = status("VmHWM")
with torch.no_grad():  # read every weight once, as the first forward pass will
    for p in model.parameters():
        p.sum()
touched = status("VmHWM")
params = sum(p.numel() * p.element_size() for p in model.parameters())
print(json.dumps({"baseline": baseline, "peak": peak, "touched": touched, "seconds": seconds, "hwm_reset": reset, "param_bytes": params}))
"""


def measure(library: str, path: Path, threads: int) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, library, str(path), str(threads), str(common.ROOT)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"loading with {library} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = common.base_parser(__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per library (default 3, 1 with --quick)")
    args = parser.parse_args(argv)
    common.setup(args)
    repeats = args.repeats or (1 if args.quick else 3)
    shape = TINY if args.quick else BERT_BASE
    libraries = ["minibert", "transformers"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        write_weights(path, shape)
        weights_bytes = (path / "model.safetensors").stat().st_size
        if not args.quick:
            for library in libraries:  # untimed: page cache warm for both
                measure(library, path, args.threads)
        runs: dict[str, list[dict]] = {lib: [] for lib in libraries}
        for r in range(repeats):
            for library in libraries if r % 2 == 0 else libraries[::-1]:
                runs[library].append(measure(library, path, args.threads))
            common.progress(f"round {r + 1}/{repeats}: " + ", ".join(
                f"{lib} {runs[lib][-1]['seconds']:.2f} s, peak +{(runs[lib][-1]['peak'] - runs[lib][-1]['baseline']) / 2**20:.0f} MB" for lib in libraries))
    medians = {lib: statistics.median(run["seconds"] for run in runs[lib]) for lib in libraries}
    for library in libraries:
        peak = statistics.median(run["peak"] - run["baseline"] for run in runs[library])
        rows.append({
            "library": library, "weights_mb": weights_bytes / 2**20, "peak_above_baseline_mb": peak / 2**20,
            "peak_over_weights": peak / weights_bytes,
            "peak_with_weights_read_over_weights": statistics.median(run["touched"] - run["baseline"] for run in runs[library]) / weights_bytes,
            "load_s_median": medians[library],
            "load_s_ratio_vs_transformers": medians[library] / medians["transformers"],
            "load_s_all": [run["seconds"] for run in runs[library]],
            "hwm_reset": all(run["hwm_reset"] for run in runs[library]),
        })
    meta = {"machine": common.machine_info("cpu"), "repeats": repeats, "model_shape": shape, "quick": args.quick}
    name = "loading" + ("_quick" if args.quick else "")
    common.write_results(args.out, name, meta, rows, COLUMNS,
                         f"Loading a {'tiny' if args.quick else 'bert-base'} safetensors checkpoint (medians of {repeats} fresh processes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
