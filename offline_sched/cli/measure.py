"""``offline-sched measure``: the click command that measures an energy/runtime table.

It only parses options, calls :func:`offline_sched.measure.run_sweep`, draws a progress bar on
stderr, and turns library errors into one-line messages with the error's exit code.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import OfflineSchedError
from ..measure.harness import Progress, SweepInterrupted, run_sweep
from ..measure.loading import DTYPES
from ..measure.meters import DEVICES, METER_KINDS
from ..measure.presets import PRESETS
from ..measure.spec import SweepSpec, parse_token_list
from .common import CliError, check_outputs, say, verbosity_options

HELP = f"""Measure per-query energy and runtime over a τin × τout sweep.

Every prompt has exactly τin random tokens and generation is forced to exactly τout new
tokens (greedy, EOS ignored). Each (τin, τout) gets --warmup discarded runs and --repeats
measured rows. With --batch-size B > 1, B prompts run in one batch and runtime and energy per
query are the batch values / B. Idle power is measured first and subtracted: energy_j is net,
energy_raw_j raw. Rows are written as they are measured; Ctrl-C keeps them.

MODEL is a local model path, a hub id in the local cache, or a preset
({", ".join(PRESETS)}); --random-weights builds it from its config with random weights.

\b
Example:
  offline-sched measure --model tiny-llama --random-weights --device cpu \\
      --inputs 8,64 --outputs 4,32 --repeats 2 --out t.csv
"""


def _tokens(option: str):
    def parse(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
        try:
            return parse_token_list(value, option)
        except OfflineSchedError as exc:
            raise click.BadParameter(str(exc).removeprefix(f"{option}: ")) from None
    return parse


class _Bar:
    """Progress callback: status lines before the sweep, then a progress bar (stderr)."""

    def __init__(self, quiet: bool = False) -> None:
        self.bar: Any = None
        self.rows = 0
        self.quiet = quiet

    def __call__(self, event: Progress) -> None:
        if event.phase in ("load", "idle"):
            say(f"{event.message} ...", self.quiet)
            return
        if event.phase == "row":
            self.rows = event.done
        if self.quiet:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=event.total, label="measuring", show_pos=True,
                                         item_show_func=lambda s: s,
                                         file=sys.stderr)
            self.bar.__enter__()
        if event.phase == "row":
            self.bar.update(1, event.message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command("measure", help=HELP, short_help="Measure an energy/runtime table (torch).")
@click.option("--model", required=True, help="Preset, local model path, or cached hub id.")
@click.option("--random-weights", is_flag=True, help="Build from config with random weights.")
@click.option("--device", required=True, type=click.Choice(DEVICES), help="Where to run.")
@click.option("--inputs", required=True, callback=_tokens("--inputs"),
              help="Prompt lengths τin, comma-separated (e.g. 8,64,512).")
@click.option("--outputs", required=True, callback=_tokens("--outputs"),
              help="Generated lengths τout, comma-separated.")
@click.option("--batch-size", default=1, show_default=True, type=click.IntRange(min=1),
              help="Prompts per generate call; per-query values are per batch / B.")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(min=1),
              help="Measured rows per (τin, τout).")
@click.option("--warmup", default=1, show_default=True, type=click.IntRange(min=0),
              help="Discarded runs per (τin, τout).")
@click.option("--dtype", default="auto", show_default=True, type=click.Choice(DTYPES),
              help="auto: float32 on cpu, float16 on cuda/mps.")
@click.option("--no-kv-cache", is_flag=True, help="Generate without the KV cache.")
@click.option("--system", default=None, help="System name in the table [default: hardware].")
@click.option("--meter", default="auto", show_default=True, type=click.Choice(METER_KINDS),
              help="Energy meter; auto: nvml (cuda), rapl (cpu), powermetrics (mps).")
@click.option("--idle-seconds", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="Idle-power measurement before the sweep (0: skip).")
@click.option("--min-window-seconds", default=None, type=click.FloatRange(min=0),
              help="Shortest meter window [default: the meter's resolution].")
@click.option("--seed", default=0, show_default=True, type=int, help="Weights/prompt seed.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Output table (CSV, replaced).")
@verbosity_options
def measure(model: str, random_weights: bool, device: str, inputs: tuple[int, ...],
            outputs: tuple[int, ...], batch_size: int, repeats: int, warmup: int, dtype: str,
            no_kv_cache: bool, system: str | None, meter: str, idle_seconds: float,
            min_window_seconds: float | None, seed: int, out: str, quiet: bool) -> None:
    """Run the measurement sweep (see HELP)."""
    try:
        check_outputs(("--out", out))
    except OfflineSchedError as exc:
        raise CliError(str(exc), exc.exit_code) from None
    spec = SweepSpec(model=model, input_tokens=inputs, output_tokens=outputs, device=device,
                     random_weights=random_weights, batch_size=batch_size, repeats=repeats,
                     warmup=warmup, dtype=dtype, kv_cache=not no_kv_cache, system=system,
                     meter=meter, idle_s=idle_seconds, min_window_s=min_window_seconds,
                     seed=seed)
    bar = _Bar(quiet)
    try:
        result = run_sweep(spec, out, progress=bar)
    except KeyboardInterrupt as exc:
        rows = exc.rows_written if isinstance(exc, SweepInterrupted) else bar.rows
        raise CliError(f"interrupted: kept {rows} complete rows in {out}", 130) from None
    except OfflineSchedError as exc:
        raise CliError(str(exc), exc.exit_code) from None
    finally:
        bar.close()
    if result.meter_note:
        click.echo(f"warning: {result.meter_note}", err=True)
    if result.rows_without_net_energy:
        click.echo(f"warning: {result.rows_without_net_energy} rows had net energy <= 0; "
                   "their energy_j is empty (raw value in energy_raw_j)", err=True)
    idle = "" if result.idle_power_w is None else f", idle {result.idle_power_w:.2f} W"
    click.echo(f"wrote {result.rows_written} rows to {result.path} (model {spec.model}, "
               f"system {result.system}, meter {result.meter}{idle})")
