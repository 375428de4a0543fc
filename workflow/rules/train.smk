# Training: one run per experiment and arch, in RUN_DIR = RESULTS/{dataset}-{res}/{arch}.
#
# Only RUN_DIR/model.pt (written last by `fdiff train`) is an output, so a failed or killed job
# loses nothing: RUN_DIR/checkpoints stays, and the next attempt resumes from it. A job stopped
# by the time limit or preempted (SIGTERM/SIGUSR1: checkpoint, exit 75) is resubmitted through
# `retries`. A run whose config or data changed, or that had finished (Snakemake reruns it
# only when asked to or when an input changed), starts from scratch instead of resuming.


localrules:
    run_config,


rule run_config:
    # The run config as a file; the params rerun trigger rewrites it (and so retrains only
    # this arch) when the experiment's entry in the config changes.
    output:
        f"{R}/{{dataset}}-{{res}}/{{arch}}/run.yaml",
    log:
        f"{R}/logs/run_config/{{dataset}}-{{res}}-{{arch}}.log",
    conda:
        "../../envs/torch.yaml"
    params:
        cfg=run_config_json,
    shell:
        "printf '%s\\n' {params.cfg:q} > {output:q} 2> {log:q}"


rule train:
    input:
        config=f"{R}/{{dataset}}-{{res}}/{{arch}}/run.yaml",
        data=lambda w: data_h5(w.dataset, w.res),
    output:
        f"{R}/{{dataset}}-{{res}}/{{arch}}/model.pt",
    log:
        f"{R}/logs/train/{{dataset}}-{{res}}-{{arch}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{dataset}}-{{res}}-{{arch}}.tsv"
    retries: 20
    conda:
        "../../envs/torch.yaml"
    threads: train_threads
    resources:
        gpu=train_gpus,
        nodes=lambda w: launch(w)["nodes"],
        cpus_per_gpu=train_cpus_per_gpu,
        mem_mb=lambda w: launch(w)["mem_mb"],
        runtime=lambda w: launch(w)["runtime"],
        attempt=lambda w, attempt: attempt,
    params:
        rundir=lambda w: run_dir(exp_name(w), w.arch),
        launcher=train_launcher,
        omp=lambda w: (
            launch(w)["threads"]
            if launch(w)["gpus_per_node"] == 0
            else launch(w)["cpus_per_gpu"]
        ),
    shell:
        """
        rd={params.rundir:q}
        mkdir -p "$rd"
        fp="$(sha256sum <{input.config:q} | cut -c1-64) $(stat -L -c '%s %Y' {input.data:q})"
        if [ {resources.attempt} -eq 1 ]; then
            rm -f "$rd/.failed"
        elif [ -e "$rd/.failed" ]; then
            echo "train: attempt {resources.attempt}: the previous attempt failed with" \
                "exit code $(cat "$rd/.failed") (not a preemption); not retrying" >>{log:q}
            exit 1
        fi
        if [ -e "$rd/.complete" ] || [ "$(cat "$rd/.inputs" 2>/dev/null)" != "$fp" ]; then
            rm -rf "$rd/checkpoints" "$rd/metrics.csv" "$rd/config.yaml" "$rd/.complete"
        fi
        echo "$fp" >"$rd/.inputs"
        echo "train: attempt {resources.attempt} on $(hostname)" >>{log:q}
        rc=0
        OMP_NUM_THREADS={params.omp} {params.launcher} train --config {input.config:q} \
            --data {input.data:q} --out "$rd" >>{log:q} 2>&1 || rc=$?
        if [ "$rc" -eq 0 ]; then
            touch "$rd/.complete"
        elif [ "$rc" -eq 75 ]; then
            echo "train: preempted (exit 75), checkpoint saved; the retry resumes" >>{log:q}
        else
            echo "$rc" >"$rd/.failed"
        fi
        exit "$rc"
        """
