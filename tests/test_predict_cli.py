"""#14 at the level a user works at: the demo saves a bundle; `cxr-fast predict` applies it to real NIH PNGs, a DICOM
made from one of them (same probabilities) and a broken file (named, skipped, exit 1), with Grad-CAM overlays;
`cxr-fast export` writes ONNX and TorchScript with their preprocessing sidecars."""
import shutil
import pandas as pd
import pytest
from conftest import cli


@pytest.fixture(scope='module')
def demo_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp('demo')
    cli('demo', '--out', out, '--epochs', '1', '--n', '200', '--quiet')
    assert (out/'model'/'bundle.json').exists() and (out/'model'/'weights.pth').exists()
    return out/'model'


def test_predict_png_dicom_and_a_bad_file(demo_bundle, shared, tmp_path):
    from cxr_fast.images import read_cxr
    from cxr_fast.dicom import write_dicom
    pngs = sorted((shared/'nih'/'images_1024').glob('*.png'))[:3]
    inp = tmp_path/'in'; inp.mkdir()
    for p in pngs: shutil.copy(p, inp/p.name)
    write_dicom(read_cxr(pngs[0]), inp/'first.dcm')                       # the first PNG as a DICOM (MONOCHROME2, 8-bit)
    (inp/'broken.png').write_bytes(pngs[1].read_bytes()[:2000])            # truncated, in the middle of the folder
    r = cli('predict', demo_bundle, inp, '--out', tmp_path/'P', '--cam', check=False)
    assert r.returncode == 1 and 'broken.png' in r.stderr, (r.stdout, r.stderr)
    df = pd.read_csv(tmp_path/'P'/'predictions.csv')
    assert len(df) == 4 and not df.path.str.contains('broken').any()
    probs = [c for c in df.columns if c != 'path' and not c.endswith('_call')]           # one probability column per label
    a, b = df[df.path.str.endswith(pngs[0].name)], df[df.path.str.endswith('first.dcm')]
    diff = (a[probs].to_numpy() - b[probs].to_numpy())
    assert len(probs) >= 14 and abs(diff).max() < 1e-4, abs(diff).max()   # DICOM and PNG give the same probabilities
    assert (tmp_path/'P'/'skipped.csv').exists()
    assert df[[f'{l}_call' for l in probs]].isin([0, 1]).all().all()
    calls = int(df[[f'{l}_call' for l in probs]].to_numpy().sum())
    assert len(list((tmp_path/'P'/'cams').rglob('*.png'))) == calls                # one overlay per image and label called positive


def test_export_onnx_and_torchscript(demo_bundle, tmp_path):
    cli('export', demo_bundle, '--onnx', tmp_path/'m.onnx', '--torchscript', tmp_path/'m.pt')
    for f in ('m.onnx', 'm.json', 'm.pt'): assert (tmp_path/f).exists(), f


REF = __import__('pathlib').Path(__file__).parent/'reference'/'demo_bundle_nih_00000001_000.json'


def test_reference_output(demo_bundle, shared):
    "One real NIH image through the demo bundle (seed 0, 200 synthetic images, 1 epoch, CPU) gives the stored probabilities"
    import json, timm, torch
    from cxr_fast.bundle import load_bundle
    ref = json.loads(REF.read_text())
    now = dict(torch=torch.__version__, timm=timm.__version__)
    if {k: ref[k] for k in now} != now: pytest.skip(f"reference made with {ref['torch']}/{ref['timm']}, this is {now}: regenerate it")
    df = load_bundle(demo_bundle).predict([shared/'nih'/'images_1024'/ref['image']])
    got = df[ref['labels']].to_numpy()[0]
    assert abs(got - ref['probs']).max() < 1e-4, dict(zip(ref['labels'], got - ref['probs']))
