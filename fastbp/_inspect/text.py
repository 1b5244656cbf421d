"""Plain-text pieces shared by the trace, the gradient check and the summary."""


def superscript(count):
    return str(count).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def number(value):
    return f"{float(value):.6g}"


def table(header, rows, indent="    ", left=1):
    """Text columns: the first `left` left-aligned, the others right-aligned. A row whose other
    cells are all empty (a "… (N more)" note) does not widen the first column."""
    notes = {i for i, row in enumerate(rows) if not any(row[1:])}
    widths = [max([len(header[c])] + [len(row[c]) for i, row in enumerate(rows)
                                      if not (c == 0 and i in notes)])
              for c in range(len(header))]
    lines = []
    for i, row in enumerate([header] + rows):
        if i - 1 in notes:
            lines.append(indent + row[0])
            continue
        cells = [cell.ljust(w) if c < left else cell.rjust(w)
                 for c, (cell, w) in enumerate(zip(row, widths))]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def byte_size(count):
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:,} {unit}" if unit == "B" else f"{count:.2f} {unit}"
        count /= 1024
