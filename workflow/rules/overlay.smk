# The check of the --configfile overlay, made before the config is read (Snakefile).


def check_overlay(paths):
    """--configfile replaces config/config.yaml instead of adding to it: a set of files that
    names no experiments (e.g. an overlay of `results:` and `raw:`) would silently plan none
    of the paper's, so it is refused with what to do instead."""
    import yaml

    for path in paths:
        with open(path) as f:
            if "experiments" in (yaml.safe_load(f) or {}):
                return
    names = " ".join(map(str, paths))
    raise ValueError(
        f"--configfile {names}: sets no `experiments`; a --configfile replaces "
        "config/config.yaml instead of adding to it, so every experiment would be dropped. "
        f"Pass both (`--configfile config/config.yaml {names}`: later files win) or set "
        "single keys with `--config results=DIR raw=DIR`"
    )
