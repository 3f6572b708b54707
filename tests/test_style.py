"""The house rules that a reader relies on, checked on the exported package and the notebooks:
pyflakes-clean modules, no private name crossing a module, modules of at most 400 lines, notebooks that import
only earlier notebooks, and a docment on every parameter of every exported function."""
import ast, inspect, json, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG, NBS = ROOT/'cxr_fast', ROOT/'nbs'
MODULES = sorted(p for p in PKG.glob('*.py') if p.name not in ('__init__.py', '_modidx.py'))
MAX_LINES = 400

def test_pyflakes_clean():
    r = subprocess.run([sys.executable, '-m', 'pyflakes', str(PKG)], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stdout.strip(), f"pyflakes findings:\n{r.stdout}{r.stderr}"

def _imports(src:str):
    "(module, names) of every `from .x import ...` / `from cxr_fast.x import ...` in `src`"
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ''
            if node.level == 1 or mod.startswith('cxr_fast.'): yield mod.split('.')[-1], [a.name for a in node.names]

def test_no_private_name_crosses_a_module():
    bad = [f"{p.name}: from .{m} import {n}" for p in MODULES for m, ns in _imports(p.read_text()) for n in ns
           if n.startswith('_') and not n.startswith('__')]
    assert not bad, "private names imported across modules:\n" + '\n'.join(bad)

def test_modules_at_most_400_lines():
    long = {p.name: n for p in MODULES if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"

def _nb_code(nb:Path) -> str:
    cells = json.loads(nb.read_text())['cells']
    return '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'code')

def _exported_module(code:str):
    m = re.search(r'^#\|\s*default_exp\s+(\S+)', code, re.M)
    return m[1] if m else None

def _module_imports(code:str) -> set:
    "cxr_fast modules a notebook's code imports (IPython magics and shell lines dropped)"
    mods = set(re.findall(r'(?:from|import)\s+cxr_fast\.(\w+)', code)) | set(re.findall(r'from\s+\.(\w+)\s+import', code))
    return mods

def test_notebooks_import_only_earlier_notebooks():
    nbs = sorted(NBS.glob('[0-9]*.ipynb'))
    owner = {mod: nb for nb in nbs if (mod := _exported_module(_nb_code(nb)))}
    bad = [f"{nb.name} imports cxr_fast.{m} from the later {owner[m].name}" for nb in nbs for m in _module_imports(_nb_code(nb))
           if m in owner and owner[m].name > nb.name]
    assert not bad, '\n'.join(bad)

def _undocumented(obj, qual:str) -> list:
    from fastcore.docments import docments
    f = obj.__init__ if inspect.isclass(obj) else obj
    try: sig = inspect.signature(f)
    except (TypeError, ValueError): return []
    try: docs = docments(obj, full=False) if not inspect.isclass(obj) else docments(obj.__init__, full=False)
    except Exception: docs = {}
    try: src = inspect.getsource(f)
    except (OSError, TypeError): src = ''
    def star_doc(p):   # fastcore's docments skips *args/**kwargs: accept a comment on their own line
        return p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and re.search(rf"\*{{1,2}}{p.name}\s*[,)]?[^\n#]*#\s*\S", src)
    params = [p for n, p in sig.parameters.items() if n not in ('self', 'cls')]
    return [f"{qual}({p.name})" for p in params if not (docs or {}).get(p.name) and not star_doc(p)]

def test_every_exported_parameter_has_a_docment():
    import importlib, dataclasses
    missing = []
    for p in MODULES:
        m = importlib.import_module(f'cxr_fast.{p.stem}')
        for name in getattr(m, '__all__', []):
            o = getattr(m, name)
            if getattr(o, '__module__', None) != m.__name__: continue
            if inspect.isclass(o) and dataclasses.is_dataclass(o): continue   # dataclass fields carry their comments in the class body
            if inspect.isclass(o) and '__init__' not in vars(o): continue     # inherits its parent's signature
            if inspect.isfunction(o) or inspect.isclass(o): missing += _undocumented(o, f'{p.stem}.{name}')
    assert not missing, f"{len(missing)} parameters without a docment:\n" + '\n'.join(missing)
