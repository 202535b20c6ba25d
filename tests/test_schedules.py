"""One cosine helper (issue 30) gives the rates the three hand-written schedules gave, bit for bit."""
import math

from vlcp.models.schedules import cosine_factor


def test_cosine_factor_is_the_old_expressions_exactly():
    for total in (1, 7, 300, 1500):
        for step in range(0, total + 1, max(1, total // 97)):
            lr = 1e-3
            assert lr * cosine_factor(step, total) == lr * 0.5 * (1 + math.cos(math.pi * step / total))  # VAE
            p = step / total
            assert 0.37 * cosine_factor(p, 1) == 0.37 * 0.5 * (1 + math.cos(math.pi * p))  # UNet after warm-up
            assert cosine_factor(step, total, span=2) == 0.5 * (1.0 + math.cos(math.pi * step / total / 2))  # RDED
    assert cosine_factor(0, 10) == 1 and abs(cosine_factor(10, 10)) < 1e-15 and cosine_factor(10, 10, 2) == 0.5
