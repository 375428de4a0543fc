"""Fixture result files for the report tests: written the way the evaluation verbs write them."""

from __future__ import annotations

import json
from pathlib import Path

SEG_HEADER = "method,dataset,split,protocol,t,n,num_regions,acc,iou,dice,fit_split,assignment\n"


def seg_csv(path: Path, dataset: str, protocol: str, acc, iou, dice, method="factorized", t=30):
    fit, assign = ("train", "fg=1+2") if protocol == "fixed" else ("", "per-image")
    path.write_text(
        SEG_HEADER + f"{method},{dataset},test,{protocol},{t},100,3,{acc},{iou},{dice},{fit},"
        f"{assign}\n"
    )
    return path


def fid_json(path: Path, fid: float, n=500, sampler="ddim", steps=50):
    obj = {"fid": fid, "kid_mean": 0.01, "kid_std": 0.001, "n_samples": n, "ref": "d.h5",
           "ref_split": "train", "sampler": sampler, "steps": steps}  # fmt: skip
    path.write_text(json.dumps(obj))
    return path


def consistency_json(path: Path, acc: float):
    path.write_text(json.dumps({"acc": acc, "miou": 0.5, "n": 500, "num_regions": 3}))
    return path


LITERATURE = """table,dataset,resolution,method,metric,value,unit,cited,quoted_from,quoted
2,cub,,ReDO,acc,84.5,percent,"Chen et al. [8]","the paper, Table 2",yes
2,cub,,ReDO,iou,42.6,percent,"Chen et al. [8]","the paper, Table 2",yes
2,cub,,IEM,acc,88.6,percent,"Savarese et al. [50]","the paper, Table 2",yes
2,cub,,IEM,iou,52.2,percent,"Savarese et al. [50]","the paper, Table 2",yes
2,cub,,IEM,dice,66.0,percent,"Savarese et al. [50]","the paper, Table 2",yes
5,cub,128,Ours,fid,10.28,fid,"Yuan and Maire","the paper, Table 5",yes
6,cub,,Concat,iou,20.7,percent,"Yuan and Maire","the paper, Table 6",yes
6,cub,,Concat,fid,14.21,fid,"Yuan and Maire","the paper, Table 6",yes
"""


def miou_csv(path: Path, dataset: str, protocol: str, acc, miou, method="factorized", t=30):
    """A multi-class eval-seg CSV (Tables 3, 4): accuracy and mIoU."""
    fit = "train" if protocol == "fixed" else ""
    path.write_text(
        "method,dataset,split,protocol,t,n,num_regions,acc,miou,fit_split\n"
        f"{method},{dataset},test,{protocol},{t},100,3,{acc},{miou},{fit}\n"
    )
    return path


def per_class_csv(path: Path, classes=("aeroplane", "cat", "dog")):
    """A per-class eval-seg CSV of VOC (Table 7)."""
    rows = "".join(
        f"factorized,voc,val,per_image,30,10,3,{c},{0.6 + 0.01 * i},{0.4 + 0.01 * i}\n"
        for i, c in enumerate(classes)
    )
    path.write_text("method,dataset,split,protocol,t,n,num_regions,class,acc,miou\n" + rows)
    return path


def paper_inputs(tmp: Path) -> dict[int, dict[str, list[Path]]]:
    """Inputs of Tables 1-7 as the paper plan gives them (fixture numbers, paper datasets)."""
    out: dict[int, dict[str, list[Path]]] = {}
    for n, ds in ((1, "flowers"), (2, "cub")):
        out[n] = {
            "factorized": [
                seg_csv(tmp / f"t{n}-pi.csv", ds, "per_image", 0.9, 0.7, 0.8),
                seg_csv(tmp / f"t{n}-fx.csv", ds, "fixed", 0.85, 0.6, 0.7),
            ],
            "grabcut": [
                seg_csv(tmp / f"t{n}-g.csv", ds, "per_image", 0.8, 0.5, 0.6, "grabcut", "")
            ],
            "disc": [seg_csv(tmp / f"t{n}-d.csv", ds, "per_image", 0.7, 0.4, 0.5, "disc", "")],
        }
    for n, ds in ((3, "celebamask"), (4, "pixel-imagenet")):
        out[n] = {
            "factorized": [
                miou_csv(tmp / f"t{n}-pi.csv", ds, "per_image", 0.8, 0.6),
                miou_csv(tmp / f"t{n}-fx.csv", ds, "fixed", 0.75, 0.55),
            ],
            "kmeans": [miou_csv(tmp / f"t{n}-k.csv", ds, "per_image", 0.7, 0.5, "kmeans", "")],
            "supervised": [
                miou_csv(tmp / f"t{n}-s.csv", ds, "per_image", 0.9, 0.8, "supervised", "")
            ],
        }
    out[5] = {}
    for exp in ("flowers-64", "cub-128", "imagenet-64"):
        for arch in ("ddpm", "factorized"):
            out[5][f"{arch}@{exp}"] = [
                fid_json(tmp / f"t5-{arch}-{exp}.json", 20.0 if arch == "ddpm" else 18.0),
                consistency_json(tmp / f"t5-c-{arch}-{exp}.json", 0.8),
            ]
    out[6] = {
        a: [
            seg_csv(tmp / f"t6-{a}.csv", "cub", "per_image", 0.8, 0.5, 0.6, a),
            fid_json(tmp / f"t6-{a}.json", 15.0),
        ]
        for a in ("concat", "mask_hmid", "unshared", "factorized")
    }
    out[7] = {"factorized": [per_class_csv(tmp / "t7.csv")]}
    return out
