# Tables 1-7 (CSV + LaTeX) and the figures (PNG + PDF), from the metric and sample files.
#
# `fdiff table N` gets its inputs as --input KEY=PATH (fdiff/report/tables.py): KEY is a row of
# the table's spec (fdiff.report.specs.SPECS: factorized, grabcut, kmeans, supervised, concat,
# mask_hmid, unshared, and the priors disc, all_foreground, kmeans_rgb; one file per protocol)
# and for Table 5 ROW@EXPERIMENT (ddpm@cub-128). A table whose experiment is not configured
# gets no inputs and shows "-" in its computed cells.
#
#   table1 (Flowers) / table2 (CUB): Acc, IoU, DICE of ours (factorized, both protocols) and
#       GrabCut (computed) on tables.tableN.data, and the evaluation's configured priors
#       (centred disc, all foreground, K-means on RGB); quoted literature rows.
#   table3 (CelebAMask-HQ) / table4 (ImageNet): Acc, mIoU of ours, DatasetDDPM-unsup (kmeans)
#       and the supervised U-Net.
#   table5: FID (fid.json) and mask accuracy (consistency.json) of ddpm and factorized, every
#       experiment.
#   table6: IoU (seg csv on tables.table6.data, default the first evaluation) and FID of the
#       factorized model, each ablation of tables.table6.experiment and the configured priors.
#   table7: VOC zero-shot accuracy and mIoU per class of ours (seg/{data}-{protocol}-classes.csv
#       of the evaluation's first protocol when it sets per_class, else the overall CSV).

import os


rule table:
    input:
        lambda w: [path for _, path in table_pairs(int(w.n))],
    output:
        csv=report(L.table_csv(), caption="../report/table.rst", category="Tables"),
        tex=L.table_tex(),
    log:
        L.log("table", "table{n}"),
    wildcard_constraints:
        n="[1-7]",
    conda:
        "../../envs/plot.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        inputs=lambda w: input_args(table_pairs(int(w.n))),
    shell:
        "fdiff table {wildcards.n} {params.inputs} --out-csv {output.csv:q}"
        " --out-tex {output.tex:q} > {log:q} 2>&1"


# --- figures --------------------------------------------------------------------------------


rule figure_segmentation:
    # Real images with their predicted segmentation (Figs. 3-6).
    input:
        data=lambda w: data_h5(w.data, w.res),
        # the trained model's masks, and the shipped model's beside them when there is one
        masks=lambda w: targets.segmentation_masks(PLAN, exp_name(w), w.data),
    output:
        **figure("segmentation-{dataset}-{res}-{data}", "segmentation"),
    log:
        L.log("figure", "segmentation-{dataset}-{res}-{data}"),
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    params:
        split=lambda w: eval_spec(w.data, w.res)["split"],
        # Fig. 6: a class-conditional model's own labelled data shows figures.classes.
        classes=lambda w: (
            "--classes " + " ".join(map(str, config["figures"]["classes"]))
            if experiment(w)["model"].get("num_classes", 0) > 0
            and PLAN.evaluation(exp_name(w), w.data)["condition"] == "labels"
            else ""
        ),
        preds=lambda w, input: " ".join(
            shlex.quote(f"{label}={path}" if label else str(path))
            for label, path in zip(PLAN.pred_labels(exp_name(w)), input.masks)
        ),
    shell:
        "fdiff figure segmentation --data {input.data:q} --pred {params.preds}"
        " --split {params.split} {params.classes} --out {output.png:q} {output.pdf:q}"
        " > {log:q} 2>&1"


rule figure_real_segmentation:
    # Fig. 1 (e-f): real images of the experiment's own (unlabelled) dataset, segmented.
    input:
        data=lambda w: data_h5(w.dataset, w.res),
        masks=lambda w: L.seg_h5(
            dataset=w.dataset,
            res=w.res,
            arch="factorized",
            data=w.dataset,
            split=config["figures"]["real_segmentation"]["split"],
        ),
    output:
        **figure("real-segmentation-{dataset}-{res}", "real-segmentation"),
    log:
        L.log("figure", "real-segmentation-{dataset}-{res}"),
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    params:
        f=config["figures"]["real_segmentation"],
    shell:
        "fdiff figure segmentation --data {input.data:q} --pred {input.masks:q}"
        " --split {params.f[split]} --num {params.f[num]} --out {output.png:q} {output.pdf:q}"
        " > {log:q} 2>&1"


