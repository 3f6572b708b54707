"""One process of a distributed training run on synthetic CheXpert data (raw targets 1, 0, -1 and blank), launched by `tests/test_distributed.py` with
`accelerate launch --multi_gpu --num_processes 2` (gloo on the CPU): a run from the cache (and the same run
stopped after its first epoch, then resumed) and a run from the files (conditional training, a NaN loss on rank 1).
Run with plain `python` and an empty `--runs`, it is the one-process memory reference. It writes what the test checks to `OUT/rank<R>.json`: the weights' digests after every epoch, the
validation rows the metrics saw, `get_preds` inside and outside the distributed context, every file it saved, the
non-finite-loss warnings, and its memory before and after reading the whole of a large cache."""
import argparse, contextlib, gc, hashlib, io, json, time, warnings
from pathlib import Path
import numpy as np, psutil, torch
from accelerate import PartialState
from fastai.callback.core import Callback
from fastai.torch_core import set_seed, rank_distrib, num_distrib, distrib_barrier, get_model
from cxr_fast.chexpert import load_chexpert
from cxr_fast.splits import patient_split
from cxr_fast.cache import open_cache
from cxr_fast.data import cxr_dataloaders
from cxr_fast.train import cxr_learner, fit_schedule, distributed_ctx, ResumeCheckpoint

SAVED, _torch_save = [], torch.save
def _counting_save(obj, f, *args, **kwargs):
    "`torch.save`, recording the file: the test checks that only rank 0 writes checkpoints"
    SAVED.append(str(f)); return _torch_save(obj, f, *args, **kwargs)
torch.save = _counting_save

def digest(tensors) -> str:
    "sha256 of (name, tensor) pairs"
    h = hashlib.sha256()
    for k, v in tensors: h.update(k.encode()); h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()

def weights(model) -> dict:
    m = get_model(model)
    return dict(params=digest(m.named_parameters()), buffers=digest(m.named_buffers()))

def memory() -> dict:
    "This process's memory in MiB: psutil's rss, uss and pss, and the kernel's anonymous / file-backed resident split"
    m = psutil.Process().memory_full_info()
    st = {k: int(v.split()[0])/1024 for k, v in (l.split(':', 1) for l in Path('/proc/self/status').read_text().splitlines()) if k in ('RssAnon', 'RssFile')}
    return dict(rss=m.rss/2**20, uss=m.uss/2**20, pss=m.pss/2**20, **st)

class Record(Callback):
    "The weights after every epoch (before the best checkpoint is loaded) and the rows of the last validation as the metrics saw them"
    order = 90
    def before_fit(self): self.epochs = []
    def before_validate(self): self.fp, self.y = [], []
    def after_batch(self):
        if self.training: return
        self.fp.append(self.learn.to_detach(self.learn.xb[0].flatten(1).float().sum(1)))     # one number per image, gathered
        self.y.append(self.learn.to_detach(self.learn.yb[0]))
    def after_epoch(self): self.epochs.append(weights(self.learn.model))

class Poison(Callback):
    "A NaN loss on one rank only, at epoch 0, batch 1"
    order = 51
    def __init__(self, rank:int): self.rank = rank
    def after_loss(self):
        if self.training and rank_distrib() == self.rank and self.epoch == 0 and self.iter == 1:
            self.learn.loss_grad = self.learn.loss_grad * float('nan')

class Killed(Exception): "Stands for a kill right after the first epoch's checkpoint"
class Kill(Callback):
    order = ResumeCheckpoint.order + 1
    def after_epoch(self):
        if self.epoch == 0: raise Killed('stopped after epoch 0')

def history(learn) -> list: return [[float(v) for v in r] for r in learn.recorder.values]
def rows(b) -> list: return np.asarray(b, np.float64).tolist()
def nan_list(t): return [[None if np.isnan(v) else v for v in r] for r in rows(t)]

def train(cat, split, cache, path, cbs=(), resume=False, size=32, bs=16, epochs=2, **kwargs) -> tuple:
    "A fresh DataLoaders and Learner (same seeds on every rank), trained by `fit_schedule(..., distributed=True)`"
    set_seed(0, reproducible=True)
    dls = cxr_dataloaders(cat, split, recipe='liz2022', size=size, bs=bs, n_channels=1, seed=0, cache=cache)
    learn = cxr_learner(dls, 'timm:resnet10t', pretrained=False, path=path, **kwargs)
    rec = Record()
    out = io.StringIO()
    try:
        with learn.no_bar(), warnings.catch_warnings(record=True) as w, contextlib.redirect_stdout(out):
            warnings.simplefilter('always')
            fit_schedule(learn, epochs, 3e-3, distributed=True, resume=resume, cbs=[rec, *cbs])
    finally: print(out.getvalue(), end='')                               # still in the launch's output
    rec.printed = out.getvalue()
    return learn, rec, [str(x.message) for x in w if 'non-finite loss' in str(x.message)]

