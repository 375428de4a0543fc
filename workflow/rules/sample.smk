# Generation: images (and, for the factorized archs, their masks) from each trained model.


rule sample:
    # The sample set of FID and mask consistency (Tables 5 and 6).
    input:
        model=f"{R}/{{dataset}}-{{res}}/{{arch}}/model.pt",
    output:
        f"{R}/{{dataset}}-{{res}}/{{arch}}/samples.h5",
    log:
        f"{R}/logs/sample/{{dataset}}-{{res}}-{{arch}}.log",
    benchmark:
        f"{R}/benchmarks/sample/{{dataset}}-{{res}}-{{arch}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        gpu=GPU_RES["gpu"],
        cpus_per_gpu=GPU_RES["cpus_per_gpu"],
        mem_mb=GPU_RES["mem_mb"],
        runtime=GPU_RES["runtime"],
    params:
        s=lambda w: experiment(w)["sample"],
    shell:
        "OMP_NUM_THREADS={threads} fdiff sample --model {input.model:q} --num {params.s[num]}"
        " --sampler {params.s[sampler]} --steps {params.s[steps]}"
        " --batch-size {params.s[batch_size]} --seed {params.s[seed]}"
        " --out {output:q} > {log:q} 2>&1"


rule sample_figure:
    # A few samples with soft masks and the reverse trajectory (Figs. 7-11).
    input:
        model=f"{R}/{{dataset}}-{{res}}/{{arch}}/model.pt",
    output:
        f"{R}/{{dataset}}-{{res}}/{{arch}}/samples-figure.h5",
    log:
        f"{R}/logs/sample_figure/{{dataset}}-{{res}}-{{arch}}.log",
    benchmark:
        f"{R}/benchmarks/sample_figure/{{dataset}}-{{res}}-{{arch}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: GPU_RES["threads"]
    resources:
        gpu=GPU_RES["gpu"],
        cpus_per_gpu=GPU_RES["cpus_per_gpu"],
        mem_mb=GPU_RES["mem_mb"],
        runtime=GPU_RES["runtime"],
    params:
        s=lambda w: experiment(w)["figure_samples"],
        traj=lambda w: " ".join(map(str, experiment(w)["figure_samples"]["trajectory"])),
        classes=figure_sample_classes,
    shell:
        "OMP_NUM_THREADS={threads} fdiff sample --model {input.model:q} --num {params.s[num]}"
        " --sampler {params.s[sampler]} --steps {params.s[steps]} --seed {params.s[seed]}"
        " {params.classes} --soft-masks --trajectory {params.traj}"
        " --out {output:q} > {log:q} 2>&1"
