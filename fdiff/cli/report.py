"""Report verbs: ``table`` (Tables 1-7), ``figure`` (the figures), ``interpolate`` (Fig. 12).

See docs/report.md for every table's input keys and every figure's inputs.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from fdiff.cli.args import COUNT, NATURAL, REGIONS, SEED, input_file, integer, output_file
from fdiff.errors import FdiffError

log = logging.getLogger("fdiff")


def _key_path(text: str) -> tuple[str, Path]:
    key, sep, path = text.partition("=")
    if not sep or not key or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=PATH (e.g. ours=seg.csv)")
    return key.strip(), Path(path)


def _label_path(text: str) -> tuple[str, Path]:
    """FILE or LABEL=FILE (a label names the model in a figure's row)."""
    key, sep, path = text.partition("=")
    return (key.strip(), Path(path)) if sep and key and path else ("", Path(text))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("table", help="one of the paper's Tables 1-7 as CSV and LaTeX")
    p.add_argument("number", type=integer(1, 7), metavar="N", help="table 1-7")
    p.add_argument(
        "--input",
        type=_key_path,
        action="append",
        default=[],
        metavar="KEY=PATH",
        help="a result file of row KEY (Table 5: ROW@EXPERIMENT); repeatable",
    )
    p.add_argument("--literature", default="packaged",
                   help="quoted-numbers CSV; 'packaged' (fdiff/baselines/literature.csv) or "
                   "'none'")  # fmt: skip
    p.add_argument("--out-csv", type=output_file)
    p.add_argument("--out-tex", type=output_file)
    p.set_defaults(func=cmd_table)

    _register_figure(sub)

    p = sub.add_parser("interpolate", help="interpolate two real images in the noised latent")
    p.add_argument("--model", required=True, type=input_file)
    p.add_argument("--data", required=True, type=input_file, help="dataset HDF5")
    p.add_argument("--split", default="test")
    p.add_argument("--index", required=True, type=NATURAL, nargs=2, metavar=("A", "B"))
    p.add_argument("--t", type=NATURAL, default=250, help="noise level of the latents (paper t)")
    p.add_argument("--steps-between", type=NATURAL, default=8, help="frames between A and B")
    p.add_argument("--mode", choices=["linear", "slerp"], default="linear")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--label", type=NATURAL, help="class of a class-conditional model")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, type=output_file, help="interpolation HDF5")
    p.set_defaults(func=cmd_interpolate)


def _register_figure(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("figure", help="one of the paper's figures as PNG and/or PDF")
    figs = p.add_subparsers(dest="figure", required=True, metavar="NAME")

    def add(name: str, help: str) -> argparse.ArgumentParser:
        f = figs.add_parser(name, help=help)
        f.add_argument(
            "--out", required=True, type=output_file, nargs="+", help="FILE.png FILE.pdf"
        )
        f.add_argument("--title", help="replace the default title")
        f.set_defaults(func=cmd_figure)
        return f

    def pick(f: argparse.ArgumentParser, num: int) -> None:
        f.add_argument("--indices", type=NATURAL, nargs="+", help="which images (default: first)")
        f.add_argument("--num", type=COUNT, default=num, help="how many (without --indices)")

    f = add("segmentation", "real images with their predicted regions (Figs. 3-6, 13-17)")
    f.add_argument("--data", required=True, type=input_file, help="dataset HDF5")
    f.add_argument("--pred", required=True, type=_label_path, nargs="+", metavar="[LABEL=]FILE",
                   help="segmentation HDF5 (fdiff segment); for several: LABEL=FILE")  # fmt: skip
    f.add_argument("--split", default="test")
    f.add_argument(
        "--classes", type=NATURAL, nargs="+", help="show images of these classes (Fig. 6)"
    )
    pick(f, 8)
    f = add("generation", "generated images with their masks (Figs. 7, 8, 18-21)")
    f.add_argument("--samples", required=True, type=input_file)
    pick(f, 8)
    f = add("mask-channels", "the K soft mask channels of generated images (Fig. 9)")
    f.add_argument("--samples", required=True, type=input_file, help="samples HDF5 with soft_masks")
    pick(f, 6)
    f = add("trajectory", "x_t and masks along the reverse process (Fig. 10)")
    f.add_argument(
        "--samples", required=True, type=input_file, help="samples HDF5 with trajectory/"
    )
    pick(f, 2)
    f = add("class-grid", "class-conditional samples and masks (Fig. 11)")
    f.add_argument("--samples", required=True, type=input_file, help="samples HDF5 with labels")
    f.add_argument("--classes", type=NATURAL, nargs="+", help="classes, one block each")
    f.add_argument("--class-names", nargs="+", help="a name per class")
    f.add_argument("--num", type=COUNT, default=6, help="images per class")
    f = add("hierarchy", "generated images with both mask levels (hierarchical model)")
    f.add_argument("--samples", required=True, type=input_file, help="samples HDF5 of that model")
    f.add_argument("--sub-regions", required=True, type=REGIONS, help="the model's sub_regions")
    pick(f, 8)
    f = add("interpolation", "interpolation between two real images (Fig. 12)")
    f.add_argument("--interp", required=True, type=input_file, help="fdiff interpolate output")
    f = add("tsweep", "segmentation scores against t (appendix)")
    f.add_argument("--csv", required=True, type=input_file, help="fdiff tsweep output")
    f = add("loss", "training-loss curves")
    f.add_argument("--run", type=_key_path, action="append", required=True,
                   metavar="LABEL=METRICS.csv", help="a run's metrics.csv; repeatable")  # fmt: skip
    f.add_argument("--smooth", type=COUNT, default=20, help="rolling mean over logged points")


def cmd_figure(args) -> int:
    from fdiff.report import figures as F

    name, title = args.figure, args.title
    if name == "segmentation":
        fig = F.segmentation_figure(
            args.data, args.pred, args.split, args.indices, args.num, title, args.classes
        )
    elif name == "generation":
        fig = F.generation_figure(args.samples, args.indices, args.num, title)
    elif name == "mask-channels":
        fig = F.mask_channels_figure(args.samples, args.indices, args.num, title)
    elif name == "trajectory":
        fig = F.trajectory_figure(args.samples, args.indices, args.num, title)
    elif name == "class-grid":
        fig = F.class_grid_figure(args.samples, args.classes, args.class_names, args.num, title)
    elif name == "hierarchy":
        fig = F.hierarchy_figure(args.samples, args.sub_regions, args.indices, args.num, title)
    elif name == "interpolation":
        fig = F.interpolation_figure(args.interp, title)
    elif name == "tsweep":
        fig = F.tsweep_figure(args.csv, title)
    else:
        fig = F.loss_figure([(label, str(p)) for label, p in args.run], args.smooth, title)
    for path in F.save_figure(fig, args.out):
        log.info("figure %s -> %s", name, path)
    return 0


def cmd_table(args) -> int:
    from fdiff.report.render import write_table
    from fdiff.report.results import default_literature
    from fdiff.report.tables import build_table

    if not args.out_csv and not args.out_tex:
        raise FdiffError("table: nothing to write: give --out-csv and/or --out-tex")
    inputs: dict[str, list[Path]] = {}
    for key, path in args.input:
        inputs.setdefault(key, []).append(path)
    literature = {"packaged": default_literature(), "none": None}.get(
        args.literature, Path(args.literature)
    )
    table = build_table(args.number, inputs, literature)
    write_table(table, args.out_csv, args.out_tex)
    log.info("table %d: %d rows -> %s", args.number, len(table.rows),
             ", ".join(str(p) for p in (args.out_csv, args.out_tex) if p))  # fmt: skip
    return 0


def cmd_interpolate(args) -> int:
    from fdiff.device import resolve_device
    from fdiff.inference.interpolate import InterpolationRequest, interpolate_to_h5

    req = InterpolationRequest(
        model=args.model,
        data=args.data,
        split=args.split,
        index_a=args.index[0],
        index_b=args.index[1],
        t=args.t,
        steps_between=args.steps_between,
        mode=args.mode,
        seed=args.seed,
        label=args.label,
        device=str(resolve_device(args.device)),
    )
    interpolate_to_h5(req, args.out)
    return 0