def evaluate(learn, rec) -> dict:
    "What the metrics saw in the last validation, and `get_preds` with and without the distributed context"
    m, hist = learn.metrics[0], history(learn)
    metric_y = torch.cat(m.targs)                                                         # before get_preds resets them
    with learn.no_bar():
        with distributed_ctx(learn): p_dist, t_dist = learn.get_preds(dl=learn.dls.valid)
        p_one, t_one = learn.get_preds(dl=learn.dls.valid)                                    # this process alone: the reference
    fp_one = torch.cat([b[0].flatten(1).float().sum(1) for b in learn.dls.valid])
    return dict(n_valid=len(learn.dls.valid.rows), ids=learn.dls.valid.ids, seen_fp=rows(torch.cat(rec.fp)), seen_y=nan_list(torch.cat(rec.y)),
                metric_rows=len(metric_y), metric_y=nan_list(metric_y), auc=float(learn.recorder.values[-1][-1]),
                fp_one=rows(fp_one), y_one=nan_list(t_one), preds_dist=rows(p_dist), y_dist=nan_list(t_dist), preds_one=rows(p_one),
                epochs=rec.epochs, final=weights(learn.model), history=hist, printed=rec.printed)

def read_cache(cat, split, big) -> dict:
    "Memory before and after reading every image of the large cache through the package's loader"
    dl = cxr_dataloaders(cat, split, recipe='plain', size=big.size, bs=16, n_channels=1, cache=big).valid
    dl = dl.new(rows=np.arange(len(cat.df)))
    gc.collect(); distrib_barrier(); before = memory(); t = time.time()
    synced = torch.distributed.is_initialized()                 # the test checks that the barriers were real
    n = sum(len(b[0]) for b in dl)
    took = time.time() - t
    gc.collect(); distrib_barrier(); after = memory()         # every process has read it all; spent batches still held by
    # reference cycles (16 MiB each) are collected first: where the collector last ran must not decide the measure
    distrib_barrier()     # both have measured before either unmaps the cache (a process whose peer had unmapped it counted every page as its own)
    return dict(before=before, after=after, images=n, seconds=took, cache_mib=big.array.nbytes/2**20, synced=synced)

def main():
    p = argparse.ArgumentParser()
    p.add_argument('data'); p.add_argument('out')
    p.add_argument('--cache', default=None, help='cache folder of the `cache` run (the `files` run decodes the files)')
    p.add_argument('--big-cache', default=None, help='a large cache of the same catalog to read whole (memory check)')
    p.add_argument('--runs', nargs='*', default=['cache', 'files'], help="'cache': a run, and one stopped after epoch 0 then resumed; "
                   "'files': conditional training, U-Ones+LSR, a NaN loss on rank 1 only")
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--size', type=int, default=32); p.add_argument('--bs', type=int, default=16, help='batch size of each process')
    a = p.parse_args()
    out, t0 = Path(a.out), time.time()
    cat = load_chexpert(a.data)
    split = patient_split(cat, (0.7, 0.3, 0.))
    res = dict(rank=rank_distrib(), world=num_distrib())
    if a.big_cache:
        if num_distrib() > 1: PartialState(cpu=True)     # the process group, so that the barriers of the measure hold (else no-ops until the first fit)
        res['memory'] = read_cache(cat, split, open_cache(a.big_cache))
    if 'cache' in a.runs:
        cache, t = open_cache(a.cache), time.time()
        learn, rec, nan = train(cat, split, cache, out/'cache'/'full', size=a.size, bs=a.bs, epochs=a.epochs)
        r = dict(full=evaluate(learn, rec), nan_warnings=nan)
        try: train(cat, split, cache, out/'cache'/'killed', [Kill()], size=a.size, bs=a.bs, epochs=a.epochs)
        except Killed: pass                                                   # fastai re-raises it with a longer message
        learn, rec, _ = train(cat, split, cache, out/'cache'/'killed', resume=True, size=a.size, bs=a.bs, epochs=a.epochs)
        res['cache'] = dict(**r, resumed=dict(epochs=rec.epochs, final=weights(learn.model)), saved=SAVED[:], seconds=time.time() - t)
    if 'files' in a.runs:
        SAVED.clear(); t = time.time()
        learn, rec, nan = train(cat, split, None, out/'files'/'full', [Poison(1)], size=a.size, bs=a.bs, epochs=a.epochs,
                                policy='U-Ones+LSR', conditional=True)
        res['files'] = dict(full=evaluate(learn, rec), nan_warnings=nan, saved=SAVED[:], seconds=time.time() - t)
    res['seconds'] = time.time() - t0
    (out/f'rank{rank_distrib()}.json').write_text(json.dumps(res))

if __name__ == '__main__': main()
