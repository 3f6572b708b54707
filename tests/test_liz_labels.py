"""Liz et al.'s two label sets on the real PadChest table (torchxrayvision wheel; skipped without it): the specific set
is the 35 labels of Table 8, the general set exactly the 54 groups of Table 10."""
import pytest
from cxr_fast.paper import paper_table


@pytest.fixture(scope='module')
def pa():
    from cxr_fast.catalog import xrv_table, select
    from cxr_fast.padchest import load_padchest
    csv = xrv_table('PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz')
    if csv is None: pytest.skip('torchxrayvision (the real PadChest table) is not installed')
    return select(load_padchest(csv=csv), views='PA')


def _names(table): return {l.casefold() for l in paper_table('liz2022', table).rows.index}


def test_specific_set_is_table8(pa):
    from cxr_fast.catalog import select, min_count
    spec = min_count(select(pa, 'specific35', drop_unlabelled=True))
    assert len(spec.labels) == 35 and {l.casefold() for l in spec.labels} == _names('table8')
    assert (spec.df[spec.labels] == 1).sum().min() >= 200


def test_general_set_is_table10(pa):
    from cxr_fast.padchest import padchest_general
    gen = padchest_general(pa)
    assert len(gen.labels) == 54 and {l.casefold() for l in gen.labels} == _names('table10')
    assert {'suboptimal study'} <= set(gen.labels) and not {'tracheal shift', 'flattened diaphragm', 'azygos lobe'} & set(gen.labels)
    assert (gen.df[gen.labels] == 1).sum().min() >= 200 and (gen.df[gen.labels] == 1).any(axis=1).all()
