"""Shopify's calculated query cost: the static estimate charged up front and the cost of what came back.

The rules are Shopify's documented ones (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits,
and Shopify Engineering, "Rate Limiting GraphQL APIs by Calculating Query Complexity"):

* a scalar or enum field costs 0, an object field 1 (whether or not it turns out null);
* a connection costs 2 plus, for each of the ``first`` (or ``last``) objects it may return, the cost
  of one object (1) and of everything selected inside it; ``edges { node }``, ``nodes`` and ``cursor``
  are the same objects, ``pageInfo`` is part of the 2;
* a plain list with a ``first`` argument (``Order.fulfillments(first: 5)``) costs ``first`` times one
  item; a list without one (``InventoryLevel.quantities``) is fetched as a single object;
* nesting multiplies: an inner connection's cost is paid for every outer object.

The documentation covers objects, scalars, enums and connections; the rules for plain lists and for
``pageInfo`` are the simulator's own (Shopify does not publish them), as is counting a null object.

``requestedQueryCost`` is that estimate; ``actualQueryCost`` applies the same rules to the objects
actually returned (2 per connection plus its returned nodes), so it is never higher. Live 2026 stores
report lower estimates for deeply nested queries than these documented rules give, so the simulator
errs on the expensive side. A connection without ``first``/``last``, or asking for more than 250
objects, is an error found here, before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DirectiveNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLOutputType,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.utilities import value_from_ast_untyped

__all__ = ["CONNECTION_COST", "MAX_PAGE_SIZE", "CostAnalysis", "analyse", "is_connection", "variables_read"]

CONNECTION_COST = 2
MAX_PAGE_SIZE = 250


@dataclass
class CostAnalysis:
    """The static estimate of one operation, and what is wrong with its page sizes (nothing runs then)."""

    requested: int
    problems: list[GraphQLError] = field(default_factory=list)
    _walker: _Walker | None = field(default=None, repr=False)

    def actual(self, data: Mapping[str, Any] | None) -> int:
        """The cost of ``data``, the result of running the operation."""
        if self._walker is None or data is None:
            return 0
        return self._walker.actual(self._walker.root, [self._walker.operation.selection_set], data)

    def argument(self, node: FieldNode, name: str) -> Any:
        """Argument ``name`` of ``node`` as these rules read it: from the variables as sent (None if absent)."""
        return self._walker.argument(node, name) if self._walker is not None else None


def analyse(
    schema_root: GraphQLObjectType,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> CostAnalysis:
    """The requested cost of ``operation`` run from ``schema_root`` with ``variables`` (raw, as sent)."""
    effective = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in effective and definition.default_value is not None:
            effective[name] = value_from_ast_untyped(definition.default_value)
    walker = _Walker(schema_root, operation, fragments, effective)
    requested = walker.requested(schema_root, [operation.selection_set], [])
    return CostAnalysis(requested, walker.problems, walker)


def variables_read(definitions: Iterable[OperationDefinitionNode | FragmentDefinitionNode]) -> tuple[str, ...]:
    """The variables ``analyse`` can read in these definitions: those in a field's ``first`` or ``last``
    and in a directive's arguments. Its answer depends on the values of these alone."""
    names: set[str] = set()
    pending = [definition.selection_set for definition in definitions]
    while pending:
        for selection in pending.pop().selections:
            arguments = [a for d in selection.directives or () for a in d.arguments or ()]
            if isinstance(selection, FieldNode):
                arguments += [a for a in selection.arguments or () if a.name.value in ("first", "last")]
            for argument in arguments:
                names.update(_variables_in(argument.value))
            inner = getattr(selection, "selection_set", None)
            if inner is not None:
                pending.append(inner)
    return tuple(sorted(names))


def _variables_in(value: ValueNode) -> Iterable[str]:
    if isinstance(value, VariableNode):
        yield value.name.value
    elif isinstance(value, ListValueNode):
        for item in value.values:
            yield from _variables_in(item)
    elif isinstance(value, ObjectValueNode):
        for field_ in value.fields:
            yield from _variables_in(field_.value)


def is_connection(type_: GraphQLObjectType) -> bool:
    """Whether the rules cost ``type_`` as a connection."""
    return type_.name.endswith("Connection") and "pageInfo" in type_.fields


