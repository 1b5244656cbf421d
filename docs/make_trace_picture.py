"""Draw docs/trace_step.png, README's picture of one backpropagation step: the house-price
network of README's example, trained as there, on its first house.

Run from the repository root with fastbp and matplotlib installed (pip install ".[plot]"):

    python docs/make_trace_picture.py [OUT.png]

The PNG is drawn at 120 dpi and reduced to 64 colours, which keeps it under 100 kB.
"""
import io
import pathlib
import sys

import fastbp
from fastbp.datasets import house_prices

OUT = pathlib.Path(__file__).resolve().parent / "trace_step.png"  # or the path given
SHOW = "backward"  # the gradients: what backpropagation computes
DPI, COLOURS = 120, 64


def main(out=OUT):
    X, price = house_prices(1000, seed=0)
    net = fastbp.Network([3, 8, 8, 1], activation="sigmoid", seed=0,
                         scale_inputs=True, scale_targets=True)
    net.fit(X[:800], price[:800], epochs=50, batch_size=16, lr=0.1)
    step = net.trace(X[0], price[0], lr=0.1)
    figure = step.plot(show=SHOW)

    from PIL import Image  # (matplotlib's own dependency)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    image = Image.open(buffer).convert("RGB").quantize(COLOURS, dither=Image.Dither.NONE)
    image.save(out, optimize=True)
    print(f"{out}: {image.width}×{image.height}, {out.stat().st_size / 1024:.0f} kB")


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
