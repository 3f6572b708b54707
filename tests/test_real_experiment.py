"""An experiment notebook run headless on REAL images (skipped when ../shared/data or torchxrayvision is absent).

The 241 real NIH PNGs (1024², 8-bit, 3 RGBA) are laid out as a user's NIH root would be: symlinks under
`images/`, the real `Data_Entry_2017_v2020.csv` and official split lists cut down to those rows, in a temporary
folder (nothing is copied into the project). Then `fisher2025_nih` runs through the runner with a real root: real
decoding (the fast PNG path), real age/sex/view values, a multilabel-stratified patient-wise split of real labels."""
import json
import pandas as pd
import pytest
from cxr_fast.runner import experiment_path, run_one


def nih_root(tmp, shared, xrv):
    "A cut-down NIH root of the real sample images in the official layout"
    names = sorted(p.name for p in (shared/'nih/images_1024').glob('*.png'))
    (tmp/'images').mkdir(parents=True)
    for n in names: (tmp/'images'/n).symlink_to(shared/'nih/images_1024'/n)
    t = pd.read_csv(xrv/'Data_Entry_2017_v2020.csv.gz', dtype=str)
    t[t['Image Index'].isin(names)].to_csv(tmp/'Data_Entry_2017_v2020.csv', index=False)
    have = set(names)
    for src, dst in [('nih_train_val_list.txt', 'train_val_list.txt'), ('nih_test_list.txt', 'test_list.txt')]:
        keep = [l for l in (shared/'meta'/src).read_text().split() if l in have]
        (tmp/dst).write_text('\n'.join(keep) + '\n')
    return tmp, len(names)


def test_fisher_experiment_on_real_nih_images(tmp_path, shared, xrv):
    root, n = nih_root(tmp_path/'nih', shared, xrv)
    assert n == 241
    params = dict(root=str(root), size=64, bs=16, epochs=1, n_members=1, fracs=[0.6, 0.2, 0.2])
    row = run_one(experiment_path('fisher2025_nih'), tmp_path/'run', params)
    assert row['status'] == 'ok', row.get('error')
    res = pd.read_csv(tmp_path/'run'/'results.csv')
    assert len(res) == 14 and 'No Finding' not in set(res.label) and res.positives.min() >= 1
    assert res.auc.between(0, 1).all()                            # every label scored on the real test part
    assert json.loads((tmp_path/'run'/'summary.json').read_text())['n_test'] == 49   # 20 % of 241, patient-wise


def test_baltruschat_experiment_on_real_nih_images(tmp_path, shared, xrv):
    "Real age / sex / view values feed the meta-fusion setting; the official split comes from the real lists"
    root, n = nih_root(tmp_path/'nih', shared, xrv)
    params = dict(root=str(root), size=48, large_size=64, n_resamples=1, depth_archs=[], bs=16)
    row = run_one(experiment_path('baltruschat2019_nih'), tmp_path/'run', params)
    assert row['status'] == 'ok', row.get('error')
    res = pd.read_csv(tmp_path/'run'/'results.csv')
    assert 'No Finding' in set(res.label) and len(res) == 15
    t3 = pd.read_csv(tmp_path/'run'/'table3_mean_std.csv')             # Table 3's form: 15 labels + Average per setting
    assert len(t3) == 2*16 and t3.paper_mean.notna().all() and t3.ours_mean.between(0, 1).sum() >= 20
    demo = pd.read_csv(tmp_path/'run'/'demographics_vs_paper.csv').set_index('quantity')   # real age/sex/view from the frozen large body
    assert demo.paper.notna().all() and 0 < demo.loc[demo.index.str.startswith('age MAE'), 'ours'].iloc[0] < 60
    assert demo.loc['view AUC (AP positive)', 'ours'] >= 0 and demo.loc['non-image MLP mean AUC (14 pathologies)', 'ours'] >= 0
