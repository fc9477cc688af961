"""What to measure: the sweep specification, validated before anything is loaded."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from .loading import DTYPES
from .meters import DEVICES, METER_KINDS


def parse_token_list(text: str, option: str = "--inputs") -> tuple[int, ...]:
    """Parse ``"8,64,512"`` into token counts.

    Args:
        text: comma-separated positive integers.
        option: option name for the error message.

    Returns:
        The counts, in the given order, without duplicates.

    Raises:
        InputError: empty list, or an entry that is not an integer >= 1.
    """
    values: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise InputError(f"{option}: {part!r} is not an integer (expected e.g. 8,64,512)") \
                from None
        if value < 1:
            raise InputError(f"{option}: {value} tokens; token counts must be >= 1")
        if value not in values:
            values.append(value)
    return tuple(values)


@dataclass(frozen=True)
class SweepSpec:
    """A τin × τout measurement sweep.

    Attributes:
        model: preset name, local model path, or hub id in the local cache.
        input_tokens: prompt lengths τin.
        output_tokens: generated lengths τout.
        device: ``cuda``, ``cpu`` or ``mps``.
        random_weights: build the model from its config with random weights.
        batch_size: prompts per generate call; per-query values are per batch / batch_size.
        repeats: measured runs per (τin, τout), one table row each.
        warmup: discarded runs per (τin, τout) before the repeats.
        dtype: ``auto`` (float32 on CPU, float16 on GPUs), ``float32``, ``float16``, ``bfloat16``.
        kv_cache: generate with the KV cache.
        system: table ``system`` name; ``None`` derives it from the hardware name.
        meter: meter kind (``auto``, ``nvml``, ``rapl``, ``powermetrics``, ``none``).
        idle_s: seconds of idle-power measurement before the sweep (0: none).
        min_window_s: shortest meter window; ``None`` uses the meter's own minimum.
        seed: seed of random weights and prompts.
    """

    model: str
    input_tokens: tuple[int, ...]
    output_tokens: tuple[int, ...]
    device: str = "cpu"
    random_weights: bool = False
    batch_size: int = 1
    repeats: int = 3
    warmup: int = 1
    dtype: str = "auto"
    kv_cache: bool = True
    system: str | None = None
    meter: str = "auto"
    idle_s: float = 5.0
    min_window_s: float | None = None
    seed: int = 0

    def validate(self) -> SweepSpec:
        """Check every field; return ``self``.

        Raises:
            InputError: naming the bad field and value.
        """
        if not self.model or not str(self.model).strip():
            raise InputError("model: empty name")
        for name in ("input_tokens", "output_tokens"):
            values = getattr(self, name)
            if not values or any(not isinstance(v, int) or v < 1 for v in values):
                raise InputError(f"{name}: {values!r}; expected a non-empty list of integers >= 1")
        checks = [("device", self.device, DEVICES), ("dtype", self.dtype, DTYPES),
                  ("meter", self.meter, METER_KINDS)]
        for name, value, allowed in checks:
            if value not in allowed:
                raise InputError(f"{name} {value!r}: expected one of {', '.join(allowed)}")
        for name, low in (("batch_size", 1), ("repeats", 1), ("warmup", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise InputError(f"{name} {value!r}: expected an integer >= {low}")
        if self.idle_s < 0 or (self.min_window_s is not None and self.min_window_s < 0):
            raise InputError(f"idle_s {self.idle_s!r} / min_window_s {self.min_window_s!r}: "
                             "expected seconds >= 0")
        if self.system is not None and not self.system.strip():
            raise InputError("system: empty name")
        return self

    @property
    def total_rows(self) -> int:
        """Rows the sweep writes: points × repeats."""
        return len(self.input_tokens) * len(self.output_tokens) * self.repeats
