#!/usr/bin/env bash
# Makes `snakemake --profile slurm` find this repository's SLURM profile from anywhere:
# links ${XDG_CONFIG_HOME:-~/.config}/snakemake/slurm -> workflow/profiles/slurm (Snakemake
# looks up a profile name in the current directory, then in ~/.config/snakemake and
# /etc/xdg/snakemake). Edits to workflow/profiles/slurm/config.yaml take effect at once.
set -euo pipefail
src="$(cd "$(dirname "$0")/slurm" && pwd)"
dir="${XDG_CONFIG_HOME:-$HOME/.config}/snakemake"
mkdir -p "$dir"
if [ -e "$dir/slurm" ] && [ ! -L "$dir/slurm" ]; then
  echo "$dir/slurm exists and is not a link; move it away first" >&2
  exit 1
fi
ln -sfn "$src" "$dir/slurm"
echo "snakemake --profile slurm -> $src"
