#!/usr/bin/env python3
"""Compares one compound dataset of two servesim results on the columns both have.

    compare_common_columns.py OLD.h5 NEW.h5 /DATASET

Exit 0 when the row counts match, the new file drops no column and every common column is equal
bit for bit (NaN equal to NaN); prints the columns only the new file has (comma-separated, empty
when none). Exit 1, naming the first difference, otherwise. scripts/compare_outputs.sh calls it
where h5diff finds two tables "not comparable" because a build added columns.
"""
import sys

import h5py  # Debian's python3-h5py
import numpy as np


def main():
    old_path, new_path, name = sys.argv[1:4]
    with h5py.File(old_path, "r") as old_file, h5py.File(new_path, "r") as new_file:
        old, new = old_file[name], new_file[name]
        old_cols, new_cols = old.dtype.names or (), new.dtype.names or ()
        if not old_cols or not new_cols:
            sys.exit(f"{name}: not a table of columns")
        if old.shape != new.shape:
            sys.exit(f"{name}: {old.shape[0]} rows, then {new.shape[0]}")
        dropped = [c for c in old_cols if c not in new_cols]
        if dropped:
            sys.exit(f"{name}: the new file has no {', '.join(dropped)}")
        a, b = old[()], new[()]
        for c in old_cols:
            x, y = a[c], b[c]
            same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
            if not same:
                sys.exit(f"{name}: column {c} differs")
        print(",".join(c for c in new_cols if c not in old_cols))


if __name__ == "__main__":
    main()
