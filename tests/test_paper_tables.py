"The papers' numbers in data_catalog/papers are the checked transcription's, unchanged, and every table entry reads."
import filecmp
from pathlib import Path
import pytest
from cxr_fast.config import catalog_dir
from cxr_fast.paper import WORKS, paper_tables, paper_table

PAPERS = Path(__file__).resolve().parents[1].parent/'shared'/'papers'


@pytest.mark.parametrize('work', list(WORKS))
def test_every_table_reads(work):
    for name in paper_tables(work):
        t = paper_table(work, name)
        assert len(t.rows) and t.rows.notna().any().all(), (work, name)
        assert t.mean_row in t.summary.index, (work, name)


def test_copies_match_the_transcription():
    if not PAPERS.exists(): pytest.skip(f'no paper transcription at {PAPERS}')
    copies = sorted((catalog_dir()/'papers').glob('*/*.csv'))
    assert len(copies) >= 9
    for f in copies: assert filecmp.cmp(f, PAPERS/f.parent.name/f.name, shallow=False), f


def test_transcription_totals():
    "Totals the papers print, recomputed from the label rows we hold (the shared README's checks)"
    t8 = paper_table('liz2022', 'table8')
    assert round(t8.rows['CTP_AUC'].mean(), 4) == 0.8397                          # Liz's Discussion
    assert abs(t8.summary.loc['Global', 'CTP_AUC'] - 0.840) < 1e-9                 # = Table 9's CTP AUC
    assert len(paper_table('liz2022', 'table10').rows) == 54
    for work, name, col in [('pham2020', 'table2', 'Ours'), ('fisher2025', 'auc', 'Fisher2025'),
                            ('baltruschat2019', 'table5', 'ResNet-38-large-meta')]:
        t = paper_table(work, name)
        rows = t.rows.drop(index=[l for l in t.mean_excludes if l in t.rows.index])
        assert abs(rows[col].mean() - t.summary.loc[t.mean_row, col]) < 6e-4, (work, name)


@pytest.mark.parametrize('work', list(WORKS))
def test_every_setting_is_faithful_stated_or_changed(work):
    "Each work lists its paper's settings, every one with a status the rules allow (settings_table checks them)"
    from cxr_fast.paper import settings_table, settings_counts
    st = settings_table(work)
    assert len(st) >= 15 and st.index.is_unique, work
    assert settings_counts(work).sum() == len(st)
    stated_value = st[st.paper != '']
    assert not stated_value.why.str.contains('our choice', case=False).any() or (stated_value[stated_value.why.str.contains('our choice', case=False)].status == 'stated').all()


@pytest.mark.parametrize('work', list(WORKS))
def test_full_settings_are_parameters_of_the_notebook(work):
    "The full parameter set (smoke=False) names only parameters the experiment notebook has"
    import papermill
    from cxr_fast.catalog import read_yaml
    from cxr_fast.runner import experiment_path
    full = read_yaml(catalog_dir()/'papers'/f'{WORKS[work]}.yaml').get('full')
    assert full, f'{WORKS[work]}.yaml has no full parameter set'
    params = papermill.inspect_notebook(str(experiment_path(WORKS[work])))
    assert set(full) <= set(params), set(full) - set(params)
