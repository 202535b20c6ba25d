"""Issue 30: no function in src/ is longer than 60 lines (small functions with names that explain them)."""
import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
LIMIT = 60


def long_functions(source: str) -> list[tuple[str, int]]:
    """(name, lines) of every function or method of ``source`` longer than LIMIT lines."""
    return [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(ast.parse(source))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > LIMIT]


def test_no_function_in_src_is_over_60_lines():
    found = [f"{p.relative_to(SRC)}::{name} ({lines} lines)" for p in sorted(SRC.rglob("*.py"))
             for name, lines in long_functions(p.read_text("utf-8"))]
    assert found == []


def test_the_check_sees_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    assert long_functions(f"def f():\n{body}\n") == [("f", LIMIT + 1)]
    assert long_functions("def g():\n    return 1\n") == []
