"""torchxrayvision DenseNet-121 weights in cxr_fast (cxr_fast.xrv, `cxr_model(..., pretrained='xrv-...')`):
the state-dict mapping reproduces XRV's own forward pass (features, pooled features and logits) on 1-channel 224 px
input, with random weights standing in for the download (no network in tests); the recorded normalisation is
XRV's [-1024, 1024] scaling on cxr_fast's [0, 1] scale; importing torchxrayvision does not silence warnings.
A last test runs the real weights, only when torchxrayvision's cache already holds them."""
import os, warnings
from types import SimpleNamespace
from pathlib import Path
from unittest import mock
import numpy as np, pytest, torch, torch.nn as nn
from fastai.vision.all import IntToFloatTensor, TensorImage
from cxr_fast.xrv import import_xrv, xrv_names, xrv_body, xrv_init_head, xrv_state_dict, XRV_MEAN, XRV_STD
from cxr_fast.models import cxr_model
from cxr_fast.recipes import normalize
from cxr_fast.train import check_stats

xrv = import_xrv()
NAME = 'xrv-densenet121-res224-all'
NIH = Path(__file__).parents[1]/'..'/'shared'/'data'/'nih'/'images_1024'

def random_xrv(seed=0):
    "XRV DenseNet, random weights; BatchNorm buffers set by one training pass and affine parameters perturbed, so none is at its default"
    torch.manual_seed(seed)
    xm = xrv.models.DenseNet(weights=None)
    with torch.no_grad():
        for p in xm.parameters(): p.add_(0.05 * torch.randn_like(p))
        for bn in xm.modules():
            if isinstance(bn, nn.BatchNorm2d): bn.momentum = None
        xm.train()(xrv_scale(torch.rand(4, 1, 224, 224)))
    return xm.eval()

def xrv_scale(u): return (2 * u - 1) * 1024   # [0, 1] -> XRV's [-1024, 1024]

@pytest.fixture(scope='module')
def xm(): return random_xrv()

@pytest.fixture(scope='module')
def x(): return xrv_scale(torch.rand(2, 1, 224, 224, generator=torch.Generator().manual_seed(1)))

def test_names():
    assert xrv_names()[0] == NAME
    assert {f'xrv-densenet121-res224-{k}' for k in ('all', 'nih', 'pc', 'chex', 'rsna', 'mimic_nb', 'mimic_ch')} <= set(xrv_names())
    with pytest.raises(ValueError, match='unknown torchxrayvision weights'): xrv_body('xrv-resnet50-res512-all')

def test_body_features_match_xrv(xm, x):
    body = xrv_body(xm, n_in=1).eval()
    with torch.no_grad(): ours, theirs, pooled = body(x), torch.relu(xm.features(x)), xm.features2(x)
    assert ours.shape == (2, 1024, 7, 7)
    assert theirs.abs().max() > 0.1                        # not a trivially zero map
    assert (ours - theirs).abs().max() < 1e-5
    assert (ours.mean((2, 3)) - pooled).abs().max() < 1e-5
    # every body tensor came from XRV (none left at timm's init)
    sd = xrv_state_dict(xm)
    assert set(sd) == set(body.state_dict()) and all(torch.equal(v, body.state_dict()[k]) for k, v in sd.items())

def test_cxr_model_logits_match_xrv(xm, x):
    with mock.patch('cxr_fast.xrv.xrv_densenet', lambda name: xm):   # stands in for the download
        m = cxr_model('densenet121', len(xm.targets), pretrained=NAME, n_in=1).eval()
    assert xrv_init_head(m.head.fc[-1], xm, xm.targets) == xm.targets
    with torch.no_grad(): assert (m(x) - xm(x)).abs().max() < 1e-5
    assert m.norm_stats == ([0.5], [1 / 2048]) and m.input_size == 224 and m.pretrained == NAME

def test_three_channels_on_grey(xm, x):
    b1, b3 = xrv_body(xm, n_in=1).eval(), xrv_body(xm, n_in=3).eval()
    with torch.no_grad(): assert (b3(x.expand(-1, 3, -1, -1)) - b1(x)).abs().max() < 1e-3

