"""Two-process training on the CPU (gloo), as `accelerate launch` runs it on several GPUs: `tests/distributed/train_ddp.py`
trains a tiny model on synthetic CheXpert images (raw targets 1, 0, -1 and blank) once from the cache and once from
the files. Checked: both processes finish; their weights are identical after every epoch; the metrics and
`get_preds` see every validation image exactly once, in the loader's order, with the raw targets intact; only rank 0
writes checkpoints and logs, and a run stopped after its first epoch resumes to bit-identical weights; a NaN loss on
one process is skipped on both; only rank 0 reports a better model; and the memory-mapped cache is shared by the
processes, not copied into each.

`accelerate launch --cpu --num_processes 2` starts ONE process unless an MPI hostfile is given (accelerate launches
several CPU processes only through mpirun), so the test uses `--multi_gpu`, which starts the processes through
torch's elastic launcher (torchrun) on any machine; `distributed_ctx` tells accelerate it is on the CPU (gloo)."""
import json, os, socket, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd
import pytest

SCRIPT = Path(__file__).parent/'distributed'/'train_ddp.py'
N_IMAGES, BIG = 399, 512          # 399 synthetic images: 123 validation images (odd: the last batch is padded); 512 px cache: 100 MB
# glibc keeps freed batch buffers of tens of MB in its heap unless told to map them (the single process's anonymous
# memory then grows by ~500 MB reading the large cache); with a fixed threshold, anonymous memory measures what is kept
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MALLOC_MMAP_THRESHOLD_': '65536', 'PYTHONWARNINGS': 'ignore'}


def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def launch(data:Path, out:Path, *args, processes=2) -> tuple:
    "Run the script in `processes` processes (plain python for 1); returns (exit code, seconds, output tail, per-rank results)"
    out.mkdir(parents=True)
    exe = Path(sys.executable).parent
    cmd = ([str(exe/'accelerate'), 'launch', '--multi_gpu', '--num_processes', str(processes), '--num_machines', '1',
            '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_port', str(free_port())] if processes > 1 else [sys.executable])
    t = time.time()
    r = subprocess.run(cmd + [str(SCRIPT), str(data), str(out), *map(str, args)], env=ENV, capture_output=True, text=True, timeout=600)
    res = [json.loads(f.read_text()) for f in sorted(out.glob('rank*.json'))]
    return r.returncode, time.time() - t, (r.stdout + r.stderr)[-3000:], res


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "The synthetic data, its caches, the two-process launch (a cache run with a resume, a files run) and the one-process memory run"
    from cxr_fast.synth import synth
    from cxr_fast.chexpert import load_chexpert
    from cxr_fast.cache import build_cache
    tmp = tmp_path_factory.mktemp('ddp')
    t = time.time()
    data = synth('chexpert', tmp/'chex', n=N_IMAGES, size=32, seed=0)
    cat = load_chexpert(data)
    small, big = (build_cache(cat, s, tmp/f'cache{s}', progress=False, n_workers=1) for s in (32, BIG))
    setup = time.time() - t
    two = launch(data, tmp/'two', '--cache', small, '--big-cache', big)
    one = launch(data, tmp/'one', '--big-cache', big, '--runs', processes=1)
    print(f"\nsetup {setup:.0f} s; two processes {two[1]:.0f} s, one-process memory run {one[1]:.0f} s; inside the script: "
          + ', '.join(f"{k} {two[3][0][k]['seconds']:.0f} s" for k in ('cache', 'files') if two[3] and k in two[3][0]))
    return dict(two=two, one=one, tmp=tmp/'two')


def ranks(runs, which='two', name=None) -> list:
    "Each rank's results (of the run `name`, 'cache' or 'files')"
    rc, _, log, res = runs[which]
    assert rc == 0, f"the {which} launch exited {rc}:\n{log}"
    return [r[name] for r in res] if name else res


def test_both_ranks_finish(runs):
    res = ranks(runs)
    assert [r['rank'] for r in res] == [0, 1] and all(r['world'] == 2 and 'cache' in r and 'files' in r for r in res)


@pytest.mark.parametrize('name', ['cache', 'files'])
def test_weights_identical_across_ranks(runs, name):
    r0, r1 = (r['full'] for r in ranks(runs, name=name))
    assert len(r0['epochs']) == 2 and r0['epochs'] == r1['epochs']       # parameters and buffers, after every epoch
    assert r0['final'] == r1['final']
    assert r0['epochs'][0] != r0['epochs'][1]                            # it trained


def table(rows) -> np.ndarray: return np.array([[np.nan if v is None else v for v in r] for r in rows], np.float64)


