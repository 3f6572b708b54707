"""Issue #13, metadata faults planted on synthetic roots (items 2, 5, 6, 11): a blank label cell never becomes a negative
label, non-UTF-8 bytes, odd values and empty files are errors that name the file, the data row (1 = the first row after
the header) and the column, and every PadChest row stays in the catalog (label-less rows flagged, excluded with a count
by the label-set step). The real-table checks skip without torchxrayvision."""
import gzip, warnings
from pathlib import Path
import numpy as np, pandas as pd
import pytest
from conftest import cli

NIH_CSV = 'Data_Entry_2017_v2020.csv'
PC_CSV = 'PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz'


@pytest.fixture
def nih(tmp_path):
    from cxr_fast.synth import synth
    return synth('nih', tmp_path/'nih', n=12, size=32)


@pytest.fixture
def chexpert(tmp_path):
    from cxr_fast.synth import synth
    return synth('chexpert', tmp_path/'chexpert', n=12, size=32)


@pytest.fixture
def padchest(tmp_path):
    from cxr_fast.synth import synth
    return synth('padchest', tmp_path/'padchest', n=12, size=32, malformed=0, empty_frac=0)


def _set_cell(path:Path, row:int, col:str, value:str):
    "Rewrite data row `row` (1-based) of a plain csv so that column `col` holds `value` (raw text, no quoting)"
    lines = path.read_bytes().split(b'\n')
    header = lines[0].decode().split(',')
    cells = lines[row].split(b',')
    cells[header.index(col)] = value.encode('latin-1') if isinstance(value, str) else value
    lines[row] = b','.join(cells)
    path.write_bytes(b'\n'.join(lines))


def _nih_row(root, row): return pd.read_csv(root/NIH_CSV, dtype=str).iloc[row-1]


# ---- item 2: a blank NIH `Finding Labels` cell ----

def test_nih_blank_findings_is_a_problem_not_negatives(nih):
    from cxr_fast.nih import load_nih
    from cxr_fast.catalog import CatalogWarning
    img = _nih_row(nih, 3)['Image Index']
    _set_cell(nih/NIH_CSV, 3, 'Finding Labels', '')
    with pytest.warns(CatalogWarning, match=rf"row 3 \(Image Index={img}\).*'Finding Labels'"):
        cat = load_nih(nih)
    assert not cat.df.path.str.endswith(img).any()               # never 15 zeros: the image is not in the frame
    assert len(cat) == 11 and cat.df[cat.labels].notna().all().all()
    p = cat.problems
    assert p[['row', 'column', 'key']].values.tolist() == [[3, 'Finding Labels', img]]
    assert cat.excluded[['row', 'key']].values.tolist() == [[3, img]] and 'blank' in cat.excluded.reason.iloc[0]
    assert cat.summary()['problems'] == 1 and cat.summary()['excluded'] == 1


def test_nih_blank_findings_cli(nih):
    img = _nih_row(nih, 3)['Image Index']
    _set_cell(nih/NIH_CSV, 3, 'Finding Labels', '')
    r = cli('catalog', 'nih', '--root', nih, check=False)
    assert r.returncode == 0 and '11 images' in r.stdout and '1 rows excluded' in r.stdout
    assert f'row 3 (Image Index={img})' in r.stderr and 'Traceback' not in r.stderr


def test_nih_blank_findings_check_exits_1(nih):
    _set_cell(nih/NIH_CSV, 3, 'Finding Labels', '')
    r = cli('check', 'nih', '--root', nih, '--fast', check=False)
    assert r.returncode == 1 and 'Finding Labels' in r.stdout + r.stderr


# ---- item 5: non-UTF-8 bytes ----

@pytest.mark.parametrize('col', ['Image Index', 'Finding Labels'])
def test_nih_latin1_byte_names_file_row_column(nih, col):
    from cxr_fast.nih import load_nih
    from cxr_fast.catalog import CatalogError
    _set_cell(nih/NIH_CSV, 4, col, 'Atelectas\xe9' if col == 'Finding Labels' else 'caf\xe9.png')
    with pytest.raises(CatalogError) as e: load_nih(nih)
    msg = str(e.value)
    assert str(nih/NIH_CSV) in msg and 'row 4' in msg and repr(col) in msg and 'UTF-8' in msg and "b'\\xe9'" in msg
    r = cli('catalog', 'nih', '--root', nih, check=False)
    assert r.returncode == 2 and 'row 4' in r.stderr and 'UTF-8' in r.stderr and 'Traceback' not in r.stderr


def test_padchest_latin1_byte_names_row(padchest):
    from cxr_fast.padchest import load_padchest
    from cxr_fast.catalog import CatalogError
    f = padchest/PC_CSV
    t = pd.read_csv(f, dtype=str, keep_default_na=False)
    t.loc[4, 'Labels'] = "['pleural effusi\xf3n']"                          # data row 5, written in Latin-1
    with gzip.open(f, 'wb') as g: g.write(t.to_csv(index=False).encode('latin-1'))
    with pytest.raises(CatalogError, match=r"row 5 .*'Labels'.*UTF-8"): load_padchest(padchest)


# ---- item 6: unclear messages ----

def test_chexpert_yes_names_file_row_column_and_expected(chexpert):
    from cxr_fast.chexpert import load_chexpert
    from cxr_fast.catalog import CatalogError
    f = chexpert/'CheXpert-v1.0-small/train.csv'
    _set_cell(f, 2, 'Edema', 'yes')
    with pytest.raises(CatalogError) as e: load_chexpert(chexpert)
    msg = str(e.value)
    assert str(f) in msg and "'Edema'" in msg and 'row 2' in msg and "'yes'" in msg and '1.0, 0.0, -1.0 or blank' in msg


