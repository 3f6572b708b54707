"""A CPU training run killed with SIGKILL in the middle of an epoch resumes from its last checkpoint and ends with
exactly the numbers of a run that was never interrupted."""
import os, signal, subprocess, sys, time
from pathlib import Path
import pandas as pd
import pytest
import torch

SCRIPT = '''
import sys
from pathlib import Path
from fastai.torch_core import set_seed
from cxr_fast.nih import load_nih
from cxr_fast.splits import official_split
from cxr_fast.data import cxr_dataloaders
from cxr_fast.train import cxr_learner, fit_schedule
data, out, resume = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == '1'
cat = load_nih(data)
split = official_split(cat, valid_frac=0.2, seed=0)
set_seed(0, reproducible=True)
dls = cxr_dataloaders(cat, split, 'findings14', recipe='liz2022', size=48, bs=16, n_channels=1, seed=0)
learn = cxr_learner(dls, 'timm:resnet10t', pretrained=False, path=out)
with learn.no_bar(), learn.no_logging(): fit_schedule(learn, 5, 3e-3, 'plateau', resume=resume)
'''


def run(tmp, data, out, resume=False):
    return subprocess.Popen([sys.executable, str(tmp/'train.py'), str(data), str(out), '1' if resume else '0'], env={**os.environ, 'OMP_NUM_THREADS': '1'})


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    from cxr_fast.synth import synth
    data = synth('nih', tmp_path/'nih', n=300, size=48, seed=0)
    (tmp_path/'train.py').write_text(SCRIPT)
    assert run(tmp_path, data, tmp_path/'full').wait(timeout=600) == 0
    p = run(tmp_path, data, tmp_path/'killed')
    ckpt = tmp_path/'killed/models/resume.pth'
    t0 = time.time()
    while time.time() - t0 < 600:
        if ckpt.exists() and torch.load(ckpt, weights_only=False)['epoch'] >= 2: break
        if p.poll() is not None: pytest.fail('the run ended before it could be killed')
        time.sleep(0.05)
    time.sleep(0.5)                                    # into the next epoch
    p.send_signal(signal.SIGKILL); p.wait()
    done = torch.load(ckpt, weights_only=False)['epoch']
    assert 2 <= done < 5, done                         # killed before the end
    assert run(tmp_path, data, tmp_path/'killed', resume=True).wait(timeout=600) == 0
    full, resumed = (pd.read_csv(tmp_path/d/'history.csv').drop(columns='time') for d in ('full', 'killed'))
    assert len(resumed) >= 5 and list(resumed.epoch)[-5:] == [0, 1, 2, 3, 4] or set(resumed.epoch) == set(range(5))
    # rows of the finished epochs (a killed epoch never reaches the log), then the resumed ones: identical numbers
    resumed = resumed.drop_duplicates('epoch', keep='last').reset_index(drop=True)
    pd.testing.assert_frame_equal(full, resumed, check_exact=True)
