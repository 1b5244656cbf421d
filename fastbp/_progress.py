"""Progress over epochs: a tqdm bar when tqdm is installed, a line per epoch otherwise."""
from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from fastbp import _metrics


class Progress:
    """verbose=0: silent; verbose=1: a bar over epochs with loss, val_loss, the metric
    (accuracy or R², with validation data) and samples/s."""

    def __init__(self, verbose: int, epochs: int, n_samples: int, loss_name: str = "mse") -> None:
        self.verbose = verbose
        self.metric = _metrics.name(loss_name)
        self.n_samples = n_samples
        self.bar: Any = None  # a tqdm bar
        self.epoch = 0
        if verbose:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=epochs, unit="epoch", leave=True)

    def update(self, figures: Mapping[str, Any]) -> None:
        if not self.verbose:
            return
        self.epoch += 1
        shown = {"loss": f"{figures['loss']:.4g}"}
        if "val_loss" in figures:
            shown["val_loss"] = f"{figures['val_loss']:.4g}"
        for key, label in (("metric", self.metric), ("val_metric", f"val_{self.metric}")):
            if key in figures:
                shown[label] = f"{figures[key]:.4g}"
        if figures.get("seconds"):
            shown["samples/s"] = f"{self.n_samples / figures['seconds']:,.0f}"
        if self.bar is not None:
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)
        else:
            print(f"epoch {self.epoch}: " + ", ".join(f"{k} {v}" for k, v in shown.items()),
                  file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
