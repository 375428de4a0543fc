"""How a segmentation score was obtained (:class:`SegProtocol`), and its columns of the metrics
CSV. Kept free of torch: the report and the workflow read these columns."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

PROTOCOLS = ("per_image", "fixed")


@dataclass(frozen=True, kw_only=True)
class SegProtocol:
    """How a score was obtained: what every metric file records next to the numbers.

    It owns its columns of the metrics CSV (docs/contracts.md): one per field, in field order,
    named as the field unless its metadata says ``column`` (``assignment`` is the ``protocol``
    column); a field marked ``after_metrics`` follows the metric columns. None is written "".
    """

    split: str
    assignment: str = field(metadata={"column": "protocol"})  # "per_image" | "fixed"
    t: int | None = None  # diffusion step of the one-step segmentation (None: not a diffusion)
    n: int  # images evaluated
    num_regions: int  # K
    # The split the fixed assignment was chosen on.
    fit_split: str | None = field(default=None, metadata={"after_metrics": True})

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The CSV columns of a protocol, in field order."""
        return tuple(f.metadata.get("column", f.name) for f in fields(cls))

    def row(self, metrics: dict[str, object]) -> dict[str, object]:
        """This protocol's CSV columns around the ``metrics`` columns."""
        before: dict[str, object] = {}
        after: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            side = after if f.metadata.get("after_metrics") else before
            side[f.metadata.get("column", f.name)] = "" if value is None else value
        return before | metrics | after
