"""Knowledge distillation (Hinton, Vinyals & Dean 2015).

    loss = alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(s, labels)

s and t are the student's and teacher's logits, T the temperature. The T^2
keeps the soft term's gradients on the scale of the hard term's as T grows
(the soft gradients scale as 1/T^2; Hinton et al. section 2). A plain
function of logits, so it drops into any training loop; `Distiller` pairs it
with a frozen teacher for the default loop.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, *,
                      temperature: float = 4.0, alpha: float = 0.7) -> torch.Tensor:
    t = float(temperature)
    soft = F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits.detach() / t, dim=-1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * t * t * soft + (1.0 - alpha) * hard


class Distiller:
    """loss(student, x, y) with a frozen teacher in eval mode (by default the uncompressed model)."""

    def __init__(self, teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.7):
        self.teacher = teacher.eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.temperature, self.alpha = temperature, alpha

    def __call__(self, student_logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t = self.teacher(x)
        return distillation_loss(student_logits, t, y, temperature=self.temperature, alpha=self.alpha)
