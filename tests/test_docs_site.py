"""The docs site builds from the notebooks as saved (never executed here) and every page of it works in a real
browser: headless Chromium from the system's package manager, driven by Playwright (no browser download). Every
page answers 200, logs no console error, fails no request, every <img> on it loads and its formulas are typeset
(MathJax served by the site itself); the home page and the notebook page with the most figures are screenshotted
into the test's temp folder (run with -s to see the paths).
Without Chromium (or Playwright) the browser test skips, except in CI (CI=true), where it fails."""
import functools, json, os, threading, time
from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler
from pathlib import Path
import pytest
from conftest import ROOT
from cxr_fast.docs import build_docs, site_notebooks, default_exp, page_notebook
import nbformat

CHROMIUM = Path('/usr/bin/chromium')
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync']
NBS = ROOT/'nbs'


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "The site built from the repository's notebooks as they are, with the build's seconds"
    out = tmp_path_factory.mktemp('docs')/'site'
    t0 = time.time()
    build_docs(out, NBS, ROOT/'README.md', strict=True)               # any Sphinx warning (a broken link) fails
    return out, time.time() - t0


def _page(nb:Path) -> str:
    return nb.relative_to(NBS).with_suffix('.html').as_posix()


def _n_figures(nb:Path) -> int:
    "image/png outputs the page of `nb` shows (cells hidden on the page left out)"
    cells = page_notebook(nbformat.read(nb, 4)).cells
    return sum('image/png' in o.get('data', {}) for c in cells if c.cell_type == 'code' and 'remove-output' not in c.metadata.get('tags', [])
               for o in c.outputs)


def test_every_notebook_and_module_has_a_page(site):
    out, secs = site
    nbs = site_notebooks(NBS)
    assert any(n.parent.name == 'experiments' for n in nbs) and len(nbs) > 30
    missing = [_page(n) for n in nbs if not (out/_page(n)).exists()]
    assert not missing, f"notebooks without a page: {missing}"
    mods = {m for n in nbs if (m := default_exp(n))}
    assert mods and not [m for m in mods if not (out/'api'/f'{m}.html').exists()]
    assert (out/'readme.html').exists() and (out/'index.html').exists()
    short = {_page(n): (figs, html.count('<img')) for n in nbs if (figs := _n_figures(n)) > (html := (out/_page(n)).read_text()).count('<img')}
    assert not short, f"pages showing fewer images than their notebook's saved figures (saved, shown): {short}"
    api = (out/'api'/'policies.html').read_text()
    assert 'get_policy' in api and 'uncertain' in api.lower(), "the API page lacks its docments table"
    print(f"\nsite built in {secs:.0f} s: {len(nbs)} notebooks, {len(mods)} API pages, {sum(1 for _ in out.rglob('*.html'))} HTML pages")


def _browser_or_skip():
    "Playwright's sync API, or a skip (a failure when CI=true) naming what is missing"
    why = None
    try: from playwright.sync_api import sync_playwright
    except ImportError: why = "the playwright package is not installed (pip install -e '.[dev]')"
    if why is None and not CHROMIUM.exists(): why = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    if why is None: return sync_playwright
    if os.environ.get('CI') == 'true': pytest.fail(f"CI: {why}")
    pytest.skip(why)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args): pass


@pytest.fixture
def served(site):
    "The site served on localhost by http.server in a thread; yields its base URL"
    out, _ = site
    httpd = ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(out)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try: yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally: httpd.shutdown(); httpd.server_close()


_IMAGES_JS = """async () => {
  if (window.MathJax && MathJax.startup) await MathJax.startup.promise;   // formulas typeset, their fonts requested
  await document.fonts.ready;
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => { i.loading = 'eager'; return i.decode().catch(() => null); }));
  return imgs.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]);
}"""


def test_every_page_loads_in_chromium(site, served, tmp_path):
    sync_playwright = _browser_or_skip()
    out, _ = site
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob('*.html') if not p.relative_to(out).parts[0].startswith('_'))
    problems, n_imgs, n_formulas, imgs_per_page, t0 = {}, 0, 0, {}, time.time()
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(str(tmp_path/'profile'), executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            for rel in pages:                      # each page in its own tab: a request of the page before can never count here
                page, errors = ctx.new_page(), []
                page.on('console', lambda m: m.type == 'error' and errors.append(f"console: {m.text}"))
                page.on('pageerror', lambda e: errors.append(f"page error: {e}"))
                page.on('requestfailed', lambda r: errors.append(f"request failed: {r.url} {r.failure}"))
                page.on('response', lambda r: r.status >= 400 and errors.append(f"HTTP {r.status}: {r.url}"))
                resp = page.goto(served + rel, wait_until='load')
                imgs = page.evaluate(_IMAGES_JS)
                n_math, n_typeset = page.evaluate("() => [document.querySelectorAll('.math').length, document.querySelectorAll('mjx-container').length]")
                bad = ([f"HTTP {resp.status}"] if resp is None or resp.status != 200 else []) + list(errors) + \
                      [f"image did not load: {src}" for src, ok in imgs if not ok] + \
                      ([f"{n_math} formulas, none typeset by the site's own MathJax"] if n_math and not n_typeset else [])
                page.close()
                n_formulas += n_typeset
                if bad: problems[rel] = bad
                n_imgs += len(imgs); imgs_per_page[rel] = len(imgs)
            nb_pages = [_page(n) for n in site_notebooks(NBS) if n.name != 'index.ipynb']
            shot_page = max(nb_pages, key=lambda r: (imgs_per_page.get(r, 0), r == '06_policies.html'))
            shots, page = {}, ctx.new_page()
            for name, rel in [('home', 'index.html'), ('notebook', shot_page)]:
                page.goto(served + rel, wait_until='load'); page.evaluate(_IMAGES_JS)
                shots[name] = tmp_path/f'{name}.png'
                page.screenshot(path=str(shots[name]), full_page=True)
        finally: ctx.close()
    assert not problems, f"{len(problems)} of {len(pages)} pages have problems:\n" + json.dumps(problems, indent=1)[:5000]
    for p in shots.values(): assert p.stat().st_size > 10_000, f"screenshot {p} is (nearly) empty"
    print(f"\n{len(pages)} pages opened in Chromium in {time.time()-t0:.0f} s, {n_imgs} images loaded, {n_formulas} formulas typeset; "
          f"screenshots: home {shots['home']}, notebook ({shot_page}) {shots['notebook']}")
