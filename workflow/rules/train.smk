# Training: one run per experiment and arch, in RUN_DIR (fdiff/plan/paths.py).
#
# Only RUN_DIR/model.pt (written last by `fdiff train`) is an output, so a failed or killed job
# loses nothing: RUN_DIR/checkpoints stays, and the next attempt resumes from it.
#
# Each attempt is `fdiff train-attempt` (fdiff/training/attempt.py): it runs the launcher, tells
# complete / preempted at step N / signalled / failed from what training wrote (never from the
# launcher's exit status), enforces launch.retries (counted in RUN_DIR/attempts.log, so that
# SLURM requeues count too), reinstates model.pt from the final checkpoint of a finished run on
# the same inputs, and moves a run whose inputs changed aside (RUN_DIR/superseded/). The shell
# traps the stop signals because SLURM signals every process of the job: it waits for the
# attempt, which waits for training to checkpoint.
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
        L.run_yaml(),
    log:
        L.log("run_config", "{dataset}-{res}-{arch}"),
    conda:
        "../../envs/torch.yaml"
    params:
        cfg=run_config_json,
    shell:
        "printf '%s\\n' {params.cfg:q} > {output:q} 2> {log:q}"


rule train:
    input:
        config=L.run_yaml(),
        data=lambda w: data_h5(w.dataset, w.res),
    output:
        L.model(),
    log:
        L.log("train", "{dataset}-{res}-{arch}"),
    benchmark:
        L.benchmark("train", "{dataset}-{res}-{arch}")
    wildcard_constraints:
        arch="|".join(ARCHS),  # the shipped model is installed, not trained
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
        rundir=rundir,
        # How a run is launched, threaded and retried does not change what it computes: these
        # take the job's resources or threads, which makes them derived params, which are no
        # rerun trigger (docs/workflow.md, "What reruns a job").
        launcher=lambda w, resources: train_launcher(w),
        retries=lambda w, resources: launch(w)["retries"],
        omp=lambda w, threads: (
            threads if launch(w)["gpus_per_node"] == 0 else launch(w)["cpus_per_gpu"]
        ),
    shell:
        "trap : TERM INT USR1; OMP_NUM_THREADS={params.omp} fdiff train-attempt"
        " --config {input.config:q} --data {input.data:q} --out {params.rundir:q}"
        " --retries {params.retries} --attempt {resources.attempt} --log {log:q}"
        " -- {params.launcher} train 2>> {log:q}"


rule install_pretrained:
    # The experiment's shipped or released model (config key `pretrained`): its sha256 checked,
    # loaded weights-only, of the experiment's resolution; evaluated like a trained model.
    input:
        lambda w: experiment(w)["pretrained"]["file"],
    output:
        L.model(arch=PRETRAINED),
    log:
        L.log("install_pretrained", "{dataset}-{res}"),
    conda:
        "../../envs/torch.yaml"
    resources:
        **CPU_RESOURCES,
    params:
        sha256=lambda w: experiment(w)["pretrained"]["sha256"],
    shell:
        "fdiff install-model --file {input:q} --sha256 {params.sha256} --arch factorized"
        " --resolution {wildcards.res} --out {output:q} > {log:q} 2>&1"
