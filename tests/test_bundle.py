"""The model bundle (cxr_fast.bundle): a tiny model trained on synthetic NIH is saved, reloaded in a fresh process
with identical predictions, preprocesses files exactly as the validation DataLoader does, and predicts on a folder
with a bad file in the middle (named, skipped, the others predicted); overlays, calibration, DICOM and ensembles."""
import json, subprocess, sys, warnings
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
from PIL import Image
from fastai.torch_core import set_seed
from cxr_fast.synth import synth
from cxr_fast.nih import load_nih
from cxr_fast.splits import official_split
from cxr_fast.data import cxr_dataloaders
from cxr_fast.train import cxr_learner, fit_schedule
from cxr_fast.bundle import save_bundle, load_bundle, predict_ensemble, WEIGHTS, CONFIG


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "A resnet10t trained 1 epoch at 48 px on synthetic NIH, its DataLoaders, bundle and some test files"
    tmp = tmp_path_factory.mktemp('bundle')
    root = synth('nih', tmp/'data', n=80, size=48, seed=0)
    cat = load_nih(root)
    split = official_split(cat, valid_frac=0.2, seed=0)
    set_seed(0, reproducible=True)
    dls = cxr_dataloaders(cat, split, 'findings14', recipe='plain', size=48, bs=16, n_channels=1, seed=0, cache=None, device='cpu')
    learn = cxr_learner(dls, 'timm:resnet10t', pretrained=False, path=tmp/'run')
    fit_schedule(learn, 1, 3e-3, log=None, checkpoint=False)
    files = [root/p for p in cat.df.path[split.subset == 'test']][:6]
    return dict(tmp=tmp, root=root, dls=dls, learn=learn, files=files, bundle=save_bundle(learn, tmp/'run'/'model', run='test'))


def test_bundle_files_and_config(run):
    b = run['bundle']
    assert (b/WEIGHTS).exists() and (b/CONFIG).exists()
    cfg = json.loads((b/CONFIG).read_text())
    assert cfg['labels'] == run['dls'].cxr.labels
    r = cfg['recipe']
    assert (r['name'], r['size'], r['presize'], r['crop'], r['n_channels'], r['crop_mode']) == ('plain', 48, 48, 48, 1, 'centre')
    assert len(r['mean']) == len(r['std']) == 1 and 'decode_cxr' in r['rule']
    assert cfg['model']['arch'] == 'timm:resnet10t' and cfg['model']['n_in'] == 1 and cfg['model']['n_out'] == 14
    assert set(cfg['thresholds'].values()) == {0.5} and cfg['calibration'] is None
    p = cfg['provenance']
    assert p['dataset'] == 'nih' and p['split']['seed'] == 0 and len(p['catalog_fingerprint']) == 64 and p['run'] == 'test'
    assert 'valid_loss' in p['metrics']


def test_preprocess_equals_the_validation_batch(run):
    b, dl = load_bundle(run['bundle']), run['dls'].valid
    xb = dl.one_batch()[0].cpu()
    x = b.preprocess([run['root']/p for p in dl.ids[:len(xb)]])
    assert x.shape == xb.shape and torch.allclose(x, xb, atol=1e-6)


