"""The package's imports run one way, down: no cycle, function-level imports included.

The graph is read with `ast` from the source, so it sees every import a
module can run, not only those a test happened to trigger: module-level and
function-level `import`/`from ... import`, and the public face's lazy table
(`keras_zoo._EXPORTS`). Importing `keras_zoo.a.b` runs the face
`keras_zoo/a/__init__.py` first, so it counts as importing that face too,
except from inside `keras_zoo.a`.
"""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "keras_zoo"


def modules():
    """`{dotted name: path}` of every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _known(name, names):
    """The longest prefix of `name` that is a module of the package."""
    while name and name not in names:
        name = name.rpartition(".")[0]
    return name


def imports_of(name, path, names):
    """The package's modules that `name` can import (every kind of import)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {_known(a.name, names) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in names else _known(base, names))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and path.name == "__init__.py" and node.value.startswith("keras_zoo."):
            targets.add(_known(node.value, names))  # a face's lazy table
    faces = set()
    for target in targets:
        parent = target.rpartition(".")[0]
        if parent in names and parent != "keras_zoo" and not name.startswith(parent + "."):
            faces.add(parent)  # importing a.b runs a's face first
    return {t for t in targets | faces if t.startswith("keras_zoo") and t != name}


def import_graph():
    names = modules()
    return {name: imports_of(name, path, names) for name, path in names.items()}


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 40 and graph["keras_zoo.training.loop"], "the graph was not read"
    assert cycles(graph) == []


def test_the_cycle_finder_sees_function_level_imports(tmp_path):
    # The check itself: a cycle closed by a function-local import is found.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from keras_zoo.models import registry\n")
    assert imports_of("keras_zoo.runs.folder", module, modules()) == {
        "keras_zoo.models.registry", "keras_zoo.models"}


def test_the_registry_imports_no_model():
    graph = import_graph()
    assert not any(t.startswith("keras_zoo.models.") or t == "keras_zoo.models"
                   for t in graph["keras_zoo.models.registry"])


def test_every_sub_package_has_a_face_that_says_what_its_files_hold():
    for face in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(face.read_text(encoding="utf-8"))) or ""
        for module in face.parent.glob("*.py"):
            if module.name not in ("__init__.py", "__main__.py"):
                assert f"`{module.name}`" in doc, (face, module.name)


def test_every_public_name_resolves():
    import keras_zoo as kz

    for name in kz.__all__:
        assert getattr(kz, name) is not None, name
    for name in ("list_models", "model_info", "create_model", "load_dataset", "fit", "evaluate",
                 "get_strategy", "load_model", "recipe", "export", "tune", "dataset_spec"):
        assert name in kz.__all__, name
