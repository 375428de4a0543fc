# Training: one run per experiment and arch, in RUN_DIR = RESULTS/{dataset}-{res}/{arch}.
#
# Only RUN_DIR/model.pt (written last by `fdiff train`) is an output, so a failed or killed job
# loses nothing: RUN_DIR/checkpoints stays, and the next attempt resumes from it. A run whose
# config or data changed, or that had finished (Snakemake reruns it only when asked to or when
# an input changed), starts from scratch instead of resuming.
#
# Preemption or failure is told by what fdiff wrote, never by the launcher's exit status
# (torchrun and srun exit 1 for both): on SIGTERM/SIGUSR1 all ranks stop at one step, rank 0
# writes the checkpoint and then RUN_DIR/.preempted holding its step. A signal after the last
# step stops nothing: fdiff writes model.pt all the same (with the marker standing while it
# writes), so an attempt that ends with model.pt is complete whatever the launcher's status, and
# one killed during that final write left the marker and a checkpoint at the last step: its
# retry only writes model.pt. An attempt that ends with the marker is retried (at most
# launch.retries times); so is one whose shell got a signal but finds no marker (killed before
# fdiff could checkpoint: the retry resumes from the last checkpoint). One that ends otherwise
# with a non-zero status writes RUN_DIR/.failed, and the next attempt refuses to run. The shell
# traps SIGTERM/SIGINT/SIGUSR1: when SLURM signals every process of the step, it waits for
# training to checkpoint instead of dying first. RUN_DIR/attempts.log keeps one line per
# attempt (host, verdict, step).
#
# Several nodes (launch.nodes > 1): the SLURM executor's `mpi` resource makes the job step run
# this shell once, on the first node, where `srun` starts one torchrun per node
# (docs/workflow.md, "Training launch").


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
    wildcard_constraints:
        arch="|".join(ARCH_VARIANTS),  # the shipped model is installed, not trained
    # the longest jobs first, so that the short ones fill the cores beside the last trainings
    priority: 1
    retries: TRAIN_RETRIES
    conda:
        "../../envs/torch.yaml"
    threads: train_threads
    resources:
        gpu=train_gpu_resource("gpu"),
        gpu_model=train_gpu_resource("gpu_model"),
        gres=train_gpu_resource("gres"),
        nodes=lambda w: launch(w)["nodes"],
        cpus_per_gpu=train_cpus_per_gpu,
        mem_mb=lambda w: launch(w)["mem_mb"],
        runtime=lambda w: launch(w)["runtime"],
        attempt=lambda w, attempt: attempt,
        # several nodes: one task per node, started by the srun of train_launcher
        mpi=multinode(lambda w: "srun"),
        tasks=multinode(lambda w: launch(w)["nodes"]),
        tasks_per_gpu=multinode(lambda w: 0),
    params:
        rundir=lambda w: run_dir(exp_name(w), w.arch),
        launcher=train_launcher,
        retries=lambda w: launch(w)["retries"],
        omp=lambda w: (
            launch(w)["threads"]
            if launch(w)["gpus_per_node"] == 0
            else launch(w)["cpus_per_gpu"]
        ),
    shell:
        """
        rd={params.rundir:q}
        n={resources.attempt}
        mkdir -p "$rd"
        say() {{ echo "train: attempt $n: $*" >>{log:q}; }}
        fp="$(sha256sum <{input.config:q} | cut -c1-64) $(stat -L -c '%s %Y' {input.data:q})"
        if [ "$n" -eq 1 ]; then
            rm -f "$rd/.failed"
        elif [ -e "$rd/.failed" ]; then
            say "the previous attempt failed (exit status $(cat "$rd/.failed"), no" \
                "preemption marker); not retrying"
            exit 1
        elif [ "$n" -gt $(({params.retries} + 1)) ]; then
            say "launch.retries = {params.retries} resubmissions used up; not retrying"
            exit 1
        elif [ -e "$rd/.preempted" ]; then
            say "the previous attempt was preempted at step $(cat "$rd/.preempted"); resuming"
        else
            say "the previous attempt left no preemption marker (killed, or signalled before" \
                "fdiff could checkpoint); resuming from the last checkpoint"
        fi
        if [ -e "$rd/.complete" ] || [ "$(cat "$rd/.inputs" 2>/dev/null)" != "$fp" ]; then
            rm -rf "$rd/checkpoints" "$rd/metrics.csv" "$rd/config.yaml" "$rd/.complete"
        fi
        rm -f "$rd/.preempted" {output:q}
        echo "$fp" >"$rd/.inputs"
        host="${{SLURMD_NODENAME:-$(hostname)}}"
        say "on $host (SLURM job ${{SLURM_JOB_ID:-none}})"
        # a signal to this shell waits until training has checkpointed and exited
        sig=0
        trap 'sig=1; say "signal received; waiting for training to checkpoint"' TERM INT USR1
        rc=0
        OMP_NUM_THREADS={params.omp} {params.launcher} train --config {input.config:q} \
            --data {input.data:q} --out "$rd" >>{log:q} 2>&1 || rc=$?
        trap - TERM INT USR1
        if [ "$rc" -ne 0 ] && [ -e {output:q} ]; then
            say "model.pt written: training finished; launcher exit status $rc after the" \
                "final write (a signal after the last step: torchrun exits 1) ignored"
            rc=0
        fi
        if [ "$rc" -eq 0 ]; then
            touch "$rd/.complete"
            verdict="complete step=done"
        elif [ -e "$rd/.preempted" ]; then
            verdict="preempted step=$(cat "$rd/.preempted")"
            say "preempted: checkpoint at step $(cat "$rd/.preempted") saved on the signal" \
                "(launcher exit status $rc); the retry resumes"
            rc=75
        elif [ "$sig" -eq 1 ]; then
            verdict="preempted step=none"
            say "signalled, but training left no marker (killed before it could checkpoint;" \
                "launcher exit status $rc); the retry resumes from the last checkpoint"
            rc=75
        else
            echo "$rc" >"$rd/.failed"
            verdict="failed step=exit-$rc"
        fi
        echo "attempt=$n host=$host job=${{SLURM_JOB_ID:-none}} $verdict" >>"$rd/attempts.log"
        cp {log:q} {log:q}.attempt-$n # Snakemake empties the log before the next attempt
        exit "$rc"
        """


rule install_pretrained:
    # The experiment's shipped or released model (config key `pretrained`): its sha256 checked,
    # loaded weights-only, of the experiment's resolution; evaluated like a trained model.
    input:
        lambda w: experiment(w)["pretrained"]["file"],
    output:
        f"{R}/{{dataset}}-{{res}}/{PRETRAINED}/model.pt",
    log:
        f"{R}/logs/install_pretrained/{{dataset}}-{{res}}.log",
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        sha256=lambda w: experiment(w)["pretrained"]["sha256"],
    shell:
        "fdiff install-model --file {input:q} --sha256 {params.sha256} --arch factorized"
        " --resolution {wildcards.res} --out {output:q} > {log:q} 2>&1"
