"""Exact-length generation: prompts of exactly τin random tokens, exactly τout new tokens.

Prompts are random token ids (avoiding BOS/EOS/PAD), all of the same length, so a batch needs no
padding. Decoding is greedy with ``min_new_tokens = max_new_tokens = τout`` and no EOS token, so
every sequence generates exactly τout tokens; the output shape is checked after each call.
"""

from __future__ import annotations

from ..errors import MeasurementError
from .loading import LoadedModel, import_torch


def make_prompts(loaded: LoadedModel, batch_size: int, input_tokens: int, generator):
    """Random prompts of exactly ``input_tokens`` tokens.

    Args:
        loaded: the model (for vocabulary, special ids and device).
        batch_size: number of prompts.
        input_tokens: prompt length τin.
        generator: a seeded ``torch.Generator`` (CPU).

    Returns:
        A ``(batch_size, input_tokens)`` int64 tensor on the model's device.
    """
    torch, _ = import_torch()
    low = max(loaded.special_ids, default=-1) + 1
    if low >= loaded.vocab_size // 2:
        low = 0
    ids = torch.randint(low, loaded.vocab_size, (batch_size, input_tokens),
                        generator=generator, dtype=torch.long)
    return ids.to(loaded.device)


def generate_exact(loaded: LoadedModel, input_ids, output_tokens: int, kv_cache: bool) -> None:
    """Greedily generate exactly ``output_tokens`` new tokens for every prompt.

    Args:
        loaded: the model.
        input_ids: prompts from :func:`make_prompts`.
        output_tokens: τout.
        kv_cache: use the KV cache (``False`` recomputes attention over the whole sequence).

    Raises:
        MeasurementError: the model returned another length, or generation failed.
    """
    torch, transformers = import_torch()
    pad = loaded.special_ids[0] if loaded.special_ids else 0
    config = transformers.GenerationConfig(
        max_new_tokens=output_tokens, min_new_tokens=output_tokens, do_sample=False,
        num_beams=1, use_cache=kv_cache, eos_token_id=None, pad_token_id=pad)
    try:
        with torch.inference_mode():
            out = loaded.model.generate(input_ids=input_ids,
                                        attention_mask=torch.ones_like(input_ids),
                                        generation_config=config)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MeasurementError(f"generation failed for τin={input_ids.shape[1]}, "
                               f"τout={output_tokens}: {first}") from None
    want = (input_ids.shape[0], input_ids.shape[1] + output_tokens)
    if tuple(out.shape) != want:
        raise MeasurementError(f"model returned shape {tuple(out.shape)}, expected {want}: "
                               "generation length was not forced")


def synchronize(device: str) -> None:
    """Wait for queued GPU work so that a meter window ends after the computation."""
    torch, _ = import_torch()
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()
