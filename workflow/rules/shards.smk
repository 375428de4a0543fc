# The shards of each sample set (rules in sample.smk; fdiff.inference.sample_shards).


def _check_shards():
    # A shard must start on a batch boundary of the whole set (fdiff.inference.sample_shards).
    for name, exp in EXPERIMENTS.items():
        s = exp["sample"]
        if s["shard_size"] % s["batch_size"]:
            raise ValueError(
                f"config: experiments.{name}.sample.shard_size {s['shard_size']} must be a "
                f"multiple of its batch_size {s['batch_size']}"
            )


_check_shards()


def shard_files(w):
    """The shard files of one sample set: ceil(num / shard_size) of them."""
    s = experiment(w)["sample"]
    n = -(-s["num"] // s["shard_size"])
    return [f"{R}/{w.dataset}-{w.res}/{w.arch}/samples/shard-{i}.h5" for i in range(n)]


def shard_range(w):
    """(first image, number of images) of shard w.shard."""
    s = experiment(w)["sample"]
    start = int(w.shard) * s["shard_size"]
    return start, min(s["shard_size"], s["num"] - start)
