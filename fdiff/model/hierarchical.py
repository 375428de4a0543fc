"""The appendix's hierarchical factorization (Fig. 15): a second level of masks refines each
first-level region.

Level 1 is the paper's mask generator: K1 softmax masks m1 (Eq. 4). Level 2 is a second
decoder-shaped generator on the same h_mid and h_enc with K1 x K2 logits; a softmax over each
group of K2 gives m2_{j|i}, the split of region i into K2 sub-regions. The joint masks
m_{i,j} = m1_i * m2_{j|i} (K1 K2 channels, summing to 1 at every pixel) replace m in Eq. 6-7:
the weight-shared decoder runs once per sub-region and the predictions are combined with the
joint masks. Everything else (training, samplers, segmentation) is the factorized model's,
since the joint masks come out of the same ``mask_probs`` hook.

A model option: ``model.sub_regions: K2`` (>= 2) in a run config makes ``build_model`` (and so
``fdiff train``, ``load_model``, ``sample`` and ``segment``) use this class.
"""

from __future__ import annotations

import torch

from fdiff.config import ModelConfig
from fdiff.model.factorized import FactorizedUNet
from fdiff.model.halves import DecoderHalf


class HierarchicalFactorizedUNet(FactorizedUNet):
    """Two levels of masks: ``cfg.num_regions`` = K1 regions, each split into ``sub_regions``.

    ``forward`` returns ``ModelOutput(eps, masks)`` with the joint masks [N x K1*K2 x H x W]
    (sub-region i*K2 + j), so it drops into the samplers and ``segment`` unchanged.
    """

    def __init__(self, cfg: ModelConfig, sub_regions: int = 2):
        if sub_regions < 2:
            raise ValueError(f"sub_regions = {sub_regions}: expected >= 2")
        self.level1_regions, self.sub_regions = cfg.num_regions, sub_regions
        # The decoder(s) see the K1*K2 joint masks; the mask generators are built by the hook.
        super().__init__(cfg, num_regions=cfg.num_regions * sub_regions)

    def build_mask_generator(self, cfg: ModelConfig, emb: int, skips: list[int]) -> None:
        """Level 1 predicts K1 masks (Eq. 4), level 2 the K1*K2 sub-region logits."""
        k1, k = self.level1_regions, self.num_regions
        self.mask_generator = DecoderHalf(cfg, emb, skips, k1, zero_head=False)
        self.mask_generator2 = DecoderHalf(cfg, emb, skips, k, zero_head=False)

    def mask_levels(self, h_mid, h_enc, emb) -> tuple[torch.Tensor, torch.Tensor]:
        """(m1 [N x K1 x H x W], joint masks [N x K1*K2 x H x W]), float32."""
        m1 = torch.softmax(self.mask_generator(h_mid, h_enc, emb).float(), dim=1)
        logits = self.mask_generator2(h_mid, h_enc, emb).float()
        n, _, h, w = logits.shape
        m2 = torch.softmax(logits.view(n, self.level1_regions, self.sub_regions, h, w), dim=2)
        joint = (m1.unsqueeze(2) * m2).view(n, self.level1_regions * self.sub_regions, h, w)
        return m1, joint

    def mask_probs(self, h_mid, h_enc, emb) -> torch.Tensor:
        return self.mask_levels(h_mid, h_enc, emb)[1]

    def predict_mask_levels(self, x, t, y=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Both levels for segmentation figures: (m1, joint masks)."""
        emb, h_enc, h_mid = self.encode(x, t, y)
        return self.mask_levels(h_mid, h_enc, emb)
