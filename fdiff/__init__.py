"""fdiff: factorized diffusion architectures for unsupervised image generation and segmentation.

A plain PyTorch package (Yuan and Maire), one subpackage per concern:

- :mod:`fdiff.model`      the networks: blocks, U-Net halves, the factorized and hierarchical models
- :mod:`fdiff.diffusion`  the noise process (Eq. 1, Eq. 8) and the samplers (Algorithm 2,
DDIM)
- :mod:`fdiff.training`   Algorithm 1 with EMA, checkpoints, resume and DDP
- :mod:`fdiff.inference`  what a trained model produces: segmentations, samples, interpolations
- :mod:`fdiff.data`, :mod:`fdiff.metrics`, :mod:`fdiff.baselines`, :mod:`fdiff.report`
- :mod:`fdiff.plan`       the paper plan as plain Python (torch-free), :mod:`fdiff.bench.speed`
benchmarks
"""

__version__ = "0.1.0"