def test_norm_stats_are_xrvs_scaling():
    "The DataLoaders' IntToFloatTensor + Normalize with the model's stats give xrv.utils.normalize(img, 255)"
    assert (XRV_MEAN, XRV_STD) == (0.5, 1 / 2048)
    img = np.random.default_rng(0).integers(0, 256, (1, 1, 32, 32), dtype=np.uint8)
    ours = normalize(1, ([XRV_MEAN], [XRV_STD]))(IntToFloatTensor()(TensorImage(torch.from_numpy(img))))
    assert np.abs(ours.numpy() - xrv.utils.normalize(img, 255)).max() < 1e-2   # float32 rounding at |x| <= 1024

def test_check_stats_warns_on_imagenet_stats(xm):
    with mock.patch('cxr_fast.xrv.xrv_densenet', lambda name: xm):
        m = cxr_model('densenet121', 3, pretrained=NAME, n_in=1)
    cxr = lambda stats: SimpleNamespace(normalize=normalize(1, stats))
    with pytest.warns(UserWarning, match='pass stats=model.norm_stats'): check_stats(cxr(None), m, m.pretrained)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        check_stats(cxr(m.norm_stats), m, m.pretrained)

BLANKET = "('ignore', None, Warning, None, 0)"   # warnings.filterwarnings('ignore') as a filters entry

def test_import_keeps_warnings():
    "torchxrayvision's import adds a blanket 'ignore' filter; import_xrv does not let it stay"
    import subprocess, sys
    run = lambda code: subprocess.run([sys.executable, '-c', f'import warnings\n{code}\nprint({BLANKET} in warnings.filters)'],
                                      capture_output=True, text=True)
    r = run('import torchxrayvision')
    assert r.stdout.split()[-1] == 'True', r.stderr[-2000:]      # the leak import_xrv guards against
    r = run('from cxr_fast.xrv import import_xrv, xrv_names\nimport_xrv(); xrv_names()')
    assert r.stdout.split()[-1] == 'False', r.stderr[-2000:]

def test_wrong_arch():
    for arch, kw in [('resnet50', {}), ('timm:densenet121', {}), ('densenet169', {})]:
        with pytest.raises(ValueError, match="fit arch 'densenet121'"): cxr_model(arch, 3, pretrained=NAME, **kw)

def _weights_file(name): return os.path.basename(xrv.models.model_urls[name[len('xrv-'):]]['weights_url'])

def _cached(name): return os.path.isfile(os.path.join(xrv.utils.get_cache_dir(), _weights_file(name)))

def _nih_image(size=224):
    from cxr_fast.cache import square_cxr
    pngs = sorted(NIH.glob('*.png'))[:1]
    if not pngs: pytest.skip('no NIH images under shared/data')
    return square_cxr(pngs[0], size)

def _same_on_image(m, xm, img):
    "cxr_fast's path (uint8 -> IntToFloatTensor -> Normalize(model.norm_stats) -> model) vs XRV's (normalize -> forward)"
    ours = normalize(1, m.norm_stats)(IntToFloatTensor()(TensorImage(torch.from_numpy(img)[None, None])))
    theirs = torch.from_numpy(xrv.utils.normalize(img, 255))[None, None]
    with torch.no_grad(): p, q = torch.sigmoid(m(ours)), torch.sigmoid(xm.classifier(xm.features2(theirs)))
    assert (p - q).abs().max() < 1e-4, (p - q).abs().max()

def test_by_name_through_torchxrayvisions_loader(xm, tmp_path):
    "The by-name path: torchxrayvision's own get_weights/torch.load, from a cache holding a random-weights file"
    torch.save(xm, tmp_path/_weights_file(NAME))
    with mock.patch.object(xrv.utils, 'get_cache_dir', lambda: str(tmp_path)):
        m = cxr_model('densenet121', len(xm.targets), pretrained=NAME, n_in=1).eval()
        xrv_init_head(m.head.fc[-1], NAME, xm.targets)
    _same_on_image(m, xm, _nih_image())

def _cached(name):
    url = xrv.models.model_urls[name[len('xrv-'):]]['weights_url']
    return os.path.isfile(os.path.join(xrv.utils.get_cache_dir(), os.path.basename(url)))

@pytest.mark.skipif(not _cached(NAME), reason='torchxrayvision weights not in its cache (no download in tests)')
def test_real_weights_on_a_real_image():
    img = _nih_image()
    xm = xrv.models.DenseNet(weights=NAME[len('xrv-'):])
    m = cxr_model('densenet121', len(xm.targets), pretrained=NAME, n_in=1).eval()
    xrv_init_head(m.head.fc[-1], xm, xm.targets)
    _same_on_image(m, xm, img)
