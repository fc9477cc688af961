"""Built-in architecture presets: transformers config kwargs with the real model shapes.

With ``--random-weights`` a preset is built from its config with random weights: compute, and so
energy and runtime, depend on the shapes, not on the weight values. Without it, a preset loads
the pretrained weights of ``hub_id`` if they are already in the local Hugging Face cache.
``tiny-llama`` is a toy for tests (hidden 64, 2 layers, vocab 512) and has no weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError


@dataclass(frozen=True)
class Preset:
    """An architecture preset.

    Attributes:
        name: preset name (``--model`` value).
        model_type: transformers ``model_type`` (``llama``, ``mistral``, ``mixtral``, ``falcon``).
        config: keyword arguments of the transformers config class.
        hub_id: hub repository of the pretrained weights, or ``None``.
    """

    name: str
    model_type: str
    config: dict[str, Any] = field(default_factory=dict)
    hub_id: str | None = None


def _llama(hidden: int, inter: int, layers: int, heads: int, kv: int) -> dict[str, Any]:
    return dict(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=kv, vocab_size=32000,
                max_position_embeddings=4096, rms_norm_eps=1e-5, bos_token_id=1,
                eos_token_id=2, tie_word_embeddings=False)


_MISTRAL = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=8, vocab_size=32000,
                max_position_embeddings=32768, rms_norm_eps=1e-5, bos_token_id=1,
                eos_token_id=2, tie_word_embeddings=False)
_FALCON = dict(vocab_size=65024, parallel_attn=True, bias=False, alibi=False,
               max_position_embeddings=2048, bos_token_id=11, eos_token_id=11)

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset("tiny-llama", "llama", dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, vocab_size=512, max_position_embeddings=4096,
        bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)),
    Preset("llama-2-7b", "llama", _llama(4096, 11008, 32, 32, 32), "meta-llama/Llama-2-7b-hf"),
    Preset("llama-2-13b", "llama", _llama(5120, 13824, 40, 40, 40),
           "meta-llama/Llama-2-13b-hf"),
    Preset("llama-2-70b", "llama", _llama(8192, 28672, 80, 64, 8), "meta-llama/Llama-2-70b-hf"),
    Preset("mistral-7b", "mistral", dict(_MISTRAL, sliding_window=4096, rope_theta=10000.0),
           "mistralai/Mistral-7B-v0.1"),
    Preset("mixtral-8x7b", "mixtral", dict(_MISTRAL, num_local_experts=8,
                                           num_experts_per_tok=2, rope_theta=1e6),
           "mistralai/Mixtral-8x7B-v0.1"),
    Preset("falcon-7b", "falcon", dict(_FALCON, hidden_size=4544, num_hidden_layers=32,
                                       num_attention_heads=71, multi_query=True,
                                       new_decoder_architecture=False), "tiiuae/falcon-7b"),
    Preset("falcon-40b", "falcon", dict(_FALCON, hidden_size=8192, num_hidden_layers=60,
                                        num_attention_heads=128, num_kv_heads=8,
                                        new_decoder_architecture=True), "tiiuae/falcon-40b"),
]}


def get_preset(name: str) -> Preset:
    """Return the preset called ``name``.

    Raises:
        InputError: unknown preset (the message lists the known ones).
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


def preset_config(name: str):
    """Build the transformers config of a preset (imports transformers).

    Args:
        name: preset name.

    Returns:
        A ``transformers.PretrainedConfig``.
    """
    preset = get_preset(name)
    from transformers import AutoConfig  # lazy: measure extra

    return AutoConfig.for_model(preset.model_type, **preset.config)
