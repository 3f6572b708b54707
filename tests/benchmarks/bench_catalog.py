"""Benchmark: load the three full real metadata tables and build their official splits with cxr_fast, side by side
with torchxrayvision's dataset constructors on the same tables, in one run. Prints one table: per dataset the median
time of each side and their ratio, then the total; cxr_fast's time is also split into the load (`load_*`, the
catalog) and building the official split (`official_split`, which checks the split for patient leakage;
torchxrayvision builds none), so both ratios are shown.

    taskset -c 0 .venv/bin/python tests/benchmarks/bench_catalog.py [--repeats 7]

Both sides run in this one process; within a repeat each dataset is loaded by cxr_fast and by torchxrayvision in
turn (which goes first alternates between repeats), so a load change on the machine hits both sides alike. Pin the
process to one core with `taskset -c 0`. Two clocks: wall time (`perf_counter`) and the process's CPU time
(`process_time`, every thread); on a machine shared with other jobs the CPU time is the steadier of the two,
since time spent waiting for the core is not counted. The heap is collected before each timed load. Nothing is cached between loads: every load reads and parses its CSV file
(the operating system's file cache is warm for both sides after the warm-up). The torchxrayvision constructors drop
uncertain labels' distinction and most views; cxr_fast keeps every row and every raw value, so it does more work
per table. Results are written down in tests/benchmarks/BENCHMARKS.md."""
import argparse, gc, statistics, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
from cxr_fast.config import Settings, find_settings, shared_data

warnings.filterwarnings('ignore')
HERE = Path(__file__).resolve()
SHARED = shared_data(Settings(find_settings(HERE.parents[2])))   # the `shared_data` setting (or CXR_FAST_SHARED_DATA); None when unset
FILES = dict(nih='Data_Entry_2017_v2020.csv.gz', chexpert='chexpert_train.csv.gz',
             padchest='PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz')


def ours(name, xrv_dir, split_dir):
    "(rows of cxr_fast's catalog of `name`, clocks after loading it, clocks after building its official split where it has one)"
    from cxr_fast.nih import load_nih
    from cxr_fast.chexpert import load_chexpert
    from cxr_fast.padchest import load_padchest
    from cxr_fast.splits import official_split
    f = xrv_dir/FILES[name]
    if name == 'nih': cat = load_nih(csv=f, split_dir=split_dir, splits=split_dir is not None)
    elif name == 'chexpert': cat = load_chexpert(train_csv=f)
    else: cat = load_padchest(csv=f)
    loaded = clocks()
    if cat.df.split.notna().any(): official_split(cat)            # NIH (with the lists) and CheXpert; PadChest has none
    return len(cat), loaded


def theirs(name, xrv_dir):
    "Rows of torchxrayvision's dataset of `name` (default arguments)"
    import torchxrayvision as xrv
    cls = dict(nih=xrv.datasets.NIH_Dataset, chexpert=xrv.datasets.CheX_Dataset, padchest=xrv.datasets.PC_Dataset)[name]
    return len(cls(imgpath='.', csvpath=str(xrv_dir/FILES[name]))), None


def clocks(): return np.array([time.perf_counter(), time.process_time()])


def timed(f, *args):
    "(wall and CPU seconds of the whole call, of its first part (None for torchxrayvision), rows)"
    gc.collect()                                # each load starts from a collected heap: the other side's garbage is not on its clock
    t = clocks(); rows, mid = f(*args); end = clocks()
    return end - t, (None if mid is None else mid - t), rows


def table(res, repeats, k):
    "The per-dataset table of clock `k` (0 wall, 1 CPU) from `res[side, dataset] = [(whole, load), ...]`"
    med = statistics.median
    col = lambda s, n, part: [r[part][k] for r in res[s, n]]
    tab = pd.DataFrame({'cxr_fast load': [med(col('cxr_fast', n, 1)) for n in FILES],
                        '+ official split': [med(col('cxr_fast', n, 0)) for n in FILES],
                        'torchxrayvision': [med(col('torchxrayvision', n, 0)) for n in FILES]}, index=list(FILES))
    tot = lambda s, part: med([sum(res[s, n][r][part][k] for n in FILES) for r in range(repeats)])
    tab.loc['total'] = [tot('cxr_fast', 1), tot('cxr_fast', 0), tot('torchxrayvision', 0)]
    return tab.assign(**{'ratio load': tab['cxr_fast load']/tab.torchxrayvision, 'ratio load+split': tab['+ official split']/tab.torchxrayvision})


def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--repeats', type=int, default=7); a = ap.parse_args()
    from cxr_fast.catalog import xrv_table
    xrv_dir = xrv_table(FILES['nih']).parent
    split_dir = None
    if SHARED and (SHARED/'meta/nih_test_list.txt').exists():     # the official lists, under the names NIH distributes them
        import tempfile
        split_dir = Path(tempfile.mkdtemp())
        for n in ('train_val', 'test'): (split_dir/f'{n}_list.txt').symlink_to(SHARED/f'meta/nih_{n}_list.txt')
    sides = dict(cxr_fast=lambda n: ours(n, xrv_dir, split_dir), torchxrayvision=lambda n: theirs(n, xrv_dir))
    res = {(s, n): [] for s in sides for n in FILES}; rows = {}
    for n in FILES:                                                 # warm-up: imports, file cache
        for s, f in sides.items(): timed(f, n)
    for r in range(a.repeats):
        for n in FILES:
            for s in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                whole, load, rows[s, n] = timed(sides[s], n); res[s, n].append((whole, load))
    print(pd.DataFrame({'cxr_fast rows (all kept)': [rows['cxr_fast', n] for n in FILES],
                        'torchxrayvision rows': [rows['torchxrayvision', n] for n in FILES]}, index=list(FILES)).to_string())
    for k, clock in enumerate(['wall seconds (perf_counter)', 'CPU seconds (process_time)']):
        print(f"\n{clock}, median of {a.repeats}, one process, sides alternating; NIH official split "
              f"{'built' if split_dir else 'skipped: no lists'}; '+ official split' = load + official_split, one call")
        print(table(res, a.repeats, k).to_string(float_format=lambda x: f'{x:.3f}'))


if __name__ == '__main__': main()
