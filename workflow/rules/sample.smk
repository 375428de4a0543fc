# Generation: images (and, for the factorized archs, their masks) from each trained model:
# the shards of the sample set (temporary; a shard's .parts folder holds its finished batches
# while it runs), the gathered set (FID, consistency), the figures' samples (soft masks,
# trajectory). Paths: fdiff/plan/paths.py.

from pathlib import Path


rule sample_shard:
    # One shard of the sample set of FID and mask consistency (Tables 5 and 6): images
    # [shard x shard_size, ...), each batch seeded by its global index, so that the shards
    # together are one run. Finished batches are kept in the .parts folder: a job stopped by
    # its time limit resumes there when `retries` reruns it.
    input:
        model=L.model(),
    output:
        temp(L.shard()),
    log:
        L.log("sample_shard", "{dataset}-{res}-{arch}-{shard}"),
    benchmark:
        L.benchmark("sample_shard", "{dataset}-{res}-{arch}-{shard}")
    wildcard_constraints:
        shard="[0-9]+",
    retries: 3
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        **sampling_resources(
            lambda w: shard_range(w)[1], lambda w: experiment(w)["sample"]["steps"]
        ),
    params:
        s=lambda w: experiment(w)["sample"],
        start=lambda w: shard_range(w)[0],
        num=lambda w: shard_range(w)[1],
        parts=lambda w, output: str(Path(output[0]).with_suffix(".parts")),
    shell:
        "OMP_NUM_THREADS={threads} fdiff sample --model {input.model:q} --num {params.num}"
        " --start {params.start} --sampler {params.s[sampler]} --steps {params.s[steps]}"
        " --batch-size {params.s[batch_size]} --seed {params.s[seed]}"
        " --parts {params.parts:q} --out {output:q} > {log:q} 2>&1"


rule sample:
    # The sample set: its shards gathered in index order (FID and consistency read it).
    input:
        shard_files,
    output:
        L.samples(),
    log:
        L.log("sample", "{dataset}-{res}-{arch}"),
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        num=lambda w: experiment(w)["sample"]["num"],
    shell:
        "fdiff sample-gather --shards {input:q} --num {params.num} --out {output:q}"
        " > {log:q} 2>&1"


rule sample_figure:
    # A few samples with soft masks and the reverse trajectory (Figs. 7-11).
    input:
        model=L.model(),
    output:
        L.samples_figure(),
    log:
        L.log("sample_figure", "{dataset}-{res}-{arch}"),
    benchmark:
        L.benchmark("sample_figure", "{dataset}-{res}-{arch}")
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        # soft masks and the trajectory's frames of each image
        **sampling_resources(
            lambda w: experiment(w)["figure_samples"]["num"],
            lambda w: experiment(w)["figure_samples"]["steps"],
            frames=lambda w: len(experiment(w)["figure_samples"]["trajectory"]) + 1,
            soft=True,
        ),
    params:
        s=lambda w: experiment(w)["figure_samples"],
        traj=lambda w: " ".join(map(str, experiment(w)["figure_samples"]["trajectory"])),
        classes=figure_sample_classes,
    shell:
        "OMP_NUM_THREADS={threads} fdiff sample --model {input.model:q} --num {params.s[num]}"
        " --sampler {params.s[sampler]} --steps {params.s[steps]} --seed {params.s[seed]}"
        " {params.classes} --soft-masks --trajectory {params.traj}"
        " --out {output:q} > {log:q} 2>&1"