class _Walker:
    def __init__(
        self,
        root: GraphQLObjectType,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.root = root
        self.operation = operation
        self.fragments = fragments
        self.variables = variables
        self.problems: list[GraphQLError] = []
        # The actual cost walks the same selections once per returned object: collect each once.
        self._collected: dict[tuple[int, ...], dict[str, list[FieldNode]]] = {}

    # -- selections ---------------------------------------------------------------------------------

    def argument(self, node: FieldNode | DirectiveNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return value_from_ast_untyped(argument.value, self.variables)
        return None

    def included(self, node: SelectionNode) -> bool:
        for directive in node.directives or ():
            condition = self.argument(directive, "if")
            if directive.name.value == "skip" and condition is True:
                return False
            if directive.name.value == "include" and condition is False:
                return False
        return True

    def collect(self, selection_sets: Iterable[SelectionSetNode]) -> dict[str, list[FieldNode]]:
        """Fields by response key (alias or name), fragments inlined, as execution merges them."""
        sets = list(selection_sets)
        cache_key = tuple(id(selection_set) for selection_set in sets)
        cached = self._collected.get(cache_key)
        if cached is not None:
            return cached
        fields: dict[str, list[FieldNode]] = {}
        self._collected[cache_key] = fields
        pending = sets
        while pending:
            for selection in pending.pop(0).selections:
                if not self.included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    pending.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is not None:
                        pending.append(fragment.selection_set)
        return fields

    def children(
        self, parent: GraphQLObjectType, nodes: list[FieldNode]
    ) -> tuple[GraphQLOutputType, GraphQLObjectType | None, list[SelectionSetNode]]:
        """The field's type, its object type (None for a scalar or enum) and its merged selections."""
        type_ = parent.fields[nodes[0].name.value].type
        named = get_named_type(type_)
        sets = [node.selection_set for node in nodes if node.selection_set is not None]
        return type_, named if isinstance(named, GraphQLObjectType) else None, sets

    # -- requested ----------------------------------------------------------------------------------

    def requested(self, parent: GraphQLObjectType, sets: list[SelectionSetNode], path: list[str]) -> int:
        total = 0
        for key, nodes in self.collect(sets).items():
            if nodes[0].name.value.startswith("__"):
                continue
            type_, named, inner = self.children(parent, nodes)
            if named is None:
                continue
            here = [*path, key]
            if is_connection(named):
                size = self.page_size(nodes[0], here)
                total += CONNECTION_COST + size * self.requested_items(named, inner, here)
            elif is_list_type(get_nullable_type(type_)) and isinstance(self.argument(nodes[0], "first"), int):
                total += self.argument(nodes[0], "first") * (1 + self.requested(named, inner, here))
            else:
                total += 1 + self.requested(named, inner, here)
        return total

    def requested_items(self, connection: GraphQLObjectType, sets: list[SelectionSetNode], path: list[str]) -> int:
        """The cost of one object of a connection, however it is selected (``edges { node }``, ``nodes``)."""
        total = 0
        for key, nodes in self.collect(sets).items():
            name = nodes[0].name.value
            if name.startswith("__"):  # __typename costs nothing and has no field definition
                continue
            _, named, inner = self.children(connection, nodes)
            if named is None or name == "pageInfo":
                continue
            if name == "nodes":
                total += 1 + self.requested(named, inner, [*path, key])
            elif name == "edges":
                for edge_key, edge_nodes in self.collect(inner).items():
                    if edge_nodes[0].name.value.startswith("__"):
                        continue
                    _, node_type, node_sets = self.children(named, edge_nodes)
                    if node_type is not None:
                        total += 1 + self.requested(node_type, node_sets, [*path, key, edge_key])
        return total

    def page_size(self, node: FieldNode, path: list[str]) -> int:
        first, last = self.argument(node, "first"), self.argument(node, "last")
        size = first if isinstance(first, int) else last if isinstance(last, int) else None
        if size is None:
            self.problem("you must provide one of first or last", node, path)
            return 0
        if size < 0:
            self.problem(f"Argument '{'first' if first is not None else 'last'}' must be 0 or more", node, path)
            return 0
        if size > MAX_PAGE_SIZE:
            # The wording is ours; what matters is that Shopify refuses, and nothing runs.
            argument = "first" if isinstance(first, int) else "last"
            self.problem(
                f"The page size requested by '{argument}' ({size}) exceeds the maximum of {MAX_PAGE_SIZE}",
                node,
                path,
            )
        return size

    def problem(self, message: str, node: FieldNode, path: list[str]) -> None:
        self.problems.append(GraphQLError(message, nodes=node, path=path))

    # -- actual -------------------------------------------------------------------------------------

    def actual(self, parent: GraphQLObjectType, sets: list[SelectionSetNode], data: Mapping[str, Any]) -> int:
        total = 0
        for key, nodes in self.collect(sets).items():
            if nodes[0].name.value.startswith("__") or key not in data:
                continue
            type_, named, inner = self.children(parent, nodes)
            if named is None:
                continue
            value = data[key]
            if is_connection(named):
                total += CONNECTION_COST + (self.actual_items(named, inner, value) if value is not None else 0)
            elif is_list_type(get_nullable_type(type_)):
                items = [self.actual(named, inner, item) for item in value or () if item is not None]
                if isinstance(self.argument(nodes[0], "first"), int):
                    total += sum(1 + cost for cost in items)
                else:
                    total += 1 + max(items, default=0)
            else:
                total += 1 + (self.actual(named, inner, value) if value is not None else 0)
        return total

    def actual_items(self, connection: GraphQLObjectType, sets: list[SelectionSetNode], value: Any) -> int:
        total = 0
        for key, nodes in self.collect(sets).items():
            name = nodes[0].name.value
            if name.startswith("__"):
                continue
            _, named, inner = self.children(connection, nodes)
            if named is None or name == "pageInfo" or not value.get(key):
                continue
            if name == "nodes":
                total += sum(1 + self.actual(named, inner, item) for item in value[key] if item is not None)
            elif name == "edges":
                for edge_key, edge_nodes in self.collect(inner).items():
                    if edge_nodes[0].name.value.startswith("__"):
                        continue
                    _, node_type, node_sets = self.children(named, edge_nodes)
                    if node_type is None:
                        continue
                    for edge in value[key]:
                        if edge is not None and edge.get(edge_key) is not None:
                            total += 1 + self.actual(node_type, node_sets, edge[edge_key])
        return total
