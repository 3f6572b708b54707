"""The notebooks keep their outputs, so a reader on the web (the docs site) or in JupyterLab sees each stage's figures
and tables without running anything: every library notebook (nbs/NN_*.ipynb) has at least one saved figure
(image/png) or table (text/html); the saved outputs stay small; and nbdev-clean, which the project runs on every
notebook, keeps outputs. The outputs are saved by `python -m cxr_fast.docs --execute --no-build` (nbs/18_docs).
Before that pass has been made (no notebook has any saved output), the outputs test skips and says so."""
import base64, json, re, struct, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT

NBS = ROOT/'nbs'
LIBRARY = sorted(p for p in NBS.glob('*.ipynb') if re.match(r'\d\d[a-z]?_', p.name))
ALL = sorted(NBS.glob('*.ipynb')) + sorted(NBS.glob('experiments/*.ipynb'))
SHOWN = ('image/png', 'text/html')
MAX_NB, MAX_ALL, MAX_PNG, MAX_PNG_SIDE = 2_000_000, 25_000_000, 500_000, 2400   # bytes, bytes, bytes, pixels


def _outputs(nb:Path) -> list:
    return [o for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', [])]


def _pngs(nb:Path) -> list:
    return [base64.b64decode(o['data']['image/png']) for o in _outputs(nb) if 'image/png' in o.get('data', {})]


def test_every_library_notebook_shows_a_figure_or_table():
    assert len(LIBRARY) > 30, f"only {len(LIBRARY)} library notebooks found in {NBS}"
    shown = {nb.name: sum(any(m in o.get('data', {}) for m in SHOWN) for o in _outputs(nb)) for nb in LIBRARY}
    if not any(_outputs(nb) for nb in ALL):
        pytest.skip("no notebook has saved outputs yet: run `python -m cxr_fast.docs --execute --no-build` to save them")
    without = [n for n, k in shown.items() if not k]
    assert not without, f"{len(without)} of {len(LIBRARY)} library notebooks save no figure (image/png) or table (text/html): {without}"


def test_saved_outputs_are_small():
    sizes = {nb.relative_to(NBS).as_posix(): nb.stat().st_size for nb in ALL}
    big = {n: s for n, s in sizes.items() if s > MAX_NB}
    assert not big, f"notebooks over {MAX_NB/1e6:.0f} MB: {big}"
    assert sum(sizes.values()) < MAX_ALL, f"the notebooks total {sum(sizes.values())/1e6:.1f} MB (limit {MAX_ALL/1e6:.0f} MB)"
    bad = []
    for nb in ALL:
        for png in _pngs(nb):
            w, h = struct.unpack('>II', png[16:24])                       # the PNG's IHDR width and height
            if len(png) > MAX_PNG or max(w, h) > MAX_PNG_SIDE: bad.append(f"{nb.name}: {w}x{h} px, {len(png)/1e3:.0f} kB")
    assert not bad, f"figures over {MAX_PNG/1e3:.0f} kB or {MAX_PNG_SIDE} px (lower the dpi or figsize):\n" + '\n'.join(bad)
    print(f"\n{len(ALL)} notebooks, {sum(sizes.values())/1e6:.2f} MB in all, largest {max(sizes, key=sizes.get)} "
          f"{max(sizes.values())/1e6:.2f} MB, {sum(len(_pngs(nb)) for nb in ALL)} saved figures")


def test_nbdev_clean_keeps_outputs(tmp_path):
    "nbdev-clean with this project's config clears execution counts and volatile metadata, never outputs"
    png = base64.b64encode(bytes.fromhex('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489'
                                         '0000000d49444154789c63606060f80f00010401005fe5c34b0000000049454e44ae426082')).decode()
    cell = dict(cell_type='code', id='a1b2c3d4', execution_count=7, source='plot()',
                metadata={'tags': ['parameters'], 'execution': {'iopub.execute_input': '2026-01-01T00:00:00'}, 'scrolled': True},
                outputs=[dict(output_type='display_data', metadata={}, data={'image/png': png, 'text/plain': '<Figure>'}),
                         dict(output_type='execute_result', execution_count=7, metadata={}, data={'text/html': '<table></table>', 'text/plain': 't'})])
    nb = dict(cells=[cell], metadata={'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}}, nbformat=4, nbformat_minor=5)
    fn = tmp_path/'with_outputs.ipynb'; fn.write_text(json.dumps(nb))
    r = subprocess.run([str(Path(sys.executable).parent/'nbdev-clean'), '--fname', str(fn)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    c = json.loads(fn.read_text())['cells'][0]
    assert [sorted(o['data']) for o in c['outputs']] == [['image/png', 'text/plain'], ['text/html', 'text/plain']]
    assert c['outputs'][0]['data']['image/png'].strip() == png
    assert c['execution_count'] is None and c['metadata'] == {'tags': ['parameters']}
