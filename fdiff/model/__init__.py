"""The networks (Sec. 3, Fig. 2): building blocks, the U-Net halves, the DDPM U-Net and the
factorized model, the hierarchical model of the appendix, presets, and their size and cost."""
