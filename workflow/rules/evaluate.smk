# Evaluation: real-image segmentation and its metrics, the t sweep, FID, mask consistency and
# the baselines (GrabCut, DatasetDDPM-unsup = K-means on DDPM features, a supervised U-Net, and
# the trivial and colour priors: centred disc, all foreground, K-means on RGB).
#
# Paths (RD = RESULTS/{dataset}-{res}/{arch}):
#   RD/seg/{data}-{split}.h5            masks of a factorized model on a labelled dataset
#   RD/seg/{data}-{protocol}.csv         their scores (protocol per_image | fixed)
#   RD/seg/{data}-{protocol}-classes.csv per-class scores (evaluations with per_class: Table 7)
#   RD/seg/{data}-kmeans-{split}.h5      DatasetDDPM-unsup masks (arch ddpm) and its scores
#   RD/tsweep-{data}.csv, RD/fid.json, RD/consistency.json
#   RESULTS/baselines/{data}-{res}/grabcut-{split}.h5 and grabcut-{protocol}.csv
#   RESULTS/baselines/{data}-{res}/{prior}-{split}.h5 and {prior}-{protocol}.csv, prior in
#       disc | all_foreground | kmeans_rgb (the trivial and colour baselines)
#   RESULTS/supervised/{data}-{res}/model.pt, seg-{split}.h5, seg-{split}.csv


rule segment:
    # One denoising pass at t on real images (Sec. 3.4).
    input:
        model=f"{RD}/model.pt",
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{RD}/seg/{{data}}-{{split}}.h5",
    log:
        f"{R}/logs/segment/{{dataset}}-{{res}}-{{arch}}-{{data}}-{{split}}.log",
    benchmark:
        f"{R}/benchmarks/segment/{{dataset}}-{{res}}-{{arch}}-{{data}}-{{split}}.tsv"
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


rule eval_seg:
    input:
        pred=test_input(f"{RD}/seg/{{data}}-{{split}}.h5"),
        fit=fit_input(f"{RD}/seg/{{data}}-{{split}}.h5"),
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{RD}/seg/{{data}}-{{protocol}}.csv",
    log:
        f"{R}/logs/eval_seg/{{dataset}}-{{res}}-{{arch}}-{{data}}-{{protocol}}.log",
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        args=lambda w, input: eval_args(w.data, w.res, w.protocol, str(input.fit)),
    shell:
        "fdiff eval-seg --pred {input.pred:q} --data {input.data:q} {params.args}"
        " --out {output:q} > {log:q} 2>&1"


rule eval_seg_per_class:
    # Table 7: one row per class, scored on the images holding it.
    input:
        pred=test_input(f"{RD}/seg/{{data}}-{{split}}.h5"),
        fit=fit_input(f"{RD}/seg/{{data}}-{{split}}.h5"),
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{RD}/seg/{{data}}-{{protocol}}-classes.csv",
    log:
        f"{R}/logs/eval_seg_per_class/{{dataset}}-{{res}}-{{arch}}-{{data}}-{{protocol}}.log",
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        args=lambda w, input: eval_args(w.data, w.res, w.protocol, str(input.fit)),
    shell:
        "fdiff eval-seg --pred {input.pred:q} --data {input.data:q} {params.args}"
        " --per-class --out {output:q} > {log:q} 2>&1"


