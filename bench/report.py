"""Samples/s per benchmark group, and each entry's ratio to the numpy reference of its group.

Usage: python bench/report.py out.json   (a file written by pytest --benchmark-json)

samples/s = epochs × n_samples / median seconds of a round; "× reference" is an entry's
samples/s over the reference's in the same group (so > 1 is faster than the reference).
The suite's conftest prints the same table at the end of a timed run.
"""
import json
import sys


def samples_per_s(entry):
    """Throughput of one benchmark entry, from its median round."""
    median = entry["stats"]["median"]
    return entry["extra_info"]["samples"] / median if median > 0 else float("inf")


def table(entries):
    """Lines of the table for pytest-benchmark entries (dicts with group, name, stats, extra_info)."""
    timed = [entry for entry in entries if entry.get("stats") and "samples" in entry.get("extra_info", {})]
    lines = [f"{'group':<6} {'benchmark':<22} {'dtype':<8} {'samples/s':>12} {'× reference':>12} "
             f"{'final loss':>12}"]
    for group in sorted({entry["group"] or "" for entry in timed}):
        members = [entry for entry in timed if (entry["group"] or "") == group]
        reference = [entry for entry in members if entry["extra_info"].get("implementation") == "reference"]
        reference_rate = samples_per_s(reference[0]) if reference else None
        for entry in sorted(members, key=samples_per_s, reverse=True):
            rate = samples_per_s(entry)
            ratio = f"{rate / reference_rate:.2f}×" if reference_rate else "–"
            info = entry["extra_info"]
            loss = info.get("final_loss", float("nan"))  # NaN: an entry that trains nothing (sgemm)
            loss_text = f"{loss:>12.6g}" if loss == loss else f"{'–':>12}"
            lines.append(f"{group:<6} {entry['name']:<22} {info.get('dtype', '?'):<8} {rate:>12,.0f} "
                         f"{ratio:>12} {loss_text}")
        notes = {entry["extra_info"]["note"] for entry in members if entry["extra_info"].get("note")}
        lines += [f"{group:<6} note: {note}" for note in sorted(notes)]
    return lines


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        data = json.load(handle)
    machine = data.get("machine_info", {})
    if machine.get("cpu_model"):
        print(f"cpu: {machine['cpu_model']}; BLAS: {machine.get('blas', 'unknown')}")
    for line in table(data.get("benchmarks", [])):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
