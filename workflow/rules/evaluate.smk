# Evaluation: real-image segmentation and its metrics, the t sweep, FID, mask consistency and
# the baselines (GrabCut, DatasetDDPM-unsup = K-means on DDPM features, a supervised U-Net, and
# the trivial and colour priors: centred disc, all foreground, K-means on RGB).
#
# Where each file lands: fdiff/plan/paths.py (TEMPLATES; RUN_DIR = RESULTS/{dataset}-{res}/{arch}).
# Every segmentation file, a model's or a baseline's, is scored by the one rule `score`.


rule segment:
    # One denoising pass at t on real images (Sec. 3.4).
    input:
        model=L.model(),
        data=lambda w: data_h5(w.data, w.res),
    output:
        L.seg_h5(),
    log:
        L.log("segment", "{dataset}-{res}-{arch}-{data}-{split}"),
    benchmark:
        L.benchmark("segment", "{dataset}-{res}-{arch}-{data}-{split}")
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(segment_work),
    params:
        t=lambda w: experiment(w)["segment"]["t"],
        bs=lambda w: experiment(w)["segment"]["batch_size"],
        # The class a class-conditional model is conditioned on (VOC, DAVIS: mapped to ImageNet).
        condition=segment_condition,
    shell:
        "OMP_NUM_THREADS={threads} fdiff segment --model {input.model:q} --data {input.data:q}"
        " --split {wildcards.split} --t {params.t} --batch-size {params.bs}"
        " --condition {params.condition} --out {output:q} > {log:q} 2>&1"


rule score:
    # The scores of one segmentation, whichever made it (a model, DatasetDDPM-unsup, GrabCut, a
    # prior): {scored}-{split}.h5 -> {scored}-{protocol}.csv, and {scored}-{protocol}-classes.csv
    # one row per class (Table 7). The prefix names the dataset and resolution, whose
    # evaluation gives the splits (fdiff/plan/scoring.py).
    input:
        unpack(lambda w: score_inputs(PLAN, w.scored, w.protocol)),
    output:
        L.scores(),
    log:
        L.log("score", "{scored}-{protocol}{classes}"),
    wildcard_constraints:
        scored=scored_pattern(),
        classes="|-classes",
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        args=lambda w: score_args(PLAN, w.scored, w.protocol, w.classes),
    shell:
        "fdiff eval-seg --pred {input.pred:q} --data {input.data:q} {params.args}"
        " --out {output:q} > {log:q} 2>&1"


rule tsweep:
    # Segmentation quality against t (the t sweep figure).
    input:
        model=L.model(),
        data=lambda w: data_h5(w.data, w.res),
    output:
        L.tsweep(),
    log:
        L.log("tsweep", "{dataset}-{res}-{arch}-{data}"),
    benchmark:
        L.benchmark("tsweep", "{dataset}-{res}-{arch}-{data}")
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(tsweep_work),
    params:
        ts=lambda w: " ".join(map(str, experiment(w)["segment"]["tsweep"])),
        split=lambda w: eval_spec(w.data, w.res)["split"],
        mc=lambda w: multiclass_flag(w.data, w.res),
    shell:
        "OMP_NUM_THREADS={threads} fdiff tsweep --model {input.model:q} --data {input.data:q}"
        " --split {params.split} --t {params.ts} {params.mc} --out {output:q} > {log:q} 2>&1"


rule fid:
    input:
        samples=L.samples(),
        ref=lambda w: data_h5(w.dataset, w.res),
        weights=config["inception_weights"],
    output:
        L.fid(),
    log:
        L.log("fid", "{dataset}-{res}-{arch}"),
    benchmark:
        L.benchmark("fid", "{dataset}-{res}-{arch}")
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(fid_work),
    params:
        split=lambda w: experiment(w)["fid_ref_split"],
        limit=lambda w: experiment(w)["fid_ref_limit"],
        cache=L.fid_cache(),
    shell:
        "OMP_NUM_THREADS={threads} fdiff fid --samples {input.samples:q} --ref {input.ref:q}"
        " --ref-split {params.split} --ref-limit {params.limit} --cache {params.cache:q}"
        " --weights {input.weights:q} --out {output:q} > {log:q} 2>&1"


rule consistency:
    # Generated masks against a supervised U-Net's segmentation of the generated images
    # (Table 5, bottom).
    input:
        unpack(consistency_inputs),
    output:
        L.consistency(),
    log:
        L.log("consistency", "{dataset}-{res}-{arch}"),
    benchmark:
        L.benchmark("consistency", "{dataset}-{res}-{arch}")
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(consistency_work),
    params:
        masks=lambda w, input: (
            f"--masks {shlex.quote(input.masks)}" if "masks" in input.keys() else ""
        ),
    shell:
        "OMP_NUM_THREADS={threads} fdiff consistency --samples {input.samples:q}"
        " --seg-model {input.seg_model:q} {params.masks} --out {output:q} > {log:q} 2>&1"


# --- baselines ------------------------------------------------------------------------------


