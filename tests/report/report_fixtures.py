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
