"""The Gaussian noise process of Ho et al. with the linear schedule (Sec. 3.1, 3.3).

Timesteps are indices i in [0, T-1]; index i is the paper's t = i + 1, so
``alphas_cumprod[i]`` is alpha-bar_t. The schedule is computed in float64 and stored as buffers;
:func:`extract` casts the values to the dtype of the tensor they scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fdiff.config import DiffusionConfig


def linear_beta_schedule(timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """beta_1..beta_T spaced linearly (Ho et al.): [T] float64."""
    return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)


def extract(a: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Gather a[t] for a batch of indices t [N] and shape it [N x 1 x 1 x 1] like ``like``."""
    out = a.to(like.device)[t].to(like.dtype)
    return out.reshape(t.shape[0], *([1] * (like.ndim - 1)))


class GaussianDiffusion(nn.Module):
    """The schedule, q_sample (Eq. 1), the loss (Eq. 8) and the reverse steps (Eq. 9-10, DDIM).

    The samplers (:mod:`fdiff.diffusion.samplers`) and the interpolation only loop; every formula of
    the noise process lives here.
    """

    def __init__(self, cfg: DiffusionConfig):
        super().__init__()
        self.cfg = cfg
        self.num_timesteps = cfg.timesteps
        betas = linear_beta_schedule(cfg.timesteps, cfg.beta_start, cfg.beta_end)
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        # sigma_t^2 of Eq. 9-10: the posterior variance beta-tilde_t of Ho et al.
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        buffers = {
            "betas": betas,
            "alphas": alphas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
            "posterior_variance": posterior_variance,
            # log of the clipped variance: the first entry is 0, use the second in its place
            "posterior_log_variance_clipped": torch.log(
                torch.cat([posterior_variance[1:2], posterior_variance[1:]])
            ),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Eq. 1: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps. All tensors [N x C x H x W]."""
        return (
            extract(self.sqrt_alphas_cumprod, t, x0) * x0
            + extract(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise
        )

    def sample_timesteps(self, n: int, device, generator: torch.Generator | None = None):
        """t ~ Uniform{1..T} as indices [N] (Algorithm 1)."""
        return torch.randint(0, self.num_timesteps, (n,), device=device, generator=generator)

    def loss(
        self,
        model: nn.Module,
        x0: torch.Tensor,
        t: torch.Tensor,
        noise: torch.Tensor,
        y: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Eq. 8: L = E || eps - eps_theta(x_t, t) ||^2, averaged over pixels and the batch."""
        x_t = self.q_sample(x0, t, noise)
        eps = model(x_t, t, y).eps
        return F.mse_loss(eps.float(), noise.float())

    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), the inverse of Eq. 1."""
        return (x_t - extract(self.sqrt_one_minus_alphas_cumprod, t, x_t) * eps) / extract(
            self.sqrt_alphas_cumprod, t, x_t
        )

    def eps_from_x0(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """eps = (x_t - sqrt(abar_t) x_0) / sqrt(1 - abar_t), Eq. 1 solved for the noise."""
        return (x_t - extract(self.sqrt_alphas_cumprod, t, x_t) * x0) / extract(
            self.sqrt_one_minus_alphas_cumprod, t, x_t
        )

    def p_mean(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Eq. 9 without noise: 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - abar_t) eps).

        (The paper's Eq. 9 prints (1 - alpha_t) / sqrt(1 - alpha_t); Ho et al.'s Eq. 11, which it
        restates, has beta_t / sqrt(1 - alpha-bar_t).)
        """
        coef = extract(self.betas, t, x_t) / extract(self.sqrt_one_minus_alphas_cumprod, t, x_t)
        return (x_t - coef * eps) / extract(self.alphas, t, x_t).sqrt()

    def p_sigma(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """sigma_t of Eq. 9 (the posterior standard deviation), [N x 1 x 1 x 1]."""
        return (0.5 * extract(self.posterior_log_variance_clipped, t, like)).exp()

    def ddpm_step(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor, z: torch.Tensor):
        """Eq. 9: x_{t-1} = mean(x_t, eps) + sigma_t z, with z of Eq. 10 (zeros when t = 1).

        x_t, eps [N x C x H x W]; z broadcasts to them ([1 x C x H x W] shares one draw).
        """
        return self.p_mean(x_t, t, eps) + self.p_sigma(t, x_t) * z

    def ddim_step(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        eps: torch.Tensor,
        t_prev: torch.Tensor | None,
        eta: float = 0.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One DDIM update (Song et al., Eq. 12) from index t to t_prev (None: to x_0).

        x0_hat = predict_x0 clipped to [-1, 1] and eps re-derived from it, so the update stays
        consistent with the clip; returns (x_prev without the eta noise, sigma [N x 1 x 1 x 1]):
        x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps (+ sigma z).
        """
        x0 = self.predict_x0(x_t, t, eps).clamp(-1, 1)
        eps = self.eps_from_x0(x_t, t, x0)
        abar = extract(self.alphas_cumprod, t, x_t)
        abar_prev = (
            torch.ones_like(abar) if t_prev is None else extract(self.alphas_cumprod, t_prev, x_t)
        )
        sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).sqrt()
        x_prev = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * eps
        return x_prev, sigma
