"""The catalog on the full real metadata tables shipped in the torchxrayvision wheel (skipped without it):
sizes and label counts as the real tables say, and no patient in two subsets under any split strategy."""
import json
import pytest
from conftest import cli, SHARED


def test_nih_without_split_lists_is_a_clear_error(xrv):
    r = cli('catalog', 'nih', '--csv', xrv/'Data_Entry_2017_v2020.csv.gz', '--json', check=False)
    assert r.returncode == 2 and 'train_val_list.txt' in r.stderr and 'Traceback' not in r.stderr


def test_nih_counts_and_official_split(xrv, shared, tmp_path):
    from cxr_fast.nih import load_nih
    from cxr_fast.splits import official_split, resample_splits, stratified_split
    for n in ('train_val', 'test'): (tmp_path/f'{n}_list.txt').symlink_to(shared/f'meta/nih_{n}_list.txt')
    s = json.loads(cli('catalog', 'nih', '--csv', xrv/'Data_Entry_2017_v2020.csv.gz', '--split-dir', tmp_path, '--json').stdout)
    assert (s['rows'], s['patients']) == (112_120, 30_805)
    assert s['splits'] == {'train': 86_524, 'test': 25_596} and s['patient_overlap'] == 0
    assert s['views'] == {'PA': 67_310, 'AP': 44_810} and s['sex'] == {'M': 63_340, 'F': 48_780}
    assert s['labels']['Hernia']['pos'] == 227 and s['labels']['No Finding']['pos'] == 60_361
    cat = load_nih(csv=xrv/'Data_Entry_2017_v2020.csv.gz', split_dir=tmp_path)
    for sp in [official_split(cat, valid_frac=0.1), *resample_splits(cat, 5), stratified_split(cat, (0.9, 0.05, 0.05))]:
        c = sp.counts(); assert sum(v['images'] for v in c.values()) == 112_120
        assert sum(v['patients'] for v in c.values()) == 30_805          # every patient in exactly one subset


def test_chexpert_full_table(xrv):
    from cxr_fast.chexpert import load_chexpert
    from cxr_fast.splits import official_split, resample_splits, stratified_split
    s = json.loads(cli('catalog', 'chexpert', '--csv', xrv/'chexpert_train.csv.gz', '--json').stdout)
    assert (s['rows'], s['patients']) == (223_414, 64_540)
    assert s['labels']['Pleural Effusion'] == dict(pos=86_187, neg=35_396, unc=11_628, blank=90_203)
    assert s['labels']['No Finding'] == dict(pos=22_381, neg=0, unc=0, blank=201_033)
    assert s['views'] == {'AP': 161_590, 'LL': 32_403, 'PA': 29_420, 'RL': 1}   # 32,387 laterals with blank AP/PA read as LL
    cat = load_chexpert(train_csv=xrv/'chexpert_train.csv.gz')
    for sp in [official_split(cat, valid_frac=0.05), *resample_splits(cat, 2), stratified_split(cat, (0.7, 0.1, 0.2))]:
        assert sum(v['patients'] for v in sp.counts().values()) == 64_540


def test_padchest_full_table(xrv):
    from cxr_fast.catalog import select, min_count
    from cxr_fast.padchest import load_padchest, padchest_general
    from cxr_fast.splits import resample_splits, stratified_split
    csv = xrv/'PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz'
    s = json.loads(cli('catalog', 'padchest', '--csv', csv, '--json').stdout)
    assert s['rows'] + s['excluded'] == 160_861
    cat = load_padchest(csv=csv)
    assert (cat.flagged.reason == 'missing Labels cell').sum() == 103 and len(cat) == 160_861
    pa = select(cat, views='PA')
    assert len(pa) == 91_728                                         # every PA row, as Liz et al. count them
    spec = select(pa, 'specific35', drop_unlabelled=True)
    assert len(spec.labels) == 35 and (spec.df[spec.labels] == 1).sum().min() >= 1_000
    gen = padchest_general(pa)
    assert 50 <= len(gen.labels) <= 60 and (gen.df[gen.labels] == 1).sum().min() >= 200
    for sp in [stratified_split(spec, (0.7, 0.1, 0.2)), *resample_splits(spec, 2)]:
        assert sum(v['patients'] for v in sp.counts().values()) == spec.df.patient.nunique()