def test_fresh_process_gives_identical_predictions(run):
    files, out = run['files'], run['tmp']/'fresh.csv'
    here = load_bundle(run['bundle']).predict(files)
    with torch.no_grad(): ref = torch.sigmoid(run['learn'].model.cpu().eval()(load_bundle(run['bundle']).preprocess(files))).numpy()
    code = ("import sys; from cxr_fast.bundle import load_bundle; "
            "load_bundle(sys.argv[1]).predict(sys.argv[3:]).to_csv(sys.argv[2], index=False)")
    r = subprocess.run([sys.executable, '-c', code, str(run['bundle']), str(out), *map(str, files)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    there = pd.read_csv(out)
    labels = load_bundle(run['bundle']).labels
    assert there.path.tolist() == here.path.tolist() == list(map(str, files))
    np.testing.assert_allclose(there[labels].to_numpy(), here[labels].to_numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(here[labels].to_numpy(), ref, atol=1e-6, rtol=0)
    assert (there[[f'{l}_call' for l in labels]].to_numpy() == (there[labels].to_numpy() >= 0.5)).all()


def test_bad_file_in_the_middle_is_named_and_skipped(run):
    folder = run['tmp']/'inputs'; folder.mkdir()
    for i, f in enumerate(run['files'][:4]): (folder/f'{i}.png').write_bytes(f.read_bytes())
    (folder/'1_bad.png').write_bytes(b'not an image at all')
    (folder/'2_empty.jpg').write_bytes(b'')
    missing = run['tmp']/'nope.png'
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        df = load_bundle(run['bundle']).predict([folder, missing], out=run['tmp']/'pred')
    assert [Path(p).name for p in df.path] == ['0.png', '1.png', '2.png', '3.png']
    skipped = {Path(s['path']).name: s['error'] for s in df.attrs['skipped']}
    assert set(skipped) == {'1_bad.png', '2_empty.jpg', 'nope.png'}, skipped
    assert 'empty' in skipped['2_empty.jpg'] and 'no such file' in skipped['nope.png']
    msg = ' '.join(str(x.message) for x in w)
    assert all(n in msg for n in skipped)
    assert pd.read_csv(run['tmp']/'pred'/'predictions.csv').shape == df.shape
    assert len(pd.read_csv(run['tmp']/'pred'/'skipped.csv')) == 3


def test_cam_overlays_one_per_image_and_called_label(run):
    b = load_bundle(save_bundle(run['learn'], run['tmp']/'low', thresholds=0.))
    df = b.predict(run['files'][:2], cam=True, out=run['tmp']/'cams', labels=['Effusion', 'Mass'])
    assert list(df.columns) == ['path', 'Effusion', 'Mass', 'Effusion_call', 'Mass_call']
    assert len(df.attrs['cams']) == 4
    for f in df.attrs['cams']: assert Image.open(f).size[0] > 100
    with pytest.raises(KeyError, match='unknown labels'): b.predict(run['files'][:1], labels=['Nope'])


def test_calibration_and_thresholds_are_applied(run):
    from cxr_fast.calibration import Calibrator
    labels = run['dls'].cxr.labels
    cal = Calibrator('temperature', labels, [2.]*len(labels))
    th = np.linspace(0.3, 0.6, len(labels))
    b = load_bundle(save_bundle(run['learn'], run['tmp']/'cal', thresholds=th, calibration=cal))
    raw = load_bundle(run['bundle']).predict(run['files'])[labels].to_numpy()
    df = b.predict(run['files'])
    np.testing.assert_allclose(df[labels].to_numpy(), cal.apply(raw), atol=1e-6)
    assert (df[[f'{l}_call' for l in labels]].to_numpy() == (df[labels].to_numpy() >= th)).all()


def test_dicom_gets_the_png_probabilities(run):
    pytest.importorskip('pydicom')
    from cxr_fast.images import read_cxr
    from cxr_fast.dicom import write_dicom
    g, f = read_cxr(run['files'][0]), run['files'][0]
    d2, d1 = write_dicom(g, run['tmp']/'m2.dcm'), write_dicom(255 - g, run['tmp']/'m1.dcm', photometric='MONOCHROME1')
    df = load_bundle(run['bundle']).predict([f, d2, d1])
    p = df.drop(columns='path').filter(regex='^(?!.*_call$)').to_numpy()
    np.testing.assert_allclose(p[1:], np.repeat(p[:1], 2, 0), atol=1e-4)


def test_ensemble_mean_and_agreement(run):
    b, low = load_bundle(run['bundle']), load_bundle(save_bundle(run['learn'], run['tmp']/'ens_low', thresholds=0.))
    one = b.predict(run['files'])
    ens = predict_ensemble([b, run['tmp']/'ens_low'], run['files'])
    np.testing.assert_allclose(ens[b.labels].to_numpy(), one[b.labels].to_numpy(), atol=1e-6)
    agree = ens[[f'{l}_agree' for l in b.labels]].to_numpy()
    assert ((agree == 1 + one[[f'{l}_call' for l in b.labels]].to_numpy())).all()
    assert ens.attrs['n_members'] == 2 and low.labels == b.labels
    panels = predict_ensemble([b, low], run['files'][:2], labels=['Mass'], cam=True, out=run['tmp']/'ens').attrs['cams']
    assert len(panels) == 2 and all(Image.open(f).size[0] > 100 for f in panels)


@pytest.mark.parametrize('recipe', ['pham2020', 'baltruschat2019', 'liz2022', 'fisher2025'])
def test_preprocess_follows_each_recipe(run, recipe, tmp_path):
    "Recipes that crop below presize (Pham) or resize the crop on the GPU (Baltruschat): still the validation batch"
    dls = cxr_dataloaders(run['dls'].cxr.catalog, run['dls'].cxr.split, 'findings14', recipe=recipe, size=40, bs=8, n_channels=3,
                          cache=None, device='cpu')
    learn = cxr_learner(dls, 'timm:resnet10t', pretrained=False, path=tmp_path)
    b = load_bundle(save_bundle(learn, tmp_path/'model'))
    xb = dls.valid.one_batch()[0].cpu()
    x = b.preprocess([run['root']/p for p in dls.valid.ids[:len(xb)]])
    assert x.shape == xb.shape == (len(xb), 3, 40, 40) and torch.allclose(x, xb, atol=1e-6)
    assert b.recipe['name'] == recipe and b.config['provenance']['metrics'] == {}


def test_meta_model_uses_the_training_means_for_files_without_meta(run, tmp_path):
    d = run['dls'].cxr
    dls = cxr_dataloaders(d.catalog, d.split, 'findings14', recipe='plain', size=48, bs=8, n_channels=1, meta=True, cache=None, device='cpu')
    learn = cxr_learner(dls, 'timm:resnet10t', pretrained=False, path=tmp_path)
    b = load_bundle(save_bundle(learn, tmp_path/'model'))
    assert b.model.n_meta == 3 and b.config['meta']['fill'] == list(dls.cxr.meta_encoder.fill)
    df = b.predict(run['files'][:3])
    fill = torch.tensor([dls.cxr.meta_encoder.fill]*3, dtype=torch.float32)
    with torch.no_grad(): ref = torch.sigmoid(learn.model.cpu().eval()(b.preprocess(run['files'][:3]), fill)).numpy()
    np.testing.assert_allclose(df[b.labels].to_numpy(), ref, atol=1e-6)
