"""fdiff: factorized diffusion architectures for unsupervised image generation and segmentation.

A plain PyTorch package (Yuan and Maire). The network, the noise process and the samplers
live in separate modules:

- :mod:`fdiff.nn`          building blocks (ResBlock, attention, up/down sampling)
- :mod:`fdiff.unet`        the U-Net halves: Encoder, Middle, DecoderHalf
- :mod:`fdiff.models`      the standard DDPM U-Net and the factorized model
- :mod:`fdiff.diffusion`   the linear schedule, q_sample (Eq. 1) and the loss (Eq. 8)
- :mod:`fdiff.samplers`    DDPM (Eq. 9-10, Algorithm 2), DDIM and real-image segmentation
- :mod:`fdiff.train_state` the train state built in one place, its step and checkpoint dict
- :mod:`fdiff.train`       the loop of Algorithm 1: logging, pictures, checkpoints, resume, stop
- :mod:`fdiff.signals`     stop signals recorded (torch-free)
"""

__version__ = "0.1.0"