def test_zero_byte_csv(nih):
    (nih/NIH_CSV).write_bytes(b'')
    r = cli('catalog', 'nih', '--root', nih, check=False)
    assert r.returncode == 2 and str(nih/NIH_CSV) in r.stderr and 'empty (0 bytes)' in r.stderr and "'Finding Labels'" in r.stderr
    assert 'Traceback' not in r.stderr


def test_header_only_csv(nih, chexpert):
    f = nih/NIH_CSV
    f.write_text(f.read_text().split('\n')[0] + '\n')
    r = cli('catalog', 'nih', '--root', nih, check=False)
    assert r.returncode == 2 and str(f) in r.stderr and 'no data rows' in r.stderr and 'one row per image' in r.stderr
    from cxr_fast.chexpert import load_chexpert
    from cxr_fast.catalog import CatalogError
    v = chexpert/'CheXpert-v1.0-small/valid.csv'
    v.write_text(v.read_text().split('\n')[0] + '\n')
    with pytest.raises(CatalogError, match='valid.csv: the file has a header but no data rows'): load_chexpert(chexpert)


# ---- item 11: PadChest rows ----

def _padchest_plant(root, labels:dict, projection:dict|None=None):
    "Set `Labels` (and `Projection`) of some data rows (1-based) of the synthetic PadChest csv"
    f = root/PC_CSV
    t = pd.read_csv(f, dtype=str, keep_default_na=False)
    for r, v in labels.items(): t.loc[r-1, 'Labels'] = v
    for r, v in (projection or {}).items(): t.loc[r-1, 'Projection'] = v
    t.to_csv(f, index=False, compression='gzip')
    return t


def test_padchest_error_rows_count_malformed_rows(padchest):
    from cxr_fast.padchest import load_padchest
    from cxr_fast.catalog import CatalogError
    t = _padchest_plant(padchest, {2: '', 3: "['']", 4: "['normal'"}, {7: 'XYZ'})
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(CatalogError, match=rf"row 7 \(ImageID={t.ImageID[6]}\)"): load_padchest(padchest)


def test_padchest_keeps_every_row_and_flags_label_less(padchest):
    from cxr_fast.padchest import load_padchest
    from cxr_fast.catalog import select, CatalogWarning
    t = _padchest_plant(padchest, {2: '', 3: "['']", 4: "['normal'"}, {2: 'PA', 3: 'PA', 4: 'PA'})
    with pytest.warns(CatalogWarning, match=r"row 4 .*malformed"): cat = load_padchest(padchest)
    assert len(cat) == 12 and len(cat.excluded) == 0
    assert cat.flagged[['row', 'key', 'reason']].values.tolist() == [
        [2, t.ImageID[1], 'missing Labels cell'], [3, t.ImageID[2], 'empty Labels list'], [4, t.ImageID[3], 'malformed Labels list']]
    assert cat.problems[['row', 'column', 'key']].values.tolist() == [[4, 'Labels', t.ImageID[3]]]     # only the malformed one
    off = ~cat.df.labelled
    assert off.sum() == 3 and cat.df.loc[off, cat.labels].isna().all().all()             # blank, never negative
    assert cat.df.loc[~off, cat.labels].notna().all().all()
    pa = select(cat, views='PA')
    assert len(pa) == (t.Projection == 'PA').sum() and (~pa.df.labelled).sum() == 3      # all PA rows counted
    s = select(pa, ['normal', 'pleural effusion'])
    assert len(s) == len(pa) - 3 and s.df.labelled.all()
    assert sorted(s.excluded.row) == [2, 3, 4] and s.summary()['excluded'] == 3
    assert s.summary()['excluded_reasons'] == {'no labels: missing Labels cell': 1, 'no labels: empty Labels list': 1, 'no labels: malformed Labels list': 1}


def test_padchest_general_excludes_label_less(padchest):
    from cxr_fast.padchest import load_padchest, padchest_general
    _padchest_plant(padchest, {2: '', 3: "['']"})
    cat = load_padchest(padchest)
    assert len(cat) == 12                                                         # kept by the loader ...
    g = padchest_general(cat, n=1, labels=None)
    assert g.df.labelled.all()                                                    # ... left out by the label-set step
    ex = g.excluded.set_index('row').reason
    assert ex[2] == 'no labels: missing Labels cell' and ex[3] == 'no labels: empty Labels list'


def test_harmonise_excludes_label_less(padchest):
    from cxr_fast.padchest import load_padchest
    from cxr_fast.datasets import harmonise
    _padchest_plant(padchest, {2: ''})
    h = harmonise(load_padchest(padchest))
    assert len(h) == 11 and h.excluded[['row', 'reason']].values.tolist() == [[2, 'no labels: missing Labels cell']]


def test_padchest_real_table_pa_count(xrv):
    from cxr_fast.padchest import load_padchest
    from cxr_fast.catalog import select
    cat = load_padchest(csv=xrv/PC_CSV)
    assert len(cat) == 160_861 and len(cat.excluded) == 0 and len(cat.problems) == 0
    assert cat.flagged.reason.value_counts().to_dict() == {'empty Labels list': 777, 'missing Labels cell': 103}
    pa = select(cat, views='PA')
    assert len(pa) == 91_728                                                       # Liz et al. (Sec. 3.1 / Table 3)
    assert (~pa.df.labelled).sum() == 408 + 65
    spec = select(pa, 'specific35', drop_unlabelled=True)
    assert (spec.excluded.reason.str.startswith('no labels')).sum() == 473
