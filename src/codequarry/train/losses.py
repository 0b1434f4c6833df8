"""Losses by config: MNRL, (Cached)GISTEmbed with a guide model, optionally inside MatryoshkaLoss.

All take a batch of (query, positive) and use the other positives of the
batch as negatives. GIST drops in-batch negatives the guide scores above the
positive (a second line of defence against false negatives, next to the
call-graph sampler). On a CPU-only, offline machine the only guide there is
is the base MiniLM itself — the frozen starting point of the student.
"""

from __future__ import annotations

from codequarry.embed.st_backend import embedding_dim


def load_guide(source: str):
    from codequarry.train.lora import load_model

    guide = load_model(source)
    guide.eval()
    for p in guide.parameters():
        p.requires_grad_(False)
    return guide


def build_loss(cfg, model, *, guide=None):
    """cfg: LossConfig. Returns the loss module (call it with [query_features, positive_features], labels)."""
    from sentence_transformers import losses

    name = cfg.name
    if name == "mnrl":
        inner = losses.MultipleNegativesRankingLoss(model, scale=cfg.scale)
    elif name == "cached_mnrl":
        inner = losses.CachedMultipleNegativesRankingLoss(model, scale=cfg.scale, mini_batch_size=cfg.mini_batch_size)
    elif name in ("gist", "cached_gist"):
        if guide is None:
            guide = load_guide(cfg.guide)
        if name == "gist":
            inner = losses.GISTEmbedLoss(model, guide, temperature=cfg.temperature)
        else:
            inner = losses.CachedGISTEmbedLoss(model, guide, temperature=cfg.temperature,
                                               mini_batch_size=cfg.mini_batch_size)
    else:
        raise ValueError(f"unknown loss '{name}'")
    if not cfg.matryoshka:
        return inner
    full = embedding_dim(model)
    dims = sorted({int(d) for d in cfg.matryoshka_dims if 0 < int(d) <= full} | {full}, reverse=True)
    return losses.MatryoshkaLoss(model, inner, matryoshka_dims=dims)
