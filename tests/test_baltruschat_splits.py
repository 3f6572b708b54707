"""Baltruschat et al.'s re-sampling (Sec. 2.4): 70/10/20 of the images, each patient's images in one subset.
The synthetic test runs everywhere; the real-metadata test skips without the torchxrayvision wheel's NIH table."""
import numpy as np, pandas as pd
from cxr_fast.catalog import Catalog
from cxr_fast.splits import resample_splits, patient_split


def _catalog(n_pat=500, seed=0):
    "Patients with 1 to 40 images each: fractions of patients and of images differ a lot"
    rng = np.random.default_rng(seed)
    pats = np.repeat([f'p{i:04d}' for i in range(n_pat)], rng.integers(1, 41, n_pat))
    df = pd.DataFrame(dict(path=[f'{i}.png' for i in range(len(pats))], patient=pats, split=None, A=0.))
    return Catalog('toy', df, ['A'])


def test_resampling_takes_fractions_of_images_on_a_synthetic_catalog():
    cat = _catalog()
    n, biggest = len(cat.df), int(cat.df.patient.value_counts().max())
    for sp in resample_splits(cat, 5, seed=3):
        c = sp.counts()
        assert sp.strategy == 'random_images' and sp.fractions == (0.7, 0.1, 0.2)
        assert abs(c['test']['images'] - 0.2*n) <= biggest/2                      # the last subset: half a patient off at most
        assert abs(c['valid']['images'] - 0.1*n) <= biggest                       # two ends: one patient at most
        assert sum(v['patients'] for v in c.values()) == cat.df.patient.nunique()  # each patient in exactly one subset
    by_pat = patient_split(cat, seed=3)                                            # the patient-fraction split stays available
    assert by_pat.strategy == 'random' and by_pat.counts()['test']['patients'] == 100
    assert resample_splits(cat, 1, seed=3, by='patients')[0].subset.tolist() == by_pat.subset.tolist()


def test_resampling_on_the_real_nih_table(xrv):
    "Each test part is 20 % of the 112,120 images (the paper: 22,420) from a patient count like the paper's 5,817-6,245"
    from cxr_fast.nih import load_nih
    cat = load_nih(csv=xrv/'Data_Entry_2017_v2020.csv.gz', splits=False)
    assert (len(cat.df), cat.df.patient.nunique()) == (112_120, 30_805)
    tests = [sp.counts()['test'] for sp in resample_splits(cat, 5)]
    images, patients = np.array([t['images'] for t in tests]), np.array([t['patients'] for t in tests])
    assert np.abs(images - 22_420).max() <= 60, images               # measured (seeds 0-4): 22,418-22,435
    assert ((patients > 5_500) & (patients < 6_700)).all(), patients  # measured (seeds 0-4): 5,915-6,496
    assert patients.std() > 50                                       # the patient count varies with the draw, as the paper's does
