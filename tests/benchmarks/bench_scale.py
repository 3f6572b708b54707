"""Benchmark: the whole pipeline at the datasets' real row counts, on tiny synthetic images (a full-scale dry run).

    .venv/bin/python tests/benchmarks/bench_scale.py [--datasets nih chexpert] [--fracs 0.1 0.3 1] [--out DIR]
    cxr-fast bench scale ...                        (the same; arguments after the name go to this script)

For each dataset and fraction, in a FRESH subprocess (so memory does not carry over between fractions):
- setup (not part of the pipeline): the real metadata table (NIH `Data_Entry_2017_v2020` with the official
  train_val / test lists; CheXpert's full train table + the real `valid.csv`) restricted to a fraction of its
  PATIENTS (a seeded permutation of patients, so 10 % is inside 30 % inside 100 %; every image of a kept patient is
  kept; CheXpert keeps all 234 valid images, its test part, at every fraction) is written into a temporary root in the dataset's real layout, with a tiny image at every path: 32x32
  grayscale PNG for NIH (in the 12 `images_0NN/images/` folders of the release), 40x32 JPEG for CheXpert
  (`CheXpert-v1.0-small/train/patientN/studyM/viewK_*.jpg`), synthetic noise with one bright 8x8 block per
  positive label (a learnable signal);
- the pipeline, each stage timed (wall) and its peak RSS taken:
  catalog (`load_nih` / `load_chexpert` on that root) -> check_fast (`check_catalog(decode=False)`, what
  `cxr-fast check --fast` runs) -> cache_build (`build_cache` at 16 px + `open_cache`) -> dataloaders
  (`cxr_dataloaders` from the cache, recipe 'plain', 1 channel) -> train_1_epoch (`cxr_learner` with timm's
  `test_resnet` (0.37 M parameters) from scratch at 16 px, batches of 256,
  `fit_schedule` one epoch, one-cycle, with its validation, best-model checkpoint and CSV log) -> predict_test
  (`learner_predictions` on the test part: NIH's official test list, CheXpert's official valid set) ->
  report (`evaluation_report` with its default 1000 bootstrap resamples, written to disk with its figures) ->
  bundle (`save_bundle`).
Peak RSS per stage: before each stage the child writes `5` to /proc/self/clear_refs (Linux: resets the process's
peak-RSS counter, VmHWM) and reads VmHWM from /proc/self/status after it, so each figure is that stage's own peak
(the whole process's resident memory, including what earlier stages still hold). The child's lifetime peak is the largest of
these (the setup and the imports included: resetting VmHWM also resets `getrusage`'s ru_maxrss, so the stage peaks
cover the whole life of the process).
The temporary root is removed afterwards; `--out DIR` keeps each run's small outputs (predictions, report, bundle,
results.json) under DIR/<dataset>-<frac>/. Results go to tests/benchmarks/BENCHMARKS.md."""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time, warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np, pandas as pd

HERE = Path(__file__).resolve()
STAGES = ['catalog', 'check_fast', 'cache_build', 'dataloaders', 'train_1_epoch', 'predict_test', 'report', 'bundle']
SIZE, BLOCK, TRAIN = 32, 8, 16                               # image width (px); side of a label's bright block; cache and training size (px)


def xrv_data() -> Path:
    import torchxrayvision
    return Path(torchxrayvision.__file__).parent/'data'


def shared_meta() -> Path:
    from cxr_fast.config import Settings, find_settings, shared_data
    s = shared_data(Settings(find_settings(HERE.parents[2])))
    if s is None or not (s/'meta/nih_test_list.txt').exists(): raise SystemExit(f'the official NIH split lists are missing (shared_data setting: {s})')
    return s


def read_raw(path) -> pd.DataFrame:
    "A metadata table with every cell as its raw text (nothing parsed, blanks kept blank)"
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def keep_patients(patients:pd.Series, frac:float, seed:int=0) -> np.ndarray:
    "Rows whose patient is among the first `frac` of a seeded permutation of the patients (nested across fractions)"
    u = np.sort(patients.unique())
    kept = set(np.random.default_rng(seed).permutation(u)[:max(1, round(frac*len(u)))])
    return patients.isin(kept).to_numpy()


def label_signal(y:np.ndarray, shape:tuple, seed:int) -> np.ndarray:
    "uint8 images (n, h, w): noise around 100, +90 in the block of each positive label (label j: block j of a grid)"
    n, (h, w) = len(y), shape
    a = np.random.default_rng(seed).integers(70, 130, (n, h, w), dtype=np.uint8)
    per_row = w//BLOCK
    for j in range(y.shape[1]):
        r, c = divmod(j, per_row); r, c = r*BLOCK % h, c*BLOCK
        a[y[:, j], r:r+BLOCK, c:c+BLOCK] += 90
    return a


