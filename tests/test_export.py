"""ONNX and TorchScript export (cxr_fast.export): the written-down preprocessing equals the recipes' fastai pipeline,
and the exported files give the PyTorch model's probabilities (onnxruntime on the CPU, max abs diff < 1e-4) on real
NIH images (skipped when the shared data is absent) and on synthetic PNGs."""
import json
from pathlib import Path
import numpy as np, pytest, torch, cv2
from cxr_fast.models import cxr_model
from cxr_fast.export import (export_onnx, export_torchscript, onnx_probs, onnx_input, pipeline_input, preprocess_spec,
                             sidecar_path)

pytest.importorskip('onnxruntime')
NIH = Path(__file__).resolve().parents[2]/'shared'/'data'/'nih'/'images_1024'
TOL = 1e-4

def real_images(n=3):
    files = sorted(NIH.glob('*.png'))[:n] if NIH.exists() else []
    if not files: pytest.skip(f'no NIH images in {NIH}')
    return files

@pytest.fixture(scope='module')
def synth_images(tmp_path_factory):
    d, rng = tmp_path_factory.mktemp('png'), np.random.default_rng(0)
    out = []
    for i, (h, w, bits) in enumerate([(300, 260, 8), (280, 330, 8), (310, 300, 16)]):
        a = rng.integers(0, 2**bits, (h, w)).astype(np.uint8 if bits == 8 else np.uint16)
        cv2.imwrite(str(d/f's{i}.png'), cv2.GaussianBlur(a, (9, 9), 3)); out.append(d/f's{i}.png')
    return out

def torch_probs(model, x, meta=None):
    with torch.no_grad(): return torch.sigmoid(model(torch.as_tensor(x), meta)).numpy()

@pytest.mark.parametrize('recipe', ['plain', 'pham2020', 'baltruschat2019', 'fisher2025', 'liz2022'])
def test_numpy_steps_match_the_pipeline(recipe, synth_images):
    files = synth_images + (sorted(NIH.glob('*.png'))[:2] if NIH.exists() else [])
    for nc in (1, 3):
        spec = preprocess_spec(recipe, 64, nc)
        np.testing.assert_allclose(onnx_input(files, spec), pipeline_input(files, spec).numpy(), atol=1e-4)

def _onnx_parity(model, files, spec, tmp_path):
    f = export_onnx(model, tmp_path/'m.onnx', preprocessing=spec)
    side = json.loads(sidecar_path(f).read_text())
    got = onnx_probs(f, onnx_input(files, side['preprocess']))            # what an ONNX user does, from the sidecar
    ref = torch_probs(model, pipeline_input(files, spec))                  # what cxr_fast does
    d = np.abs(got - ref).max()
    print(f'max |onnx - torch| = {d:.2e} on {len(files)} images')
    assert got.shape == ref.shape and d < TOL
    return d

def test_onnx_parity_real_nih(tmp_path):
    files = real_images()
    model = cxr_model('timm:resnet10t', 5, n_in=3, input_size=224).eval()
    _onnx_parity(model, files, preprocess_spec('pham2020', 224, 3, model.norm_stats), tmp_path)

def test_onnx_parity_synthetic(synth_images, tmp_path):
    model = cxr_model('timm:resnet10t', 3, n_in=1, input_size=64).eval()
    _onnx_parity(model, synth_images, preprocess_spec('baltruschat2019', 64, 1, model.norm_stats), tmp_path)

def test_densenet_and_meta_models_export(synth_images, tmp_path):
    dn = cxr_model('densenet121', 2, n_in=3, input_size=64).eval()
    x = onnx_input(synth_images, preprocess_spec('plain', 64, 3))
    assert np.abs(onnx_probs(export_onnx(dn, tmp_path/'dn.onnx'), x) - torch_probs(dn, x)).max() < TOL
    mm = cxr_model('timm:resnet10t', 2, n_in=1, n_meta=3, input_size=64).eval()
    f = export_onnx(mm, tmp_path/'meta.onnx')
    x, meta = onnx_input(synth_images, preprocess_spec('plain', 64, 1)), np.random.default_rng(0).random((3, 3)).astype(np.float32)
    assert np.abs(onnx_probs(f, x, meta) - torch_probs(mm, x, torch.from_numpy(meta))).max() < TOL
    assert set(json.loads(sidecar_path(f).read_text())['inputs']) == {'image', 'meta'}

def test_torchscript_parity(synth_images, tmp_path):
    model = cxr_model('timm:resnet10t', 3, n_in=1, input_size=64).eval()
    spec = preprocess_spec('pham2020', 64, 1)
    ts = torch.jit.load(str(export_torchscript(model, tmp_path/'m.pt', preprocessing=spec)))
    x = torch.from_numpy(onnx_input(synth_images, spec))
    with torch.no_grad(): assert (ts(x) - torch.sigmoid(model(x))).abs().max() < 1e-5

def test_bundle_exports_with_its_preprocessing(synth_images, tmp_path):
    bundle = pytest.importorskip('cxr_fast.bundle')
    from cxr_fast.calibration import fit_calibration
    model = cxr_model('timm:resnet10t', 2, n_in=1, input_size=64).eval()
    spec = preprocess_spec('pham2020', 64, 1)
    spec.pop('eval_crop')                                                  # a bundle's recipe entry has no eval_crop
    rng = np.random.default_rng(0)
    cal = fit_calibration(rng.random((200, 2)), rng.random((200, 2)) < 0.3, labels=['A', 'B']).to_dict()
    b = bundle.Bundle(model, dict(labels=['A', 'B'], recipe=spec, thresholds=dict(A=0.3, B=0.6), calibration=cal))
    f = export_onnx(b, tmp_path/'b.onnx')
    side = json.loads(sidecar_path(f).read_text())
    assert side['labels'] == ['A', 'B'] and side['thresholds'] == dict(A=0.3, B=0.6) and 'calibration_rule' in side
    p = onnx_probs(f, onnx_input(synth_images, side['preprocess']))
    eps = side['calibration']['info']['logit_eps']                         # the sidecar's rule, by hand
    z = np.log(np.clip(p, eps, 1 - eps)) - np.log1p(-np.clip(p, eps, 1 - eps))
    by_hand = 1/(1 + np.exp(-z/np.array(side['calibration']['temperature'])))
    assert np.abs(by_hand - bundle.predict_probs(b, synth_images)[1]).max() < TOL   # the bundle's calibrated probabilities


def test_sidecar_carries_the_bayes_chain(tmp_path):
    "A conditional-training bundle's exported outputs are conditional: the sidecar says so and gives the chain"
    bundle = pytest.importorskip('cxr_fast.bundle')
    model = cxr_model('timm:resnet10t', 2, n_in=1, input_size=64).eval()
    spec = preprocess_spec('pham2020', 64, 1); spec.pop('eval_crop')
    b = bundle.Bundle(model, dict(labels=['Lung Opacity', 'Edema'], recipe=spec, thresholds={'Lung Opacity': 0.5, 'Edema': 0.5}, bayes_chain=[None, 0]))
    side = json.loads(sidecar_path(export_onnx(b, tmp_path/'ct.onnx')).read_text())
    assert side['bayes_chain'] == [None, 0] and 'conditional' in side['bayes_chain_rule']
