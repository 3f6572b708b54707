"""Benchmark: the image data path on the real sample images (the `shared_data` setting), side by side in one run.

    .venv/bin/python tests/benchmarks/bench_data.py [--repeats 5] [--size 256]

1. Cache build, images per second on ONE core: cxr_fast's preprocessing rule (`square_cxr`: the fast PNG path of
   `cxr_fast.png` for grayscale PNGs, OpenCV otherwise, JPEG DCT scaling), the same rule with the fast PNG path
   switched off (OpenCV only), and a plain PIL loop (open, convert to 8-bit gray, resize the shorter side, centre crop), on the same
   files: NIH 1024² PNG (8-bit and RGBA), CheXpert-small JPEG, PadChest 16-bit PNG.
2. Loader throughput, images per second on one core, before GPU transforms (no augmentation, no normalisation):
   batches read from the cache (`CXRDataLoader.create_batch`), vs the on-the-fly fastai DataLoaders decoding the files
   (num_workers=0), vs torchxrayvision's NIH dataset item (PNG -> centre crop -> resize to 224).
3. GPU training throughput (`--only-gpu` runs only this; `cxr-fast bench gpu` is the same): DenseNet-121 at 224 px in
   fp32, bf16 and fp16, each with and without channels-last: model-only vs end-to-end from the cache and from the files
   (1024 px PNGs), then 10x TTA inference; one table, under 10 minutes on one GPU. Needs CUDA; this script says so and
   prints no number when there is none (`--gpu-dry-run` runs the same code on the CPU with a tiny model, no numbers).
Medians over repeats; ratios measured in the same run. Results go to tests/benchmarks/BENCHMARKS.md."""
import argparse, os, statistics, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
from cxr_fast.config import Settings, find_settings, shared_data

warnings.filterwarnings('ignore')
torch.set_num_threads(1)
HERE = Path(__file__).resolve()
SHARED = shared_data(Settings(find_settings(HERE.parents[2])))   # the `shared_data` setting (or CXR_FAST_SHARED_DATA); None when unset


def pil_square(path, size):
    from PIL import Image
    im = Image.open(path)
    if im.mode in ('I;16', 'I;16B', 'I'):
        a = np.asarray(im, dtype=np.uint16 if im.mode != 'I' else np.int32)
        im = Image.fromarray((a >> max(0, int(a.max()).bit_length() - 8)).astype(np.uint8))
    im = im.convert('L')
    w, h = im.size; s = size/min(w, h)
    im = im.resize((max(size, round(w*s)), max(size, round(h*s))))
    w, h = im.size; l, t = (w - size)//2, (h - size)//2
    return np.asarray(im.crop((l, t, l + size, t + size)))


def rate(f, items, repeats):
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        for it in items: f(it)
        ts.append(time.perf_counter() - t)
    return len(items)/statistics.median(ts)


def files():
    nih = sorted((SHARED/'nih/images_1024').glob('*.png'))
    chex = sorted((SHARED/'chexpert/CheXpert-v1.0-small/valid').rglob('*.jpg'))
    full = sorted((SHARED/'chexpert/CheXpert-v1.0/valid').rglob('*.jpg'))
    pc = sorted((SHARED/'padchest/images').glob('*.png'))
    return dict(nih_png_1024=nih, chexpert_small_jpeg=chex, chexpert_full_jpeg=full*10, padchest_png16=pc)


def opencv_only(f):
    "Run `f` with the fast PNG path switched off (CXR_FAST_PNG=opencv), as before it existed"
    def g(*args):
        old = os.environ.get('CXR_FAST_PNG'); os.environ['CXR_FAST_PNG'] = 'opencv'
        try: return f(*args)
        finally:
            if old is None: del os.environ['CXR_FAST_PNG']
            else: os.environ['CXR_FAST_PNG'] = old
    return g


def bench_build(size, repeats):
    from cxr_fast.cache import square_cxr
    from cxr_fast.png import fast_png_available
    assert fast_png_available(), "isal/numba missing: the fast PNG path would not be measured"
    square_cxr(files()['nih_png_1024'][0], size)                      # compile the unfilter before timing
    rows = []
    for name, fs in files().items():
        ours = rate(lambda p: square_cxr(p, size), fs, repeats)
        cv = opencv_only(lambda: rate(lambda p: square_cxr(p, size), fs, repeats))()
        pil = rate(lambda p: pil_square(p, size), fs, repeats)
        rows.append(dict(files=name, n=len(fs), cxr_fast_img_s=round(ours, 1), opencv_only_img_s=round(cv, 1),
                         pil_img_s=round(pil, 1), ratio=round(ours/pil, 2), opencv_only_ratio=round(cv/pil, 2)))
    return pd.DataFrame(rows)


