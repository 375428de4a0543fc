"""Training (Algorithm 1): the train state, the loop, checkpoints, the process group, the run
directory's state files and the attempt that the train rule runs."""