rule baseline_kmeans:
    # DatasetDDPM-unsup: K-means (K = 3) on the decoder features of the standard DDPM, fitted
    # on the training split of the evaluated dataset.
    input:
        model=L.model(arch="ddpm"),
        data=lambda w: data_h5(w.data, w.res),
    output:
        L.kmeans_h5(arch="ddpm"),
    log:
        L.log("baseline_kmeans", "{dataset}-{res}-{data}-{split}"),
    benchmark:
        L.benchmark("baseline_kmeans", "{dataset}-{res}-{data}-{split}")
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(kmeans_work),
    shell:
        "OMP_NUM_THREADS={threads} fdiff baseline-kmeans --model {input.model:q}"
        " --data {input.data:q} --fit-split train --split {wildcards.split}"
        " --out {output:q} > {log:q} 2>&1"


rule baseline_kmeans_samples:
    # The same K-means baseline applied to the DDPM's generated images (Table 5, bottom).
    input:
        model=L.model(arch="ddpm"),
        data=lambda w: data_h5(w.dataset, w.res),
        samples=L.samples(arch="ddpm"),
    output:
        L.samples_kmeans(arch="ddpm"),
    log:
        L.log("baseline_kmeans_samples", "{dataset}-{res}"),
    benchmark:
        L.benchmark("baseline_kmeans_samples", "{dataset}-{res}")
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(lambda w: kmeans_work(w, samples=True)),
    shell:
        "OMP_NUM_THREADS={threads} fdiff baseline-kmeans --model {input.model:q}"
        " --data {input.data:q} --fit-split train --samples {input.samples:q}"
        " --out {output:q} > {log:q} 2>&1"


rule baseline_grabcut:
    # GrabCut (Tables 1-2), initialised with a centred box; CPU only.
    input:
        data=lambda w: data_h5(w.data, w.res),
    output:
        L.baseline_h5(kind="grabcut"),
    log:
        L.log("baseline_grabcut", "{data}-{res}-{split}"),
    benchmark:
        L.benchmark("baseline_grabcut", "{data}-{res}-{split}")
    conda:
        "../../envs/torch.yaml"
    threads: CPU_RES["threads"]
    resources:
        **CPU_RESOURCES,
    shell:
        "OMP_NUM_THREADS={threads} fdiff baseline-grabcut --data {input.data:q}"
        " --split {wildcards.split} --out {output:q} > {log:q} 2>&1"


rule baseline_prior:
    # The trivial and colour baselines (Tables 1, 2, 6): a centred disc with the training
    # masks' mean foreground area, all foreground, K-means on each image's pixel colours.
    input:
        data=lambda w: data_h5(w.data, w.res),
    output:
        L.baseline_h5(),
    log:
        L.log("baseline_prior", "{data}-{res}-{kind}-{split}"),
    wildcard_constraints:
        kind="|".join(PRIOR_KINDS),
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        **CPU_RESOURCES,
    params:
        kind=lambda w: PRIOR_KINDS[w.kind],
    shell:
        "OMP_NUM_THREADS={threads} fdiff baseline-prior --kind {params.kind}"
        " --data {input.data:q} --split {wildcards.split} --out {output:q} > {log:q} 2>&1"


rule train_supervised:
    # The supervised U-Net (cross entropy on the labelled train split): Tables 3-4 and the
    # reference segmenter of mask consistency.
    input:
        data=lambda w: data_h5(w.data, w.res),
    output:
        L.supervised_model(),
    log:
        L.log("train_supervised", "{data}-{res}"),
    benchmark:
        L.benchmark("train_supervised", "{data}-{res}")
    retries: 3
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(train_supervised_work),
    params:
        rundir=L.supervised_dir(),
        args=supervised_args,
    shell:
        "OMP_NUM_THREADS={threads} fdiff train-supervised --data {input.data:q}"
        " --out {params.rundir:q} {params.args} > {log:q} 2>&1"


rule segment_supervised:
    input:
        model=L.supervised_model(),
        data=lambda w: data_h5(w.data, w.res),
    output:
        L.supervised_h5(),
    log:
        L.log("segment_supervised", "{data}-{res}-{split}"),
    benchmark:
        L.benchmark("segment_supervised", "{data}-{res}-{split}")
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(segment_supervised_work),
    shell:
        "OMP_NUM_THREADS={threads} fdiff segment-supervised --model {input.model:q}"
        " --data {input.data:q} --split {wildcards.split} --out {output:q} > {log:q} 2>&1"


rule eval_supervised:
    input:
        pred=L.supervised_h5(),
        data=lambda w: data_h5(w.data, w.res),
    output:
        L.supervised_csv(),
    log:
        L.log("eval_supervised", "{data}-{res}-{split}"),
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        mc=lambda w: multiclass_flag(w.data, w.res),
    shell:
        "fdiff eval-seg --pred {input.pred:q} --data {input.data:q} --split {wildcards.split}"
        " --protocol per_image {params.mc} --out {output:q} > {log:q} 2>&1"
