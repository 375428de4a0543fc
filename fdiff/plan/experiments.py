"""The experiments of a (schema-validated) workflow config: their archs, evaluations and run
configs. An experiment is named `dataset-res`; its archs are its run directories."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping

from fdiff.config import ARCHS, HIERARCHICAL
from fdiff.plan.paths import Layout

# A shipped or released factorized model (experiment key `pretrained`) is installed, not
# trained, as the run directory `pretrained`, and segmented and scored like the trained ones.
PRETRAINED = "pretrained"
# The archs whose model segments (every factorized one, the shipped model included).
FACTORIZED_ARCHS = [
    *(a for a, (arch, _) in ARCHS.items() if arch == "factorized"),
    PRETRAINED,
]
# The trivial and colour baselines: config name (= {kind} of their files, table key) -> the
# `fdiff baseline-prior --kind` that makes them.
PRIOR_KINDS = {
    "disc": "disc",
    "all_foreground": "all-foreground",
    "kmeans_rgb": "kmeans-rgb",
}
GRABCUT = "grabcut"


def _merge(base: Mapping, extra: Mapping) -> dict:
    out = copy.deepcopy(dict(base))
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class Plan:
    """One workflow config: `Plan(config)`; `plan.layout` places its files."""

    def __init__(self, config: Mapping):
        self.config = config
        self.experiments: Mapping = config["experiments"]
        self.datasets: Mapping = config["datasets"]
        self.layout = Layout(config["results"])

    # --- experiments and archs ---------------------------------------------------------------

    def all_archs(self, name: str) -> list[str]:
        """The archs an experiment trains: its archs, then its ablations."""
        exp = self.experiments[name]
        return list(exp["archs"]) + list(exp["ablations"])

    def seg_archs(self, name: str) -> list[str]:
        """The models of an experiment that are evaluated: its archs and its shipped model."""
        return self.all_archs(name) + ([PRETRAINED] if self.experiments[name]["pretrained"] else [])

    def pred_labels(self, name: str) -> list[str]:
        """Figure labels of the factorized model and, when there is one, the shipped model."""
        return ["this run", "shipped"] if self.experiments[name]["pretrained"] else [""]

    def eval_datasets(self, name: str) -> list[str]:
        return [e["data"] for e in self.experiments[name]["evaluations"]]

    def evaluations(self, name: str, data: str | None = None) -> list[Mapping]:
        """The experiment's evaluations (on `data` only, if given)."""
        evs = self.experiments[name]["evaluations"]
        return [ev for ev in evs if data is None or ev["data"] == data]

    def evaluation(self, name: str, data: str) -> Mapping:
        for e in self.experiments[name]["evaluations"]:
            if e["data"] == data:
                return e
        raise ValueError(f"experiment {name} has no evaluation on {data}")

    def eval_spec(self, data: str, res) -> Mapping:
        """The evaluation entry of `data` at `res` (the first experiment that has one): a
        dataset scored at one resolution is scored one way, whichever model made the masks."""
        for name, exp in self.experiments.items():
            if exp["res"] == int(res) and data in self.eval_datasets(name):
                return self.evaluation(name, data)
        raise ValueError(f"no experiment evaluates on {data} at {res} px")

    def segment_condition(self, name: str, data: str) -> str:
        """`fdiff segment --condition` of the evaluation on `data` (labels when there is none)."""
        for ev in self.experiments[name]["evaluations"]:
            if ev["data"] == data:
                return ev["condition"]
        return "labels"

    def dataset_kind(self, dataset: str) -> str:
        """The fdiff dataset name of a config entry (`kind`, default the entry's own name)."""
        return self.datasets[dataset].get("kind") or dataset

    def raw_dir(self, dataset: str) -> str:
        return self.datasets[dataset]["path"] or f"{self.config['raw']}/{dataset}"

    def datasets_of(self, synthetic: bool) -> list[str]:
        """The datasets generated (synthetic) or prepared from raw files; a never-matching
        name when there is none, as a wildcard constraint needs one."""
        names = [n for n, d in self.datasets.items() if (d["source"] == "synthetic") == synthetic]
        return names or ["__none__"]

    # --- run configs ---------------------------------------------------------------------------

    def run_config(self, name: str, arch: str) -> dict:
        """The run config (model/diffusion/train) that `fdiff train` gets for one arch."""
        exp = self.experiments[name]
        cfg = {
            "model": copy.deepcopy(exp["model"]),
            "diffusion": copy.deepcopy(exp["diffusion"]),
            "train": copy.deepcopy(exp["train"]),
        }
        cfg = _merge(cfg, exp["arch_overrides"].get(arch, {}))
        arch_, decoding = ARCHS[arch]
        cfg["model"]["arch"] = arch_
        if arch_ == "factorized":
            cfg["model"]["decoding"] = decoding
        else:
            cfg["model"].pop("decoding", None)
        cfg["model"].setdefault("resolution", exp["res"])
        return cfg

    def run_config_json(self, name: str, arch: str) -> str:
        """JSON text (valid YAML) of the run config; a Snakemake param, so a change reruns it."""
        return json.dumps(self.run_config(name, arch), sort_keys=True)

    def sub_regions(self, name: str) -> int:
        return self.run_config(name, HIERARCHICAL)["model"].get("sub_regions", 0)

    # --- the shards of a sample set -------------------------------------------------------------

    def num_shards(self, name: str) -> int:
        s = self.experiments[name]["sample"]
        return -(-s["num"] // s["shard_size"])

    def shard_range(self, name: str, shard) -> tuple[int, int]:
        """(first image, number of images) of one shard."""
        s = self.experiments[name]["sample"]
        start = int(shard) * s["shard_size"]
        return start, min(s["shard_size"], s["num"] - start)

    # --- the train launch --------------------------------------------------------------------

    def train_retries(self) -> int:
        """The largest launch.retries (Snakemake's `retries` is one number per rule)."""
        return max([e["launch"]["retries"] for e in self.experiments.values()] or [0])