def bench_loader(size, repeats, tmp):
    from cxr_fast.catalog import xrv_table
    from cxr_fast.nih import load_nih
    from cxr_fast.splits import Split
    from cxr_fast.cache import build_cache, open_cache
    from cxr_fast.data import cxr_dataloaders
    cat = load_nih(SHARED/'nih', csv=xrv_table('Data_Entry_2017_v2020.csv.gz'), image_dir='images_1024', splits=False)
    names = {p.name for p in (SHARED/'nih/images_1024').glob('*.png')}
    cat = cat.replace(df=cat.df[cat.df.path.str.split('/').str[-1].isin(names)].reset_index(drop=True))
    part = np.where(np.arange(len(cat.df)) % 10 == 0, 'valid', 'train')       # the loaders need a non-empty valid part
    split = Split(pd.Series(part, index=cat.df.index), cat.df.patient, name='bench-90-10')
    cache = open_cache(build_cache(cat, size, tmp/'cache', n_workers=1, progress=False))
    crop = round(size*224/256)
    # 1. cache batches (64 images), rows shuffled as in training
    dl = cxr_dataloaders(cat, split, 'findings14', recipe='pham2020', size=crop, bs=64, n_channels=1, cache=cache).train
    idx = np.random.default_rng(0).permutation(len(dl.rows))
    batches = [idx[i:i+64] for i in range(0, len(idx) - 63, 64)]
    def cache_epoch():
        for b in batches: dl.create_batch(b)
    t_cache = statistics.median([_time(cache_epoch) for _ in range(repeats*5)])
    cache_rate = len(batches)*64/t_cache
    # 2. on-the-fly fastai DataLoaders decoding the files (item pipeline only, num_workers=0)
    raw = cxr_dataloaders(cat, split, 'findings14', recipe='pham2020', size=crop, bs=64, n_channels=1, cache=None, num_workers=0)
    rdl = raw.train                                                           # one item: decode, resize, crop
    raw_rate = rate(lambda i: rdl.create_item(i), list(range(rdl.n)), repeats)
    # 3. torchxrayvision's NIH dataset item on the same files
    import torchxrayvision as xrv, torchvision
    tf = torchvision.transforms.Compose([xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(224)])
    xd = xrv.datasets.NIH_Dataset(imgpath=str(SHARED/'nih/images_1024'), csvpath=str(xrv_table('Data_Entry_2017_v2020.csv.gz')), transform=tf, unique_patients=False, views=['PA', 'AP'])
    keep = np.flatnonzero(xd.csv['Image Index'].isin(names).to_numpy())
    xrv_rate = rate(lambda i: xd[i], list(keep), repeats)
    return pd.DataFrame([dict(loader=f'cxr_fast cache ({size}px array, crop {crop})', img_s=round(cache_rate)),
                         dict(loader='cxr_fast on-the-fly (decode files)', img_s=round(raw_rate, 1)),
                         dict(loader='torchxrayvision NIH_Dataset item', img_s=round(xrv_rate, 1))]).assign(
                         vs_torchxrayvision=lambda d: (d.img_s/xrv_rate).round(1))


PRECISIONS = [(prec, cl) for cl in (False, True) for prec in ('fp32', 'bf16', 'fp16')]


def upscale_files(cat, side:int, workers:int):
    "Rewrite every image of `cat` at `side` px (bilinear), so decoding from files costs what real NIH PNGs (1024 px) cost"
    import cv2
    from concurrent.futures import ThreadPoolExecutor
    def one(p):
        a = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        assert cv2.imwrite(str(p), cv2.resize(a, (side, side), interpolation=cv2.INTER_LINEAR))
    with ThreadPoolExecutor(workers) as ex: list(ex.map(one, [cat.root/p for p in cat.df.path]))


