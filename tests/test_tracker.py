"Experiment tracking through fastai's own callbacks: tracker='tensorboard' writes TensorBoard event files next to the CSV log."
import pytest


def test_tensorboard_tracker(tmp_path):
    pytest.importorskip('tensorboard')
    from fastai.torch_core import set_seed
    from cxr_fast.synth import synth
    from cxr_fast.nih import load_nih
    from cxr_fast.splits import official_split
    from cxr_fast.data import cxr_dataloaders
    from cxr_fast.train import cxr_learner, fit_schedule
    nih = load_nih(synth('nih', tmp_path/'nih', n=60, size=32, seed=0))
    set_seed(0, reproducible=True)
    dls = cxr_dataloaders(nih, official_split(nih, valid_frac=0.2, seed=0), 'findings14', size=32, bs=16, n_channels=1)
    learn = cxr_learner(dls, 'timm:resnet10t', pretrained=False, path=tmp_path/'run')
    with learn.no_bar(), learn.no_logging(): fit_schedule(learn, 1, 1e-3, tracker='tensorboard')
    assert list((tmp_path/'run'/'tensorboard').glob('events.out.tfevents.*')) and (tmp_path/'run'/'history.csv').exists()
