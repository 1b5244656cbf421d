"""Plain-text pieces shared by the trace, the gradient check and the summary."""
from __future__ import annotations

from collections.abc import Sequence


def superscript(count: int) -> str:
    return str(count).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def number(value: float) -> str:
    return f"{float(value):.6g}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "    ",
          left: int = 1) -> list[str]:
    """Text columns: the first `left` left-aligned, the others right-aligned. A row whose other
    cells are all empty (a "… (N more)" note) does not widen the first column."""
    notes = {i for i, row in enumerate(rows) if not any(row[1:])}
    widths = [max([len(header[c])] + [len(row[c]) for i, row in enumerate(rows)
                                      if not (c == 0 and i in notes)])
              for c in range(len(header))]
    lines: list[str] = []
    for i, row in enumerate([header, *rows]):
        if i - 1 in notes:
            lines.append(indent + row[0])
            continue
        cells = [cell.ljust(w) if c < left else cell.rjust(w)
                 for c, (cell, w) in enumerate(zip(row, widths))]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def byte_size(count: float) -> str:  # type: ignore[return]  # (the loop returns at "GB")
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:,} {unit}" if unit == "B" else f"{count:.2f} {unit}"
        count /= 1024