def bench_gpu(tmp, n=2048, bs=128, steps=30, size=224, arch='densenet121', device='cuda', file_size=1024):
    """DenseNet-121 at 224 px, per precision (fp32, bf16, fp16) with and without channels-last: img/s of a training step
    on a fixed batch already on the device (model only), and end to end from the cache and from the files (PNG at
    `file_size` px, decoded by the DataLoader's workers), each through `CXRDataLoader` and the recipe's GPU transforms;
    then 10x TTA inference from the cache. A step's time runs from the end of the previous step to the end of this one,
    so end-to-end includes fetching the batch; the median over the steps after the first 5 is reported."""
    from fastai.torch_core import set_seed
    from cxr_fast.synth import synth
    from cxr_fast.nih import load_nih
    from cxr_fast.splits import official_split
    from cxr_fast.cache import build_cache, open_cache
    from cxr_fast.data import cxr_dataloaders, subset_dl
    from cxr_fast.recipes import get_recipe
    from cxr_fast.models import cxr_model
    from cxr_fast.losses import masked_bce
    from cxr_fast.policies import PolicyMap, apply_policy
    from cxr_fast.ensemble import tta_predict
    from cxr_fast.train import cxr_learner
    cuda = device.startswith('cuda')
    torch.set_num_threads(os.cpu_count() if cuda else 1)              # the CPU dry run: one thread (no spinning on a shared machine)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    cat = load_nih(synth('nih', tmp/'nih', n=n, size=256, seed=0))
    upscale_files(cat, file_size, os.cpu_count() or 1)
    split = official_split(cat, valid_frac=0.1)
    pre = get_recipe('baltruschat2019', size).presize                  # 256 for 224 px
    cache = open_cache(build_cache(cat, pre, tmp/f'nih-{pre}', progress=False))
    kw = dict(labels='findings14', recipe='baltruschat2019', size=size, bs=bs, device=device)
    dls = cxr_dataloaders(cat, split, cache=cache, **kw)
    files = cxr_dataloaders(cat, split, cache=None, **kw)
    pm = PolicyMap(dls.cxr.labels)

    def rate(prec, channels_last, batches):
        set_seed(0)
        m = cxr_model(arch, 14, pretrained=False).to(device).train()
        if channels_last: m = m.to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(m.parameters(), 1e-4)
        scaler = torch.amp.GradScaler(device.split(':')[0], enabled=prec == 'fp16')
        ts, it = [], batches()
        sync(); t = time.perf_counter()
        for _ in range(steps):
            x, y = next(it)
            if channels_last: x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.split(':')[0], dtype=torch.bfloat16 if prec == 'bf16' else torch.float16, enabled=prec != 'fp32'):
                out = m(x)
            loss = masked_bce(out.float(), apply_policy(y, pm))       # loss from logits in fp32
            opt.zero_grad(); scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
            sync(); t2 = time.perf_counter(); ts.append(t2 - t); t = t2
        return bs/statistics.median(ts[min(5, steps - 1):])

    x0 = torch.randn(bs, 3, size, size, device=device); y0 = (torch.rand(bs, 14, device=device) > 0.8).float()
    def fixed():
        while True: yield x0, y0
    def loop(d):
        def batches():
            while True: yield from d.train
        return batches
    rows = []
    for prec, cl in PRECISIONS:
        mo, c, f = rate(prec, cl, fixed), rate(prec, cl, loop(dls)), rate(prec, cl, loop(files))
        rows.append(dict(precision=prec, channels_last=cl, model_only_img_s=round(mo), from_cache_img_s=round(c), from_files_img_s=round(f),
                         cache_vs_model=round(c/mo, 3), files_vs_model=round(f/mo, 3)))
    df = pd.DataFrame(rows); df['model_vs_fp32'] = (df.model_only_img_s/df.model_only_img_s[0]).round(2)
    learn = cxr_learner(dls, arch, pretrained=False, precision='bf16' if cuda else 'fp32', path=tmp/'gpu')
    tdl = subset_dl(dls, 'test')
    sync(); t = time.perf_counter(); tta_predict(learn, tdl, n=10); sync()
    return df, tdl.n/(time.perf_counter() - t)


def _time(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--repeats', type=int, default=5); ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--gpu-dry-run', action='store_true', help='run section 3 on the CPU with a tiny model to check its code (prints no numbers)')
    ap.add_argument('--only-gpu', action='store_true', help='skip sections 1 and 2')
    a = ap.parse_args()
    if not a.only_gpu: sections_1_2(a)
    section_3(a)


def sections_1_2(a):
    if SHARED is None or not SHARED.exists(): raise SystemExit(f'no real sample images (shared_data setting: {SHARED})')
    print(f'1. cache build on one core, {a.size}px (median of {a.repeats})'); print(bench_build(a.size, a.repeats).to_string(index=False))
    with tempfile.TemporaryDirectory() as d:
        print(f'\n2. loader throughput on one core, before GPU transforms (median of {a.repeats})'); print(bench_loader(a.size, a.repeats, Path(d)).to_string(index=False))


def section_3(a):
    if a.gpu_dry_run:
        with tempfile.TemporaryDirectory() as d:
            df, _ = bench_gpu(Path(d), n=96, bs=4, steps=2, size=32, arch='timm:test_resnet', device='cpu', file_size=64)
        ran = f"{len(df)} precision rows x (model only, from cache, from files) + TTA ran"
        print(f'\n3. GPU section: CPU dry run of its code ({ran}); its numbers are not GPU numbers and are not printed')
        print('rows:', ', '.join(f"{p}{' + channels_last' if cl else ''}" for p, cl in zip(df.precision, df.channels_last)), '; columns:', ', '.join(df.columns))
        return
    if not torch.cuda.is_available(): print('\n3. GPU training throughput: no GPU on this machine: not measured'); return
    with tempfile.TemporaryDirectory() as d:
        df, tta = bench_gpu(Path(d))
        print(f'\n3. GPU training throughput on {torch.cuda.get_device_name()}, DenseNet-121 at 224 px, batches of 128, img/s from the '
              f'median step time over 25 steps (torch {torch.__version__}, {os.cpu_count()} CPU cores for the file decoding)'); print(df.to_string(index=False))
        print(f'10x TTA inference from the cache (bf16): {tta:.0f} img/s')


if __name__ == '__main__': main()
