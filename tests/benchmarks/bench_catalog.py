"""Benchmark: load the three full real metadata tables and build their official splits with cxr_fast, side by side
with torchxrayvision's dataset constructors on the same tables, in one run. Prints a table of medians and ratios.

    .venv/bin/python tests/benchmarks/bench_catalog.py [--repeats 5]

Both sides run in this one process, alternating, on one core (`taskset -c 0` if you want to pin it). The
torchxrayvision constructors drop uncertain labels' distinction and most views; cxr_fast keeps every row and every
raw value, so it does more work per table. Results are written down in tests/benchmarks/BENCHMARKS.md."""
import argparse, statistics, time, warnings
from pathlib import Path
import pandas as pd
from cxr_fast.config import Settings, find_settings, shared_data

warnings.filterwarnings('ignore')
HERE = Path(__file__).resolve()
SHARED = shared_data(Settings(find_settings(HERE.parents[2])))   # the `shared_data` setting (or CXR_FAST_SHARED_DATA); None when unset


def ours(xrv_dir, split_dir):
    from cxr_fast.nih import load_nih
    from cxr_fast.chexpert import load_chexpert
    from cxr_fast.padchest import load_padchest
    from cxr_fast.splits import official_split
    nih = load_nih(csv=xrv_dir/'Data_Entry_2017_v2020.csv.gz', split_dir=split_dir, splits=split_dir is not None)
    if split_dir is not None: official_split(nih)
    chex = load_chexpert(train_csv=xrv_dir/'chexpert_train.csv.gz')
    official_split(chex)
    pc = load_padchest(csv=xrv_dir/'PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz')
    return dict(nih=len(nih), chexpert=len(chex), padchest=len(pc))


def theirs(xrv_dir):
    import torchxrayvision as xrv
    nih = xrv.datasets.NIH_Dataset(imgpath='.', csvpath=str(xrv_dir/'Data_Entry_2017_v2020.csv.gz'))
    chex = xrv.datasets.CheX_Dataset(imgpath='.', csvpath=str(xrv_dir/'chexpert_train.csv.gz'))
    pc = xrv.datasets.PC_Dataset(imgpath='.', csvpath=str(xrv_dir/'PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz'))
    return dict(nih=len(nih), chexpert=len(chex), padchest=len(pc))


def timed(f, *args):
    t = time.perf_counter(); r = f(*args); return time.perf_counter() - t, r


def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--repeats', type=int, default=5); a = ap.parse_args()
    from cxr_fast.catalog import xrv_table
    xrv_dir = xrv_table('Data_Entry_2017_v2020.csv.gz').parent
    split_dir = None
    if SHARED and (SHARED/'meta/nih_test_list.txt').exists():     # the official lists, under the names NIH distributes them
        import tempfile
        split_dir = Path(tempfile.mkdtemp())
        for n in ('train_val', 'test'): (split_dir/f'{n}_list.txt').symlink_to(SHARED/f'meta/nih_{n}_list.txt')
    timed(ours, xrv_dir, split_dir); timed(theirs, xrv_dir)          # warm-up: imports, file cache
    t_ours, t_theirs = [], []
    for _ in range(a.repeats):
        t, rows_ours = timed(ours, xrv_dir, split_dir); t_ours.append(t)
        t, rows_theirs = timed(theirs, xrv_dir); t_theirs.append(t)
    mo, mt = statistics.median(t_ours), statistics.median(t_theirs)
    print(pd.DataFrame({'cxr_fast rows (all kept)': rows_ours, 'torchxrayvision rows': rows_theirs}).to_string())
    print(f"\nmedian of {a.repeats}: cxr_fast {mo:.2f} s (NIH official split {'built' if split_dir else 'skipped: no lists'}), "
          f"torchxrayvision {mt:.2f} s, ratio {mo/mt:.2f}x")


if __name__ == '__main__': main()
