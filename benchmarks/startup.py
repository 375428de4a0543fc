"""What a workflow job pays before its work begins: the start-up of fdiff's verbs.

Every job of the pipeline is a fresh process (`fdiff VERB ...`); the rehearsal runs about 300
of them, so the imports of each verb are paid that many times. For each kind of job this prints
the wall and CPU seconds of a fresh Python process that builds the CLI parser and imports what
that verb's handler imports, and whether torch came with it; with ``--train`` also a 4-step
training of the tiny preset (the rehearsal's size) in one process and under torchrun with 2
processes. Each figure is the best of ``--repeat`` runs, so that a shared machine's load
inflates it least. Measure a checkout by putting it first on the path::

    PYTHONPATH=$PWD python3 benchmarks/startup.py --repeat 5 --train
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARSER = "import fdiff.cli as c; c.build_parser()"
# job kind -> the modules its verb imports (fdiff/cli/*.py: the handlers' imports)
JOBS = {
    "python alone": "pass",
    "fdiff --help (the CLI parser)": PARSER,
    "eval-seg (scoring)": f"{PARSER}; import fdiff.metrics.seg_files",
    "baseline-grabcut": f"{PARSER}; import fdiff.baselines.grabcut",
    "baseline-prior": f"{PARSER}; import fdiff.baselines.priors",
    "sample-gather": f"{PARSER}; import fdiff.inference.sample_shards",
    "table": f"{PARSER}; import fdiff.report.tables, fdiff.report.render, fdiff.report.results",
    "figure": f"{PARSER}; import fdiff.report.figures",
    "train, sample, segment (torch)": (
        f"{PARSER}; import fdiff.training.trainer, fdiff.training.checkpoint"
    ),
}
NEUTRAL = tempfile.gettempdir()  # the children's cwd: `python -c` puts the cwd before PYTHONPATH
RUN_YAML = """model: {preset: tiny, resolution: 16}
diffusion: {timesteps: 100}
train: {steps: 4, batch_size: 4, checkpoint_every: 2, log_every: 1, num_workers: 0}
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, user + sys CPU s of the process and its children) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=NEUTRAL, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def best(cmd: list[str], env: dict[str, str], repeat: int, before=None) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        if before:
            before()
        runs.append(timed(cmd, env))
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5, help="runs per figure (the best is shown)")
    p.add_argument("--train", action="store_true", help="also a tiny training, plain / torchrun")
    args = p.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    py = sys.executable
    where = subprocess.run([py, "-c", "import fdiff; print(fdiff.__file__)"], env=env,
                           cwd=NEUTRAL, capture_output=True, text=True).stdout.strip()  # fmt: skip
    print(f"# fdiff from {where}")
    print(f"# cpus={os.cpu_count()} load_avg_1min={os.getloadavg()[0]:.1f} best of {args.repeat}")
    print(f"{'job':<34} {'wall s':>7} {'cpu s':>7}  torch")
    for name, code in JOBS.items():
        check = [py, "-c", f"{code}; import sys; sys.exit(0 if 'torch' in sys.modules else 3)"]
        has_torch = subprocess.run(check, env=env, cwd=NEUTRAL, capture_output=True).returncode == 0
        wall, cpu = best([py, "-c", code], env, args.repeat)
        print(f"{name:<34} {wall:7.2f} {cpu:7.2f}  {'yes' if has_torch else 'no'}", flush=True)
    if args.train:
        with tempfile.TemporaryDirectory(prefix="fdiff-startup-") as tmp:
            tmp = Path(tmp)
            data, run_yaml = tmp / "shapes16.h5", tmp / "run.yaml"
            subprocess.run([py, "-m", "fdiff", "shapes", "--res", "16", "--out", str(data),
                            "--num-train", "32", "--num-val", "4", "--num-test", "4"],
                           env=env, cwd=NEUTRAL, check=True, capture_output=True)  # fmt: skip
            run_yaml.write_text(RUN_YAML)
            out = tmp / "run"
            train = ["-m", "fdiff", "train", "--config", str(run_yaml), "--data", str(data),
                     "--out", str(out)]  # fmt: skip
            torchrun = [py, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                        "--nproc_per_node", "2", *train]  # fmt: skip

            def fresh():
                subprocess.run(["rm", "-rf", str(out)], check=True)

            for name, cmd in (("train 4 steps, 1 process", [py, *train]),
                              ("train 4 steps, torchrun 2 procs", torchrun)):  # fmt: skip
                wall, cpu = best(cmd, env, args.repeat, before=fresh)
                print(f"{name:<34} {wall:7.2f} {cpu:7.2f}  yes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