rule figure_hierarchy:
    # Appendix Fig. 15: generated images with both mask levels of the hierarchical model.
    input:
        samples=L.samples_figure(arch="hierarchical"),
    output:
        **figure("hierarchy-{dataset}-{res}", "hierarchy"),
    log:
        L.log("figure", "hierarchy-{dataset}-{res}"),
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    params:
        k2=lambda w: PLAN.sub_regions(exp_name(w)),
    shell:
        "fdiff figure hierarchy --samples {input.samples:q} --sub-regions {params.k2}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule figure_samples:
    # generation: images with their generated masks (Figs. 7-8); mask-channels: the K soft
    # masks (Fig. 9); trajectory: images and masks along the reverse process (Fig. 10);
    # class-grid: the class-conditional ImageNet grid (Fig. 11).
    input:
        samples=L.samples_figure(arch="factorized"),
    output:
        **figure("{kind}-{dataset}-{res}", "samples"),
    log:
        L.log("figure", "{kind}-{dataset}-{res}"),
    wildcard_constraints:
        kind="generation|mask-channels|trajectory|class-grid",
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    params:
        classes=lambda w: (
            "--classes " + " ".join(map(str, config["figures"]["generation_classes"]))
            if w.kind == "class-grid"
            else ""
        ),
    shell:
        "fdiff figure {wildcards.kind} --samples {input.samples:q} {params.classes}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule figure_tsweep:
    input:
        L.tsweep(arch="factorized"),
    output:
        **figure("tsweep-{dataset}-{res}-{data}", "tsweep"),
    log:
        L.log("figure", "tsweep-{dataset}-{res}-{data}"),
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    shell:
        "fdiff figure tsweep --csv {input:q} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule interpolate:
    # Fig. 12: two real images noised to t, interpolated in that latent, denoised, with masks.
    input:
        model=L.model(arch="factorized"),
        data=lambda w: data_h5(w.dataset, w.res),
    output:
        L.interpolation(arch="factorized"),
    log:
        L.log("interpolate", "{dataset}-{res}"),
    benchmark:
        L.benchmark("interpolate", "{dataset}-{res}")
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        # the two ends and `num` frames between them, each denoised from t
        **sampling_resources(
            lambda w: config["figures"]["interpolation"]["num"] + 2,
            lambda w: config["figures"]["interpolation"]["t"],
            arch="factorized",
        ),
    params:
        i=config["figures"]["interpolation"],
        index=" ".join(map(str, config["figures"]["interpolation"]["index"])),
    shell:
        "OMP_NUM_THREADS={threads} fdiff interpolate --model {input.model:q}"
        " --data {input.data:q} --split {params.i[split]} --index {params.index}"
        " --t {params.i[t]} --steps-between {params.i[num]} --out {output:q} > {log:q} 2>&1"


rule figure_interpolation:
    input:
        L.interpolation(arch="factorized"),
    output:
        **figure("interpolation-{dataset}-{res}", "interpolation"),
    log:
        L.log("figure", "interpolation-{dataset}-{res}"),
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    shell:
        "fdiff figure interpolation --interp {input:q} --out {output.png:q} {output.pdf:q}"
        " > {log:q} 2>&1"


rule figure_loss:
    # Training-loss curves of every run (metrics.csv sits next to each model.pt).
    input:
        targets.model_files(PLAN),
    output:
        **figure("loss-curves", "loss-curves"),
    log:
        L.log("figure", "loss-curves"),
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    params:
        runs=input_args(targets.loss_pairs(PLAN), "--run"),
    shell:
        "fdiff figure loss {params.runs} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


# fdiff status reads a few small files: on the login node, not through the queue
localrules:
    plan_status,


rule plan_status:
    # Where every run stood once the last model was written (`fdiff status`): steps, final
    # loss, attempts and preemptions of each training, shards, tables.
    input:
        targets.model_files(PLAN),
    output:
        report(L.status(), caption="../report/status.rst", category="Training"),
    log:
        L.log("status"),
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    params:
        results=lambda w, output: os.path.dirname(output[0]),  # RESULTS/status.txt
    shell:
        "fdiff status {params.results:q} > {output:q} 2> {log:q}"
