"""Named model configurations: the paper's two resolutions and small ones for demo and tests.

Paper, Sec. 4 "Implementation Details": C = 128; at 64 px four stages [C, 2C, 3C, 4C] with 3 res
blocks each; at 128 px five stages [C, C, 2C, 3C, 4C] with 2 res blocks each; K = 3. The
attention resolutions (16 and 8 px), 4 heads and scale-shift norm follow openai/guided-diffusion,
whose U-Net the paper builds on; the paper does not state them.
"""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "paper64": {
        "resolution": 64,
        "base_channels": 128,
        "channel_mult": (1, 2, 3, 4),
        "num_res_blocks": 3,
        "attention_resolutions": (16, 8),
        "num_heads": 4,
        "dropout": 0.1,
    },
    "paper128": {
        "resolution": 128,
        "base_channels": 128,
        "channel_mult": (1, 1, 2, 3, 4),
        "num_res_blocks": 2,
        "attention_resolutions": (16, 8),
        "num_heads": 4,
        "dropout": 0.1,
    },
    # The embedded demo: 16 px synthetic shapes on 2 CPU cores, the configuration in which
    # masks emerge within about 5 minutes of training (docs/experiments.md).
    "demo": {
        "resolution": 16,
        "base_channels": 32,
        "channel_mult": (1, 2),
        "num_res_blocks": 1,
        "attention_resolutions": (8,),
        "num_heads": 4,
        "dropout": 0.0,
    },
    # Unit tests: as small as the structure allows.
    "tiny": {
        "resolution": 16,
        "base_channels": 16,
        "channel_mult": (1, 2),
        "num_res_blocks": 1,
        "attention_resolutions": (8,),
        "num_heads": 2,
        "dropout": 0.0,
    },
}
