"""The noise process (Ho et al.; Sec. 3.1, 3.3) and the samplers that reverse it (Algorithm 2,
DDIM, real-image segmentation of Sec. 3.4)."""