@pytest.mark.parametrize('name', ['cache', 'files'])
def test_validation_is_every_image_once_in_loader_order(runs, name):
    res = ranks(runs, name=name)
    for r in res:
        f = r['full']
        n = f['n_valid']
        assert n % 2 == 1                                                # the last global batch was padded with a repeated row
        # the reference: this process alone (a loader holds all its rows; nothing gathered)
        want_y, want_fp, want_p = table(f['y_one']), np.array(f['fp_one']), np.array(f['preds_one'])
        assert want_y.shape[0] == len(want_fp) == n and np.isnan(want_y).any() and (want_y == -1).any()   # blanks and uncertain kept raw
        # what the metrics saw during the fit, gathered from both processes
        np.testing.assert_array_equal(np.array(f['seen_fp']), want_fp)   # each image once, in the loader's order
        np.testing.assert_array_equal(table(f['seen_y']), want_y)
        np.testing.assert_array_equal(table(f['metric_y']), want_y)      # AUCMulti's targets
        assert f['metric_rows'] == n
        # get_preds inside the distributed context: gathered, the same rows and values as one process
        np.testing.assert_array_equal(table(f['y_dist']), want_y)
        np.testing.assert_allclose(np.array(f['preds_dist']), want_p, atol=1e-6)
        assert len(f['ids']) == n == len(set(f['ids']))
    assert res[0]['full']['history'] == res[1]['full']['history']       # the same losses and AUC logged on both


def test_checkpoints_written_once_by_rank_0(runs):
    for name in ('cache', 'files'):
        r0, r1 = ranks(runs, name=name)
        assert r1['saved'] == [], r1['saved']
        names = [Path(f).name for f in r0['saved'] if Path(f).parts[-3] == 'full']
        assert names.count('resume.tmp') == 3 and 'best.pth' in names    # after epochs 0 and 1, and at the end
        hist = pd.read_csv(runs['tmp']/name/'full'/'history.csv')
        assert list(hist.epoch) == [0, 1]                               # one log, no line twice


def test_stopped_after_the_first_epoch_resumes_to_the_uninterrupted_weights(runs):
    import torch
    r0, r1 = ranks(runs, name='cache')
    tmp = runs['tmp']/'cache'
    for r in (r0, r1):
        assert r['resumed']['epochs'] == [r0['full']['epochs'][1]]      # the resumed run trained epoch 1 only, bit-identical
        assert r['resumed']['final'] == r0['full']['final']
    st = torch.load(tmp/'killed/models/resume.pth', weights_only=False)
    assert st['epoch'] == 2 and st['done']
    full, resumed = (pd.read_csv(tmp/d/'history.csv').drop(columns='time') for d in ('full', 'killed'))
    pd.testing.assert_frame_equal(full, resumed, check_exact=True)       # epoch 0 from the stopped run, epoch 1 from the resumed one


@pytest.mark.parametrize('name', ['cache', 'files'])
def test_only_rank_0_reports_a_better_model(runs, name):
    r0, r1 = ranks(runs, name=name)
    assert 'Better model found at epoch 0' in r0['full']['printed'], r0['full']['printed']
    assert 'Better model' not in r1['full']['printed'], r1['full']['printed']


def test_nan_loss_on_one_rank_is_skipped_on_both(runs):
    r0, r1 = ranks(runs, name='files')
    assert len(r0['nan_warnings']) == len(r1['nan_warnings']) == 1, (r0['nan_warnings'], r1['nan_warnings'])
    assert 'epoch 0, batch 1' in r0['nan_warnings'][0]


def test_cache_is_shared_not_copied(runs):
    (one,) = ranks(runs, 'one')
    two = ranks(runs)
    mib = one['memory']['cache_mib']
    assert mib > 95 and one['memory']['images'] == N_IMAGES
    def grow(m, k): return m['after'][k] - m['before'][k]
    m1 = one['memory']
    assert grow(m1, 'RssFile') > 0.8*mib                                 # reading maps the cache's pages: the measure sees it
    rows = {'one process': m1, **{f"rank {r['rank']} of 2": r['memory'] for r in two}}
    print('\n' + pd.DataFrame({k: {f'{q} +MiB': round(grow(m, q)) for q in ('rss', 'RssAnon', 'RssFile', 'pss')} | {'rss MiB': round(m['after']['rss'])}
                               for k, m in rows.items()}).T.to_string())
    for r in two:
        m = r['memory']
        assert m['images'] == N_IMAGES and m['synced']                  # both measured at the same points (barriers in a process group)
        # a copy would add the whole cache (100 MiB) to the process's own memory; a batch of 16 float images is 16 MiB
        assert grow(m, 'RssAnon') < 0.5*mib, m                           # not copied into the process's own memory
        assert grow(m, 'rss') < grow(m1, 'rss') + 0.5*mib, (m, m1)       # resident memory grows as one process's does
    # proportional set size splits shared pages between the processes that map them: the two processes' shares of
    # file-backed memory add up to one cache (two if each had its own copy of the pages)
    assert sum(grow(r['memory'], 'pss') - grow(r['memory'], 'RssAnon') for r in two) < 1.5*mib, [r['memory'] for r in two]
