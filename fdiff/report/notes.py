"""The protocol notes under a table: how each row's result was obtained, stated once per group
of rows that share it (:class:`Protocols`)."""

from __future__ import annotations

from collections.abc import Sequence

from fdiff.report.results import Result
from fdiff.report.specs import DATASET_NAMES

ASSIGNMENT_NOTES = {
    ("per_image", False): "per-image: the best subset of the K regions is the foreground of each "
    "image (IEM's flip)",
    ("per_image", True): "per-image: regions matched to classes by the Hungarian algorithm in "
    "each image",
    ("fixed", False): "fixed: one subset of the K regions is the foreground of every image, "
    "chosen on the {fit} split",
    ("fixed", True): "fixed: one Hungarian matching of regions to classes for every image, "
    "chosen on the {fit} split",
}


def seg_protocol_parts(r: Result) -> dict[str, str]:
    """How a segmentation result was obtained, by aspect: ``data`` (images scored), ``method``
    (t, K) and ``assignment`` (the region-assignment protocol)."""
    p = r.protocol
    data = f"{p.get('n', '?')} {p.get('split', '?')} images"
    if r.dataset:
        data += f" of {DATASET_NAMES.get(r.dataset, r.dataset)}"
    out = {"data": f"scores on {data}"}
    method = []
    if p.get("t") is not None:
        method.append(f"one-step segmentation at t = {p['t']}")
    if p.get("num_regions") == 1:
        method.append("K = 1 region (every pixel foreground, under either protocol)")
    elif p.get("num_regions"):
        method.append(f"K = {p['num_regions']} regions")
    if method:
        out["method"] = ", ".join(method)
    name = str(p.get("protocol") or "")
    key = (name, "miou" in r.metrics)
    if key in ASSIGNMENT_NOTES and p.get("num_regions") != 1:
        fit = p.get("fit_split") or p.get("split") or "?"
        out["assignment"] = ASSIGNMENT_NOTES[key].format(fit=fit)
    return out


def seg_protocol_text(r: Result) -> str:
    """One clause describing how a segmentation result was obtained."""
    return "; ".join(seg_protocol_parts(r).values())


def sample_protocol_text(r: Result) -> str:
    p = r.protocol
    if r.kind == "fid":
        return (
            f"FID of {p.get('n_samples', '?')} samples ({p.get('sampler', '?')} sampler, "
            f"{p.get('steps', '?')} steps) against the {p.get('ref_split', '?')} split"
        )
    n = p.get("n_samples", p.get("n", "?"))
    return (
        f"mask accuracy of {n} generated images against a supervised U-Net's masks of "
        "the same images"
    )


class Protocols:
    """The protocol clauses of a table's rows, collected by aspect, stated once per group.

    ``add(aspect, text, label)`` records that row ``label`` was obtained by ``text``;
    :meth:`notes` gives one line per distinct text of an aspect, naming the rows only when the
    rows of that aspect differ, or when a method clause holds for some rows only (never for the
    assignment: the row labels name it).
    """

    ASPECTS = ("data", "fid", "consistency", "method", "assignment")

    def __init__(self) -> None:
        self.by_aspect: dict[str, dict[str, list[str]]] = {a: {} for a in self.ASPECTS}

    def add(self, aspect: str, text: str, label: str) -> None:
        self.by_aspect[aspect].setdefault(text, []).append(label)

    def add_seg(self, r: Result, label: str) -> None:
        for aspect, text in seg_protocol_parts(r).items():
            self.add(aspect, text, label)

    def notes(self, all_labels: Sequence[str]) -> list[str]:
        out = []
        everyone = set(all_labels)
        for aspect in self.ASPECTS:
            groups = self.by_aspect[aspect]
            for text, labels in groups.items():
                labels = list(dict.fromkeys(labels))
                sentence = text[0].upper() + text[1:]
                once = len(groups) == 1 and (aspect != "method" or set(labels) >= everyone)
                if aspect == "assignment" or once:
                    out.append(f"{sentence}.")
                else:
                    out.append(f"{', '.join(labels)}: {text}.")
        return out
