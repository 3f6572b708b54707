"""The catalog joined to the real sample images in ../shared/data (skipped when absent): every file finds its
labels in the real metadata, and NIH RGBA, CheXpert-small JPEG and PadChest 16-bit PNG all decode."""
import numpy as np, pandas as pd
import pytest
from cxr_fast.nih import load_nih
from cxr_fast.chexpert import load_chexpert
from cxr_fast.padchest import load_padchest
from cxr_fast.images import read_cxr, check_catalog


def test_nih_images_join_and_decode(shared, xrv):
    cat = load_nih(shared/'nih', csv=xrv/'Data_Entry_2017_v2020.csv.gz', image_dir='images_1024', splits=False)
    on_disk = {p.name for p in (shared/'nih/images_1024').glob('*.png')}
    got = cat.df[cat.df.path.str.split('/').str[-1].isin(on_disk)]
    assert len(got) == len(on_disk) == 241
    prov = pd.read_csv(shared/'nih/provenance.csv').query("file.str.startswith('images_1024/')", engine='python').set_index('image_index')
    for _, r in got.iterrows():                                  # labels join exactly as the provenance says
        name = r.path.split('/')[-1]
        pos = sorted(l for l in cat.labels if r[l] == 1)
        assert pos == sorted(prov.loc[name, 'finding_labels'].split('|')), name
    rgba = prov.index[prov['mode'] == 'RGBA']
    assert len(rgba) == 3
    for name in rgba:
        a = read_cxr(shared/'nih/images_1024'/name)
        assert a.dtype == np.uint8 and a.shape == (1024, 1024)
    assert len(check_catalog(cat.replace(df=got), progress=False)) == 0


def test_chexpert_valid_joins_and_decodes(shared):
    cat = load_chexpert(shared/'chexpert')
    assert len(cat) == 234 and set(cat.df.split) == {'valid'} and cat.df.patient.nunique() == 200
    assert set(np.unique(cat.df[cat.labels].to_numpy())) <= {0., 1.}
    assert (cat.df.Fracture == 1).sum() == 0                      # as the README of the data says
    assert len(check_catalog(cat, progress=False)) == 0
    a = read_cxr(shared/'chexpert'/cat.df.path[0])
    assert a.dtype == np.uint8 and a.ndim == 2


def test_padchest_16bit_join_and_decode(shared, xrv):
    cat = load_padchest(shared/'padchest', csv=xrv/'PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz', image_dir='images')
    names = sorted(p.name for p in (shared/'padchest/images').glob('*.png'))
    got = cat.df[cat.df.path.str.split('/').str[-1].isin(names)]
    assert len(got) == len(names) == 12
    prov = pd.read_csv(shared/'padchest/provenance.csv').set_index('ImageID')
    for _, r in got.iterrows():
        name = r.path.split('/')[-1]
        assert sorted(l for l in cat.labels if r[l] == 1) == sorted(str(prov.loc[name, 'Labels']).split('|')), name
    assert len(check_catalog(cat.replace(df=got), progress=False)) == 0
    a = read_cxr(shared/'padchest/images'/names[0])
    assert a.dtype == np.uint8 and a.ndim == 2 and a.max() > 0
