"""Calibration fitting and operating points (cxr_fast.calibration) on synthetic over-confident predictions:
fitted on one half, ECE falls on the held-out half for both methods; thresholds meet their targets on the fitting data."""
import json, warnings
import numpy as np, pytest
from cxr_fast.calibration import fit_calibration, choose_thresholds, Calibrator, ece, POOLED, CALIBRATION_METHODS
from cxr_fast.metrics import threshold_metrics, label_auc

def _sig(x): return 1/(1 + np.exp(-x))

def synth(n=3000, seps=(0.5, 1., 2., 4.), prev=0.3, noise=1., seed=0):
    "Targets ~ Bernoulli(sigmoid(a + b z)); predictions see z through extra noise (over-confident)"
    rng = np.random.default_rng(seed)
    b, a = np.array(seps), np.log(prev/(1 - prev))
    z = rng.normal(size=(n, len(seps)))
    y = (rng.random(z.shape) < _sig(a + b*z)).astype(np.float32)
    return _sig(a + b*(z + noise*rng.normal(size=z.shape))), y

@pytest.mark.parametrize('method', CALIBRATION_METHODS)
def test_ece_falls_on_held_out_half(method):
    p, y = synth()
    y[:200, 1] = np.nan; y[200:400, 2] = -1                 # blanks and uncertain targets, left out by 'exclude'
    half = len(p)//2
    cal = fit_calibration(p[:half], y[:half], method)
    before, after = ece(p[half:], y[half:])[POOLED], ece(cal.apply(p[half:]), y[half:])[POOLED]
    assert after < 0.7*before, (before, after)
    again = Calibrator.from_dict(json.loads(json.dumps(cal.to_dict())))
    np.testing.assert_allclose(again.apply(p[half:]), cal.apply(p[half:]))

def test_temperature_keeps_auc_and_is_above_one_when_over_confident():
    p, y = synth(seed=1)
    cal = fit_calibration(p, y, 'temperature')
    assert all(t > 1 for t in cal.temperature)
    np.testing.assert_allclose(label_auc(cal.apply(p), y).auc, label_auc(p, y).auc)

@pytest.mark.parametrize('rule,target,col', [('sensitivity', 0.9, 'sensitivity'), ('ppv', 0.7, 'ppv'), ('sensitivity', 0.5, 'sensitivity')])
def test_thresholds_meet_targets(rule, target, col):
    p, y = synth(n=1000, noise=0., seed=2)
    th = choose_thresholds(p, y, rule, target)
    assert (threshold_metrics(p, y, threshold=th)[col] >= target).all()
    if rule == 'sensitivity':                                   # the highest such threshold: just above it falls short
        assert (threshold_metrics(p, y, threshold=np.nextafter(th, 1)).sensitivity < target).all()

def test_youden_maximises_j():
    p, y = synth(n=500, noise=0., seed=3)
    th = choose_thresholds(p, y, 'youden')
    m = threshold_metrics(p, y, threshold=th)
    for j in range(p.shape[1]):
        s, t = p[:, j], y[:, j] >= 0.5
        best = max((s[t] >= c).mean() + (s[~t] < c).mean() - 1 for c in np.unique(s))
        assert m.sensitivity.iloc[j] + m.specificity.iloc[j] - 1 == pytest.approx(best)

def test_one_class_label_gets_half_and_a_warning():
    p, y = synth(n=300, seed=4)
    y[:, 3] = 0
    with pytest.warns(UserWarning, match='Nodule'):
        th = choose_thresholds(p, y, labels=['Atelectasis', 'Edema', 'Effusion', 'Nodule'])
    assert th[3] == 0.5
    with pytest.warns(UserWarning, match='Nodule'):
        cal = fit_calibration(p, y, labels=['Atelectasis', 'Edema', 'Effusion', 'Nodule'])
    assert cal.temperature[3] == 1.
