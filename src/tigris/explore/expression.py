"""Safe arithmetic expressions for derived parameters and constraints (the user's text is
parsed by the grammar below, never handed to `eval`).

Grammar (usual precedence, `**` right-associative, unary minus binds tighter than `*`):

    expr    := term (('+' | '-') term)*
    term    := unary (('*' | '/' | '//' | '%') unary)*
    unary   := '-' unary | '+' unary | power
    power   := atom ('**' unary)?
    atom    := NUMBER | 'QUANTITY' | NAME | FUNC '(' expr (',' expr)* ')' | '(' expr ')'

A NAME may hold dots (`matrix.rows`, `memory.sram.0.capacity`): it is a sweep parameter or a
field of the base chip, in SI units. A quoted quantity ('600 mm2', '4 TB/s') is read with its
unit into SI. Functions: min, max, sqrt, log, log2, log10, exp, ceil, floor, abs, round.
The parser builds a small tree of tuples (picklable); `evaluate` runs it compiled to one
Python function (`_compiled`), which gives exactly what walking it (`_evaluate`) gives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from tigris.errors import SpecError, shorten
from tigris.explore.quantity import parse_any_quantity

FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "exp": math.exp,
    "ceil": math.ceil,
    "floor": math.floor,
    "abs": abs,
    "round": round,
}

_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
    "**": lambda a, b: a**b,
}

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<quantity>'[^']*')"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|\d+))*)"
    r"|(?P<op>\*\*|//|[-+*/%(),])"
    r")"
)

# Tree nodes: ("num", value) | ("name", text) | ("neg", node) | ("bin", op, a, b)
# | ("call", function name, (args...))
Node = tuple[Any, ...]
# The tree is at most as deep as its tokens are many, and the compiled source nests one
# parenthesis per level: Python's parser stops at 200 levels, its stack at about 1000.
MAX_TOKENS = 150


def _tokenize(text: str, where: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise SpecError(
                f"cannot read expression {shorten(text)!r} at {shorten(text[position:].strip())!r}",
                key_path=where,
                hint="use numbers, names, 'quantities', + - * / // % ** ( ) and "
                + ", ".join(FUNCTIONS),
            )
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, where: str) -> None:
        self.text = text
        self.where = where
        self.tokens = _tokenize(text, where)
        if len(self.tokens) > MAX_TOKENS:  # the parser, the tree walks and compile recurse
            raise SpecError(
                f"expression of {len(self.tokens):,} tokens; at most {MAX_TOKENS} are read",
                key_path=where,
                hint="split it into several derived values",
            )
        self.index = 0

    def fail(self, message: str) -> SpecError:
        return SpecError(f"{message} in expression {shorten(self.text)!r}", key_path=self.where)

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, op: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise self.fail("unexpected end")
        if op is not None and token != ("op", op):
            raise self.fail(f"expected {op!r}, found {token[1]!r}")
        self.index += 1
        return token

    def at(self, *ops: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "op" and token[1] in ops

    def parse(self) -> Node:
        if not self.tokens:
            raise self.fail("empty expression")
        node = self.expr()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.at("+", "-"):
            op = self.take()[1]
            node = ("bin", op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.unary()
        while self.at("*", "/", "//", "%"):
            op = self.take()[1]
            node = ("bin", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("-"):
            self.take()
            return ("neg", self.unary())
        if self.at("+"):
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        node = self.atom()
        if self.at("**"):
            self.take()
            node = ("bin", "**", node, self.unary())
        return node

    def atom(self) -> Node:
        kind, text = self.take()
        if kind == "number":
            return ("num", float(text))
        if kind == "quantity":
            try:
                return ("num", parse_any_quantity(text[1:-1]))
            except SpecError as error:
                raise self.fail(error.message) from None
        if kind == "name":
            if self.at("("):
                if text not in FUNCTIONS:
                    raise self.fail(f"unknown function {text!r}")
                self.take("(")
                args = [self.expr()]
                while self.at(","):
                    self.take()
                    args.append(self.expr())
                self.take(")")
                return ("call", text, tuple(args))
            return ("name", text)
        if (kind, text) == ("op", "("):
            node = self.expr()
            self.take(")")
            return node
        raise self.fail(f"unexpected {text!r}")


def _names(node: Node) -> set[str]:
    kind = node[0]
    if kind == "name":
        return {node[1]}
    if kind == "neg":
        return _names(node[1])
    if kind == "bin":
        return _names(node[2]) | _names(node[3])
    if kind == "call":
        return set().union(*(_names(arg) for arg in node[2]))
    return set()


def _evaluate(node: Node, env: Mapping[str, float]) -> float:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "name":
        return env[node[1]]
    if kind == "bin":
        return _BINARY[node[1]](_evaluate(node[2], env), _evaluate(node[3], env))
    if kind == "neg":
        return -_evaluate(node[1], env)
    return FUNCTIONS[node[1]](*(_evaluate(arg, env) for arg in node[2]))


@lru_cache(maxsize=256)
def _compiled(node: Node) -> Callable[[Mapping[str, float]], float]:
    """The tree as one Python function: the same operations as `_evaluate` in the same
    order (fully parenthesised, operands left to right), without its walk over the nodes (a
    sweep evaluates each expression per design). The source is generated from the parsed
    tree alone: numbers, names and functions enter it as indexes into tables, never as
    text the user wrote. Memoised by tree, so a process compiles each expression once
    (functions do not pickle; the tree travels to workers)."""
    tables: dict[str, list[Any]] = {"_num": [], "_name": [], "_fn": []}

    def slot(table: str, value: Any) -> str:
        tables[table].append(value)
        return f"{table}[{len(tables[table]) - 1}]"

    def source(node: Node) -> str:
        kind = node[0]
        if kind == "num":
            return slot("_num", node[1])
        if kind == "name":
            return f"env[{slot('_name', node[1])}]"
        if kind == "neg":
            return f"(-{source(node[1])})"
        if kind == "bin":
            return f"({source(node[2])} {node[1]} {source(node[3])})"
        return f"{slot('_fn', FUNCTIONS[node[1]])}({', '.join(source(a) for a in node[2])})"

    text = f"lambda env: {source(node)}"
    return eval(compile(text, "<expression>", "eval"), {"__builtins__": {}, **tables})  # noqa: S307


@dataclass(frozen=True)
class Expression:
    """A parsed expression: `names` it reads, `evaluate(env)` its value."""

    text: str
    tree: Node
    names: frozenset[str]

    def evaluate(self, env: Mapping[str, float]) -> float:
        """The value with names looked up in `env`; ArithmeticError/ValueError pass through
        (a design whose derived value is undefined is recorded as infeasible)."""
        return _compiled(self.tree)(env)


def parse_expression(text: str, *, where: str = "expression") -> Expression:
    """Parse `text`; SpecError (located at `where`) for anything outside the grammar."""
    if not isinstance(text, str):
        raise SpecError(
            f"expected an expression as text, got {shorten(repr(text))}", key_path=where
        )
    tree = _Parser(text, where).parse()
    return Expression(text, tree, frozenset(_names(tree)))
