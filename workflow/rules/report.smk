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


include: "report_inputs.smk"


rule table:
    input:
        lambda w: [path for _, path in table_pairs(int(w.n))],
    output:
        csv=report(
            f"{R}/tables/table{{n}}.csv",
            caption="../report/table.rst",
            category="Tables",
        ),
        tex=f"{R}/tables/table{{n}}.tex",
    log:
        f"{R}/logs/table/table{{n}}.log",
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
        masks=lambda w: [
            f"{run_dir(exp_name(w), a)}/seg/{w.data}-{eval_spec(w.data, w.res)['split']}.h5"
            for a in ["factorized", PRETRAINED]
            if a in seg_archs(exp_name(w))
        ],
    output:
        png=report(
            f"{FIG}/segmentation-{{dataset}}-{{res}}-{{data}}.png",
            caption="../report/segmentation.rst",
            category="Figures",
        ),
        pdf=f"{FIG}/segmentation-{{dataset}}-{{res}}-{{data}}.pdf",
    log:
        f"{R}/logs/figure/segmentation-{{dataset}}-{{res}}-{{data}}.log",
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
            and evaluation(exp_name(w), w.data)["condition"] == "labels"
            else ""
        ),
        preds=lambda w, input: " ".join(
            shlex.quote(f"{label}={path}" if label else str(path))
            for label, path in zip(pred_labels(exp_name(w)), input.masks)
        ),
    shell:
        "fdiff figure segmentation --data {input.data:q} --pred {params.preds}"
        " --split {params.split} {params.classes} --out {output.png:q} {output.pdf:q}"
        " > {log:q} 2>&1"


rule figure_real_segmentation:
    # Fig. 1 (e-f): real images of the experiment's own (unlabelled) dataset, segmented.
    input:
        data=lambda w: data_h5(w.dataset, w.res),
        masks=lambda w: f"{R}/{w.dataset}-{w.res}/factorized/seg/{w.dataset}-"
        f"{config['figures']['real_segmentation']['split']}.h5",
    output:
        png=report(
            f"{FIG}/real-segmentation-{{dataset}}-{{res}}.png",
            caption="../report/real-segmentation.rst",
            category="Figures",
        ),
        pdf=f"{FIG}/real-segmentation-{{dataset}}-{{res}}.pdf",
    log:
        f"{R}/logs/figure/real-segmentation-{{dataset}}-{{res}}.log",
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
        samples=f"{R}/{{dataset}}-{{res}}/hierarchical/samples-figure.h5",
    output:
        png=report(
            f"{FIG}/hierarchy-{{dataset}}-{{res}}.png",
            caption="../report/hierarchy.rst",
            category="Figures",
        ),
        pdf=f"{FIG}/hierarchy-{{dataset}}-{{res}}.pdf",
    log:
        f"{R}/logs/figure/hierarchy-{{dataset}}-{{res}}.log",
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    params:
        k2=lambda w: run_config(exp_name(w), "hierarchical")["model"]["sub_regions"],
    shell:
        "fdiff figure hierarchy --samples {input.samples:q} --sub-regions {params.k2}"
        " --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule figure_samples:
    # generation: images with their generated masks (Figs. 7-8); mask-channels: the K soft
    # masks (Fig. 9); trajectory: images and masks along the reverse process (Fig. 10);
    # class-grid: the class-conditional ImageNet grid (Fig. 11).
    input:
        samples=f"{R}/{{dataset}}-{{res}}/factorized/samples-figure.h5",
    output:
        png=report(
            f"{FIG}/{{kind}}-{{dataset}}-{{res}}.png",
            caption="../report/samples.rst",
            category="Figures",
        ),
        pdf=f"{FIG}/{{kind}}-{{dataset}}-{{res}}.pdf",
    log:
        f"{R}/logs/figure/{{kind}}-{{dataset}}-{{res}}.log",
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
        f"{R}/{{dataset}}-{{res}}/factorized/tsweep-{{data}}.csv",
    output:
        png=report(
            f"{FIG}/tsweep-{{dataset}}-{{res}}-{{data}}.png",
            caption="../report/tsweep.rst",
            category="Figures",
        ),
        pdf=f"{FIG}/tsweep-{{dataset}}-{{res}}-{{data}}.pdf",
    log:
        f"{R}/logs/figure/tsweep-{{dataset}}-{{res}}-{{data}}.log",
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    shell:
        "fdiff figure tsweep --csv {input:q} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


rule interpolate:
    # Fig. 12: two real images noised to t, interpolated in that latent, denoised, with masks.
    input:
        model=f"{R}/{{dataset}}-{{res}}/factorized/model.pt",
        data=lambda w: data_h5(w.dataset, w.res),
    output:
        f"{R}/{{dataset}}-{{res}}/factorized/interpolation.h5",
    log:
        f"{R}/logs/interpolate/{{dataset}}-{{res}}.log",
    benchmark:
        f"{R}/benchmarks/interpolate/{{dataset}}-{{res}}.tsv"
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
        f"{R}/{{dataset}}-{{res}}/factorized/interpolation.h5",
    output:
        png=report(
            f"{FIG}/interpolation-{{dataset}}-{{res}}.png",
            caption="../report/interpolation.rst",
            category="Figures",
        ),
        pdf=f"{FIG}/interpolation-{{dataset}}-{{res}}.pdf",
    log:
        f"{R}/logs/figure/interpolation-{{dataset}}-{{res}}.log",
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
        model_files(),
    output:
        png=report(
            f"{FIG}/loss-curves.png",
            caption="../report/loss-curves.rst",
            category="Figures",
        ),
        pdf=f"{FIG}/loss-curves.pdf",
    log:
        f"{R}/logs/figure/loss-curves.log",
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    params:
        runs=input_args(loss_pairs(), "--run"),
    shell:
        "fdiff figure loss {params.runs} --out {output.png:q} {output.pdf:q} > {log:q} 2>&1"


# fdiff status reads a few small files: on the login node, not through the queue
localrules:
    plan_status,


rule plan_status:
    # Where every run stood once the last model was written (`fdiff status`): steps, final
    # loss, attempts and preemptions of each training, shards, tables.
    input:
        model_files(),
    output:
        report(
            f"{R}/status.txt",
            caption="../report/status.rst",
            category="Training",
        ),
    log:
        f"{R}/logs/status.log",
    conda:
        "../../envs/plot.yaml"
    resources:
        **FIG_RESOURCES,
    params:
        results=lambda w, output: os.path.dirname(output[0]),  # RESULTS/status.txt
    shell:
        "fdiff status {params.results:q} > {output:q} 2> {log:q}"