def write_images(root:Path, paths:list, y:np.ndarray, shape:tuple, workers:int, chunk:int=4096):
    "One tiny image (PNG or JPEG by extension, cv2.imwrite) per path, its pixels carrying the labels `y`"
    import cv2
    for d in sorted({str(Path(p).parent) for p in paths}): (root/d).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(workers) as ex:
        for s in range(0, len(paths), chunk):
            a = label_signal(y[s:s+chunk], shape, seed=s)
            assert all(ex.map(lambda i: cv2.imwrite(str(root/paths[s+i]), a[i]), range(len(a)))), 'cv2.imwrite failed'


def nih_root(root:Path, frac:float, workers:int) -> int:
    "NIH ChestX-ray14 in its release layout: the real table's rows of a fraction of patients, the official lists, tiny PNGs"
    t = read_raw(xrv_data()/'Data_Entry_2017_v2020.csv.gz')
    t = t[keep_patients(t['Patient ID'], frac)]
    t.to_csv(root/'Data_Entry_2017_v2020.csv', index=False)
    meta, names = shared_meta()/'meta', set(t['Image Index'])
    for src, dst in [('nih_train_val_list.txt', 'train_val_list.txt'), ('nih_test_list.txt', 'test_list.txt')]:
        (root/dst).write_text(''.join(f'{n}\n' for n in (meta/src).read_text().split() if n in names))
    # the release's 12 archives hold the images in name order: 4,999 in images_001, then 10,000 each
    pos = np.searchsorted(np.sort(read_raw(xrv_data()/'Data_Entry_2017_v2020.csv.gz')['Image Index']), t['Image Index'])
    folder = np.minimum((pos + 5001)//10000 + 1, 12)
    paths = [f'images_{k:03d}/images/{n}' for k, n in zip(folder, t['Image Index'])]
    from cxr_fast.config import catalog_dir
    import yaml
    labels = [l for l in yaml.safe_load((catalog_dir()/'nih.yaml').read_text())['labels'] if l != 'No Finding']
    f = t['Finding Labels'].str.split('|')
    y = np.stack([f.map(lambda v, l=l: l in v).to_numpy(bool) for l in labels], 1)
    write_images(root, paths, y, (SIZE, SIZE), workers)
    return len(t)


def chexpert_root(root:Path, frac:float, workers:int) -> int:
    "CheXpert-v1.0-small: the real train table's rows of a fraction of patients + the whole real valid.csv, tiny JPEGs"
    tabs = dict(train=read_raw(xrv_data()/'chexpert_train.csv.gz'), valid=read_raw(shared_meta()/'chexpert/CheXpert-v1.0-small/valid.csv'))
    (root/'CheXpert-v1.0-small').mkdir(parents=True)
    n = 0
    for k, t in tabs.items():
        if k == 'train': t = t[keep_patients(t.Path.str.split('/').str[2], frac)]   # the 234 valid images (the test part) always
        t.to_csv(root/f'CheXpert-v1.0-small/{k}.csv', index=False)
        y = (t.iloc[:, 5:] == '1.0').to_numpy()
        write_images(root, t.Path.tolist(), y, (SIZE + BLOCK, SIZE), workers)
        n += len(t)
    return n


ROOTS = dict(nih=nih_root, chexpert=chexpert_root)


def peak_mb() -> float:
    "This process's peak resident memory since the last `reset_peak` (VmHWM), in MB"
    return int(re.search(r'VmHWM:\s+(\d+)', Path('/proc/self/status').read_text()).group(1))/1024


def reset_peak(): Path('/proc/self/clear_refs').write_text('5')


def pipeline(dataset:str, root:Path, out:Path, workers:int=2, bs:int=256, arch:str='timm:test_resnet', n_boot:int=1000, seed:int=0):
    "Run the stages on `root`; yield (stage, result summary) after each; outputs go to `out`"
    from fastai.torch_core import set_seed
    from cxr_fast.nih import load_nih
    from cxr_fast.chexpert import load_chexpert
    from cxr_fast.images import check_catalog
    from cxr_fast.cache import build_cache, open_cache
    from cxr_fast.splits import official_split, Split
    from cxr_fast.data import cxr_dataloaders, subset_dl
    from cxr_fast.train import cxr_learner, fit_schedule
    from cxr_fast.ensemble import learner_predictions, save_predictions
    from cxr_fast.report import evaluation_report
    from cxr_fast.bundle import save_bundle
    cat = load_nih(root) if dataset == 'nih' else load_chexpert(root)
    yield 'catalog', dict(rows=len(cat), patients=int(cat.df.patient.nunique()))
    bad = check_catalog(cat, n_workers=workers, decode=False, progress=False)
    yield 'check_fast', dict(bad=len(bad))
    cache = open_cache(build_cache(cat, TRAIN, root.parent/'cache', n_workers=workers, progress=False))
    yield 'cache_build', dict(ok=cache.manifest['ok'], bad=cache.manifest['bad'], mb=round((root.parent/'cache/images.npy').stat().st_size/2**20, 1))
    if dataset == 'nih': split = official_split(cat, valid_frac=0.1, seed=seed)
    else:                                           # CheXpert: train carved into train/valid by patient; the official valid set is the test part
        sp = official_split(cat.replace(df=cat.df.assign(split=cat.df.split.astype(object).replace({'valid': 'test'}))), valid_frac=0.1, seed=seed)
        split = Split(sp.subset, sp.patients, sp.strategy, seed, None, 'official_valid_as_test')
    set_seed(seed)
    dls = cxr_dataloaders(cat, split, None if dataset == 'chexpert' else 'findings14', recipe='plain', size=TRAIN, bs=bs, n_channels=1, seed=seed, cache=cache)
    yield 'dataloaders', {k: v['images'] for k, v in split.counts().items()}
    learn = cxr_learner(dls, arch, pretrained=False, path=out/'train')
    with learn.no_bar(): fit_schedule(learn, 1, 3e-3, 'one_cycle')
    h = pd.read_csv(out/'train/history.csv')
    yield 'train_1_epoch', dict(train_loss=float(h.iloc[-1].get('train_loss', np.nan)), valid_loss=float(h.iloc[-1].get('valid_loss', np.nan)))
    with learn.no_bar(): pred = learner_predictions(learn, subset_dl(dls, 'test'), name=f'scale-{dataset}')
    save_predictions(pred, out/'predictions.parquet')
    yield 'predict_test', dict(n=len(pred.probs), labels=len(pred.labels), shape=list(pred.probs.shape))
    rep = evaluation_report(pred, out/'report', n_boot=n_boot)
    yield 'report', dict(mean_auc=round(float(rep.summary['mean_auc']), 4), files=len(rep.files), n_boot=rep.summary['n_boot'])
    b = save_bundle(learn, out/'model', run='bench_scale')
    yield 'bundle', dict(files=sorted(p.name for p in b.iterdir()))


def child(a):
    "One dataset at one fraction, in this process: setup, then the stages, each with its wall time and peak RSS"
    import torch
    warnings.filterwarnings('ignore')
    torch.set_num_threads(a.torch_threads or a.workers)
    tmp = Path(a.tmp); root, out = tmp/'root', Path(a.out) if a.out else tmp/'out'
    root.mkdir(parents=True); out.mkdir(parents=True, exist_ok=True)
    reset_peak(); t = time.perf_counter()
    import importlib                                       # the imports first, so the catalog stage does not pay for them
    for m in ('nih', 'chexpert', 'images', 'cache', 'data', 'train', 'ensemble', 'report', 'bundle'): importlib.import_module(f'cxr_fast.{m}')
    rows = [dict(stage='imports (before the stages, not in the table)', seconds=time.perf_counter() - t, peak_rss_mb=peak_mb(), result={})]
    reset_peak(); t = time.perf_counter()
    n = ROOTS[a.dataset](root, a.frac, a.workers)
    rows.append(dict(stage='setup (not timed in the table)', seconds=time.perf_counter() - t, peak_rss_mb=peak_mb(), result=dict(rows=n)))
    it = pipeline(a.dataset, root, out, a.workers, a.bs, a.arch, a.n_boot)
    while True:
        reset_peak(); t = time.perf_counter()
        try: stage, res = next(it)
        except StopIteration: break
        rows.append(dict(stage=stage, seconds=time.perf_counter() - t, peak_rss_mb=peak_mb(), result=res))
        print(f'  {a.dataset} {a.frac:g}: {stage} {rows[-1]["seconds"]:.1f} s, {rows[-1]["peak_rss_mb"]:.0f} MB {res}', file=sys.stderr, flush=True)
    (out/'results.json').write_text(json.dumps(dict(dataset=a.dataset, frac=a.frac, rows=n, stages=rows), indent=1, default=str))


def run_child(dataset:str, frac:float, a, out:Path|None) -> dict:
    "Run `child` in a fresh Python process; its stage rows, and its lifetime peak RSS"
    with tempfile.TemporaryDirectory(prefix=f'cxr_fast_scale_{dataset}_') as d:
        o = out or Path(d)/'out'
        cmd = [sys.executable, str(HERE), '--child', dataset, '--frac', str(frac), '--tmp', d, '--out', str(o),
               '--workers', str(a.workers), '--torch-threads', str(a.torch_threads or a.workers), '--bs', str(a.bs), '--arch', a.arch, '--n-boot', str(a.n_boot)]
        load = os.getloadavg()[0]
        subprocess.run(cmd, check=True)
        r = json.loads((o/'results.json').read_text())
        r['child_peak_rss_mb'] = max(s['peak_rss_mb'] for s in r['stages'])
        r['load_before'], r['load_after'] = round(load, 2), round(os.getloadavg()[0], 2)
    r['tmp'], r['tmp_removed'] = d, not Path(d).exists()
    if out: (out/'results.json').write_text(json.dumps(r, indent=1, default=str))
    return r


def table(results:list) -> pd.DataFrame:
    "Stages x fractions: seconds and peak RSS per fraction, and the 100 % / 10 % time ratio (linear: 10x)"
    recs = [dict(dataset=r['dataset'], frac=r['frac'], stage=s['stage'], seconds=s['seconds'], rss=s['peak_rss_mb'])
            for r in results for s in r['stages'] if s['stage'] in STAGES]
    d = pd.DataFrame(recs)
    t = d.pivot_table(index=['dataset', 'stage'], columns='frac', values=['seconds', 'rss'], sort=False)
    cols = {}
    for f in sorted(d.frac.unique()):
        cols[f's@{f:g}'] = t[('seconds', f)].round(1); cols[f'MB@{f:g}'] = t[('rss', f)].round(0)
    out = pd.DataFrame(cols)
    fr = sorted(d.frac.unique())
    if len(fr) > 1:
        out[f'time {fr[-1]:g}/{fr[0]:g}'] = (t[('seconds', fr[-1])]/t[('seconds', fr[0])]).round(1)
        rows = {(r['dataset'], r['frac']): r['rows'] for r in results}      # per dataset: its own row counts
        out['rows ratio'] = [round(rows[d, fr[-1]]/rows[d, fr[0]], 1) if (d, fr[0]) in rows and (d, fr[-1]) in rows else np.nan
                             for d in out.index.get_level_values('dataset')]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--datasets', nargs='+', default=['nih', 'chexpert'], choices=list(ROOTS))
    ap.add_argument('--fracs', nargs='+', type=float, default=[0.1, 0.3, 1.0], help='fractions of the patients (each in a fresh process)')
    ap.add_argument('--out', help="keep each run's outputs (predictions, report, bundle, results.json) under OUT/<dataset>-<frac>")
    ap.add_argument('--workers', type=int, default=2, help='threads for writing, checking, caching and torch')
    ap.add_argument('--torch-threads', type=int, default=None, help='torch threads (default: --workers; 1 on a shared, busy machine)')
    ap.add_argument('--bs', type=int, default=256); ap.add_argument('--arch', default='timm:test_resnet')
    ap.add_argument('--n-boot', type=int, default=1000, help="bootstrap resamples of the report (its default: 1000)")
    ap.add_argument('--json', help='also write every result to this JSON file')
    ap.add_argument('--child', choices=list(ROOTS), help=argparse.SUPPRESS); ap.add_argument('--frac', type=float, help=argparse.SUPPRESS)
    ap.add_argument('--tmp', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: a.dataset = a.child; return child(a)
    free = shutil.disk_usage(tempfile.gettempdir()).free/2**30
    print(f'{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {free:.0f} GB free in {tempfile.gettempdir()}', flush=True)
    results = []
    for ds in a.datasets:
        for f in a.fracs:
            r = run_child(ds, f, a, Path(a.out)/f'{ds}-{f:g}' if a.out else None)
            results.append(r)
            print(f"{ds} {f:g} of the patients: {r['rows']:,} rows; child's lifetime peak RSS {r['child_peak_rss_mb']:.0f} MB; "
                  f"load {r['load_before']} -> {r['load_after']}", flush=True)
    if a.json: Path(a.json).write_text(json.dumps(results, indent=1, default=str))
    print('\nwall seconds (s@frac) and peak RSS in MB (MB@frac) per stage; fractions of patients')
    print(table(results).to_string())


if __name__ == '__main__': sys.exit(main())