rule tsweep:
    # Segmentation quality against t (the t sweep figure).
    input:
        model=f"{RD}/model.pt",
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{RD}/tsweep-{{data}}.csv",
    log:
        f"{R}/logs/tsweep/{{dataset}}-{{res}}-{{arch}}-{{data}}.log",
    benchmark:
        f"{R}/benchmarks/tsweep/{{dataset}}-{{res}}-{{arch}}-{{data}}.tsv"
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
        samples=f"{RD}/samples.h5",
        ref=lambda w: data_h5(w.dataset, w.res),
        weights=config["inception_weights"],
    output:
        f"{RD}/fid.json",
    log:
        f"{R}/logs/fid/{{dataset}}-{{res}}-{{arch}}.log",
    benchmark:
        f"{R}/benchmarks/fid/{{dataset}}-{{res}}-{{arch}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(fid_work),
    params:
        split=lambda w: experiment(w)["fid_ref_split"],
        limit=lambda w: experiment(w)["fid_ref_limit"],
        cache=f"{R}/cache/fid-stats",
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
        f"{RD}/consistency.json",
    log:
        f"{R}/logs/consistency/{{dataset}}-{{res}}-{{arch}}.log",
    benchmark:
        f"{R}/benchmarks/consistency/{{dataset}}-{{res}}-{{arch}}.tsv"
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
        model=f"{R}/{{dataset}}-{{res}}/ddpm/model.pt",
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{R}/{{dataset}}-{{res}}/ddpm/seg/{{data}}-kmeans-{{split}}.h5",
    log:
        f"{R}/logs/baseline_kmeans/{{dataset}}-{{res}}-{{data}}-{{split}}.log",
    benchmark:
        f"{R}/benchmarks/baseline_kmeans/{{dataset}}-{{res}}-{{data}}-{{split}}.tsv"
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
        model=f"{R}/{{dataset}}-{{res}}/ddpm/model.pt",
        data=lambda w: data_h5(w.dataset, w.res),
        samples=f"{R}/{{dataset}}-{{res}}/ddpm/samples.h5",
    output:
        f"{R}/{{dataset}}-{{res}}/ddpm/samples-kmeans.h5",
    log:
        f"{R}/logs/baseline_kmeans_samples/{{dataset}}-{{res}}.log",
    benchmark:
        f"{R}/benchmarks/baseline_kmeans_samples/{{dataset}}-{{res}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(lambda w: kmeans_work(w, samples=True)),
    shell:
        "OMP_NUM_THREADS={threads} fdiff baseline-kmeans --model {input.model:q}"
        " --data {input.data:q} --fit-split train --samples {input.samples:q}"
        " --out {output:q} > {log:q} 2>&1"


rule eval_kmeans:
    input:
        pred=test_input(
            f"{R}/{{dataset}}-{{res}}/ddpm/seg/{{data}}-kmeans-{{split}}.h5"
        ),
        fit=fit_input(f"{R}/{{dataset}}-{{res}}/ddpm/seg/{{data}}-kmeans-{{split}}.h5"),
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{R}/{{dataset}}-{{res}}/ddpm/seg/{{data}}-kmeans-{{protocol}}.csv",
    log:
        f"{R}/logs/eval_kmeans/{{dataset}}-{{res}}-{{data}}-{{protocol}}.log",
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        args=lambda w, input: eval_args(w.data, w.res, w.protocol, str(input.fit)),
    shell:
        "fdiff eval-seg --pred {input.pred:q} --data {input.data:q} {params.args}"
        " --out {output:q} > {log:q} 2>&1"


rule baseline_grabcut:
    # GrabCut (Tables 1-2), initialised with a centred box; CPU only.
    input:
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{R}/baselines/{{data}}-{{res}}/grabcut-{{split}}.h5",
    log:
        f"{R}/logs/baseline_grabcut/{{data}}-{{res}}-{{split}}.log",
    benchmark:
        f"{R}/benchmarks/baseline_grabcut/{{data}}-{{res}}-{{split}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: CPU_RES["threads"]
    resources:
        **CPU_RESOURCES,
    shell:
        "OMP_NUM_THREADS={threads} fdiff baseline-grabcut --data {input.data:q}"
        " --split {wildcards.split} --out {output:q} > {log:q} 2>&1"


