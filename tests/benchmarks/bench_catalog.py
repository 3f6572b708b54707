"""Benchmark: load the three full real metadata tables and build their official splits with cxr_fast, side by side
with torchxrayvision's dataset constructors on the same tables, in one run. Prints one table: per dataset the median
time of each side and their ratio, then the total; cxr_fast's time is also split into the load (`load_*`, the
catalog) and building the official split (`official_split`, which checks the split for patient leakage;
torchxrayvision builds none), so both ratios are shown.

    taskset -c 0 .venv/bin/python tests/benchmarks/bench_catalog.py [--repeats 7]

Both sides run in this one process; within a repeat each dataset is loaded by cxr_fast and by torchxrayvision in
turn (which goes first alternates between repeats), so a load change on the machine hits both sides alike. Pin the
process to one core with `taskset -c 0`. Nothing is cached between loads: every load reads and parses its CSV file
(the operating system's file cache is warm for both sides after the warm-up). The torchxrayvision constructors drop
uncertain labels' distinction and most views; cxr_fast keeps every row and every raw value, so it does more work
per table. Results are written down in tests/benchmarks/BENCHMARKS.md."""
import argparse, statistics, time, warnings
from pathlib import Path
import pandas as pd
from cxr_fast.config import Settings, find_settings, shared_data

warnings.filterwarnings('ignore')
HERE = Path(__file__).resolve()
SHARED = shared_data(Settings(find_settings(HERE.parents[2])))   # the `shared_data` setting (or CXR_FAST_SHARED_DATA); None when unset
FILES = dict(nih='Data_Entry_2017_v2020.csv.gz', chexpert='chexpert_train.csv.gz',
             padchest='PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz')


def ours(name, xrv_dir, split_dir):
    "(rows of cxr_fast's catalog of `name`, seconds to load it, seconds to build its official split where it has one)"
    from cxr_fast.nih import load_nih
    from cxr_fast.chexpert import load_chexpert
    from cxr_fast.padchest import load_padchest
    from cxr_fast.splits import official_split
    f, t = xrv_dir/FILES[name], time.perf_counter()
    if name == 'nih': cat = load_nih(csv=f, split_dir=split_dir, splits=split_dir is not None)
    elif name == 'chexpert': cat = load_chexpert(train_csv=f)
    else: cat = load_padchest(csv=f)
    t_load = time.perf_counter() - t
    if cat.df.split.notna().any(): official_split(cat)            # NIH (with the lists) and CheXpert; PadChest has none
    return len(cat), t_load, time.perf_counter() - t - t_load


def theirs(name, xrv_dir):
    "Rows of torchxrayvision's dataset of `name` (default arguments)"
    import torchxrayvision as xrv
    cls = dict(nih=xrv.datasets.NIH_Dataset, chexpert=xrv.datasets.CheX_Dataset, padchest=xrv.datasets.PC_Dataset)[name]
    return len(cls(imgpath='.', csvpath=str(xrv_dir/FILES[name])))


def timed(f, *args):
    t = time.perf_counter(); r = f(*args); return time.perf_counter() - t, r


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
    times = {(s, n): [] for s in sides for n in FILES}; parts = {n: [] for n in FILES}; rows = {}
    for n in FILES:                                                 # warm-up: imports, file cache
        for s, f in sides.items(): timed(f, n)
    for r in range(a.repeats):
        for n in FILES:
            for s in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                t, out = timed(sides[s], n); times[s, n].append(t)
                if s == 'cxr_fast': rows[s, n], *ls = out; parts[n].append(ls)
                else: rows[s, n] = out
    med = lambda v: statistics.median(v)
    tab = pd.DataFrame({'cxr_fast rows': [rows['cxr_fast', n] for n in FILES], 'xrv rows': [rows['torchxrayvision', n] for n in FILES],
                        'cxr_fast load s': [med([l for l, _ in parts[n]]) for n in FILES],
                        'official split s': [med([p for _, p in parts[n]]) for n in FILES],
                        'cxr_fast s': [med(times['cxr_fast', n]) for n in FILES], 'xrv s': [med(times['torchxrayvision', n]) for n in FILES]},
                       index=list(FILES))
    total = lambda f: med([sum(f(n, r) for n in FILES) for r in range(a.repeats)])
    tab.loc['total'] = [tab['cxr_fast rows'].sum(), tab['xrv rows'].sum(), total(lambda n, r: parts[n][r][0]),
                        total(lambda n, r: parts[n][r][1]), total(lambda n, r: times['cxr_fast', n][r]), total(lambda n, r: times['torchxrayvision', n][r])]
    tab['ratio load'] = tab['cxr_fast load s']/tab['xrv s']
    tab['ratio load+split'] = tab['cxr_fast s']/tab['xrv s']
    tab[['cxr_fast rows', 'xrv rows']] = tab[['cxr_fast rows', 'xrv rows']].astype(int)
    print(f"median of {a.repeats}, one process, sides alternating (NIH official split {'built' if split_dir else 'skipped: no lists'}; "
          f"cxr_fast keeps every row and raw value); 'cxr_fast s' = load + official split, timed as one call")
    print(tab.to_string(float_format=lambda x: f'{x:.3f}'))

if __name__ == '__main__': main()