rule eval_grabcut:
    input:
        pred=test_input(f"{R}/baselines/{{data}}-{{res}}/grabcut-{{split}}.h5"),
        fit=fit_input(f"{R}/baselines/{{data}}-{{res}}/grabcut-{{split}}.h5"),
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{R}/baselines/{{data}}-{{res}}/grabcut-{{protocol}}.csv",
    log:
        f"{R}/logs/eval_grabcut/{{data}}-{{res}}-{{protocol}}.log",
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        args=lambda w, input: eval_args(w.data, w.res, w.protocol, str(input.fit)),
    shell:
        "fdiff eval-seg --pred {input.pred:q} --data {input.data:q} {params.args}"
        " --out {output:q} > {log:q} 2>&1"


rule baseline_prior:
    # The trivial and colour baselines (Tables 1, 2, 6): a centred disc with the training
    # masks' mean foreground area, all foreground, K-means on each image's pixel colours.
    input:
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{R}/baselines/{{data}}-{{res}}/{{prior}}-{{split}}.h5",
    log:
        f"{R}/logs/baseline_prior/{{data}}-{{res}}-{{prior}}-{{split}}.log",
    conda:
        "../../envs/torch.yaml"
    threads: 1
    resources:
        **CPU_RESOURCES,
    params:
        kind=lambda w: PRIOR_KINDS[w.prior],
    shell:
        "OMP_NUM_THREADS={threads} fdiff baseline-prior --kind {params.kind}"
        " --data {input.data:q} --split {wildcards.split} --out {output:q} > {log:q} 2>&1"


rule eval_prior:
    input:
        pred=test_input(f"{R}/baselines/{{data}}-{{res}}/{{prior}}-{{split}}.h5"),
        fit=fit_input(f"{R}/baselines/{{data}}-{{res}}/{{prior}}-{{split}}.h5"),
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{R}/baselines/{{data}}-{{res}}/{{prior}}-{{protocol}}.csv",
    log:
        f"{R}/logs/eval_prior/{{data}}-{{res}}-{{prior}}-{{protocol}}.log",
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        args=lambda w, input: eval_args(w.data, w.res, w.protocol, str(input.fit)),
    shell:
        "fdiff eval-seg --pred {input.pred:q} --data {input.data:q} {params.args}"
        " --out {output:q} > {log:q} 2>&1"


rule train_supervised:
    # The supervised U-Net (cross entropy on the labelled train split): Tables 3-4 and the
    # reference segmenter of mask consistency.
    input:
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{R}/supervised/{{data}}-{{res}}/model.pt",
    log:
        f"{R}/logs/train_supervised/{{data}}-{{res}}.log",
    benchmark:
        f"{R}/benchmarks/train_supervised/{{data}}-{{res}}.tsv"
    retries: 3
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **gpu_job_resources(train_supervised_work),
    params:
        rundir=f"{R}/supervised/{{data}}-{{res}}",
        args=supervised_args,
    shell:
        "OMP_NUM_THREADS={threads} fdiff train-supervised --data {input.data:q}"
        " --out {params.rundir:q} {params.args} > {log:q} 2>&1"


rule segment_supervised:
    input:
        model=f"{R}/supervised/{{data}}-{{res}}/model.pt",
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{R}/supervised/{{data}}-{{res}}/seg-{{split}}.h5",
    log:
        f"{R}/logs/segment_supervised/{{data}}-{{res}}-{{split}}.log",
    benchmark:
        f"{R}/benchmarks/segment_supervised/{{data}}-{{res}}-{{split}}.tsv"
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
        pred=f"{R}/supervised/{{data}}-{{res}}/seg-{{split}}.h5",
        data=lambda w: data_h5(w.data, w.res),
    output:
        f"{R}/supervised/{{data}}-{{res}}/seg-{{split}}.csv",
    log:
        f"{R}/logs/eval_supervised/{{data}}-{{res}}-{{split}}.log",
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        mc=lambda w: multiclass_flag(w.data, w.res),
    shell:
        "fdiff eval-seg --pred {input.pred:q} --data {input.data:q} --split {wildcards.split}"
        " --protocol per_image {params.mc} --out {output:q} > {log:q} 2>&1"
