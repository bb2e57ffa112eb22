"""A fast executor for the simulator's queries: the operation's selections projected over the resolvers' objects.

graphql-core's ``execute_sync`` spends some 2 µs of machinery on every field of every
object (resolve info, path, completion by type); a page of 100 variants is thousands
of fields. ``compile_plan`` turns a validated operation into a plan once (cached with
the parsed document): per response key, in graphql-core's order (selection order,
fragments inlined where they stand, same-key fields merged), the field's definition,
its arguments and how to complete its value. The plan is then written out as Python
source, a function per selection set on an object type and per list of objects, with
keys, field names and cost rules as constants, and compiled; ``project`` calls the
root's function on the same root value graphql-core would read. The functions read
the same objects and callables, resolving exactly as its default resolver does (a
mapping's key or an attribute; a callable called with a resolve info and the coerced
arguments), and complete as it does: nulls where allowed, lists item by item, leaves
through the type's own output coercion (with a shortcut for the values it would pass
through unchanged: a ``str`` for String, ID and the identity custom scalars, an
``int`` in range for Int, a ``bool``, a known enum value).

It also returns the operation's actual cost (``shopify_cost``'s rules) counted while
projecting, so the result is not walked a second time.

Anything it does not handle is left to graphql-core, never approximated:

* at compile time (``compile_plan`` raises ``Unfit``): a non-query operation,
  directives (``@skip``/``@include`` and any other), introspection fields other than
  ``__typename``, a fragment whose type condition is not the parent type, fields with
  their own resolver, abstract types, lists of lists, shapes the cost rules would read
  differently from the response (a ``nodes``/``edges`` that is not a list, a list of
  connections, a list in an edge), arguments that do not coerce;
* at run time (``project`` returns None): any exception, from a resolver (a bad cursor,
  an invalid quantity name) or from output coercion, a null where the type forbids one,
  a list value that is not a ``list``/``tuple``, a resolver returning an exception or a
  coroutine, a resolver reading a resolve-info attribute the stand-in lacks.

The caller then runs ``execute_sync`` on fresh resolvers: the answer is graphql-core's,
errors and partial data included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
)
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined

from monitor.demo.sim.shopify_cost import CONNECTION_COST, CostAnalysis, is_connection

__all__ = ["Unfit", "Plan", "compile_plan", "project"]

_MIN_INT, _MAX_INT = -(2**31), 2**31 - 1

# How a field's value adds to the actual cost (shopify_cost's ``actual``/``actual_items``).
_NONE = 0  # a leaf, __typename, a connection's pageInfo: nothing
_OBJECT = 1  # 1, plus what is inside when not null
_CONNECTION = 2  # 2, plus its objects (the children count as _NODES/_EDGES)
_LIST = 3  # a list of objects: with an integer ``first``, 1 + inside per item; else 1 + the dearest item
_NODES = 4  # a connection's nodes: 1 + inside per item
_EDGES = 5  # a connection's edges: per edge, what its _EDGE_NODE fields add
_EDGE_NODE = 6  # an edge's node: 1 + inside, nothing when null

# Where an object sits, which decides how its object fields count.
_PLAIN, _IN_CONNECTION, _IN_EDGE, _UNCOUNTED = range(4)

# Leaf shortcuts: values the type's own coercion would return unchanged.
_CALL, _STR, _INT, _BOOL, _ENUM = range(5)
# The shortcut's test, written out for a value in ``{0}``; other leaves always go through ``_leaf_field``.
_UNCHANGED = {
    _STR: "type({0}) is str",
    _INT: f"type({{0}}) is int and {_MIN_INT} <= {{0}} <= {_MAX_INT}",
    _BOOL: "type({0}) is bool",
}
# What a resolver returns that is certainly neither an exception nor awaitable.
_PLAIN_VALUES = frozenset({dict, list, tuple, str, int, float, bool, type(None)})


class Unfit(Exception):
    """The operation uses something the projector leaves to graphql-core."""


class _Bail(Exception):
    """Something at run time the projector leaves to graphql-core."""


class _Leaf:
    __slots__ = ("nullable", "mode", "coerce", "names")

    def __init__(self, nullable: bool, type_: GraphQLScalarType | GraphQLEnumType) -> None:
        self.nullable = nullable
        coerce: Callable[[Any], Any] = getattr(type_, "coerce_output_value", None) or type_.serialize
        self.coerce = coerce
        self.names: dict[Any, Any] = {}
        if isinstance(type_, GraphQLEnumType):
            self.mode = _ENUM
            for value in type_.values.values():
                try:
                    self.names[value.value] = coerce(value.value)
                except Exception:  # noqa: BLE001 - unhashable or refused: left to the coercion itself
                    continue
        elif type_ is GraphQLString or type_ is GraphQLID:
            self.mode = _STR
        elif type_ is GraphQLInt:
            self.mode = _INT
        elif type_ is GraphQLBoolean:
            self.mode = _BOOL
        elif coerce is GraphQLScalarType.serialize:  # a custom scalar without its own: identity
            self.mode = _STR
        else:
            self.mode = _CALL


class _Object:
    __slots__ = ("nullable", "type_name", "fields", "function")

    def __init__(self, nullable: bool, type_name: str, fields: list[_Field], function: str) -> None:
        self.nullable = nullable
        self.type_name = type_name
        self.fields = fields
        self.function = function  # the name of its compiled function


class _List:
    __slots__ = ("nullable", "item")

    def __init__(self, nullable: bool, item: _Leaf | _Object) -> None:
        self.nullable = nullable
        self.item = item


_Shape = _Leaf | _Object | _List


class _Field:
    __slots__ = (
        "key", "name", "node", "definition", "shape", "count", "args", "slot", "list_slot", "parent", "number",
    )

    def __init__(self, key: str, name: str, node: FieldNode, parent: GraphQLObjectType) -> None:
        self.key = key
        self.name = name
        self.node = node
        self.parent = parent
        self.number = -1  # its constant in the compiled code is ``_field{number}`` (not __typename's)
        self.definition: GraphQLField | None = None  # None: __typename
        self.shape: _Shape | None = None
        self.count = _NONE
        self.args: dict[str, Any] | None = None  # literal arguments, coerced once; else per request
        self.slot = -1  # index of its arguments in a run's, when they read variables
        self.list_slot = -1  # index of its flag in a run's ``first``, for a _LIST field


class Plan:
    """A compiled operation: its root selections, the fields whose arguments come from variables, and
    ``build``, the compiled function answering the root selections (see ``_source``)."""

    __slots__ = ("schema", "operation", "fragments", "root", "dynamic", "lists", "fields", "objects", "build")

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        self.dynamic: list[_Field] = []  # arguments that read variables
        self.lists: list[_Field] = []  # _LIST fields: is their ``first`` an integer (cost rules)?
        self.fields: list[_Field] = []  # every field but __typename, by number
        self.objects: list[_Object] = []  # every object selection, innermost first
        if operation.operation != OperationType.QUERY or operation.directives:
            raise Unfit("not a plain query")
        root = schema.query_type
        if root is None:
            raise Unfit("no query type")
        self.root = self._object(root, [operation.selection_set], nullable=False, place=_PLAIN)
        namespace: dict[str, Any] = {
            "Mapping": Mapping,
            "_Bail": _Bail,
            "_attributes": _attributes,
            "_leaf_field": _leaf_field,
            "_leaves": _leaves,
            **{f"_field{field.number}": field for field in self.fields},
        }
        # Our own code: what it takes from the query (keys, field and type names) it holds as string literals.
        name = operation.name.value if operation.name else "a query"
        exec(compile(_source(self), f"<plan of {name}>", "exec"), namespace)
        self.build: Callable[[_Run, Any, _PathTuple | None], tuple[dict[str, Any], int]] = namespace[
            self.root.function
        ]

    # -- compiling --------------------------------------------------------------------------------

    def _collect(
        self, parent: GraphQLObjectType, sets: Iterable[SelectionSetNode], into: dict[str, list[FieldNode]]
    ) -> dict[str, list[FieldNode]]:
        """graphql-core's collect_fields without directives: selection order, fragments inlined in place."""
        for selection_set in sets:
            for selection in selection_set.selections:
                if selection.directives:
                    raise Unfit("directives")
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    into.setdefault(key, []).append(selection)
                    continue
                if isinstance(selection, InlineFragmentNode):
                    condition, inner = selection.type_condition, selection.selection_set
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments.get(selection.name.value)
                    if fragment is None or getattr(fragment, "variable_definitions", None):
                        raise Unfit("fragment")
                    condition, inner = fragment.type_condition, fragment.selection_set
                else:
                    raise Unfit("selection")
                if condition is not None and condition.name.value != parent.name:
                    raise Unfit("type condition")
                self._collect(parent, [inner], into)
        return into

    def _object(
        self, type_: GraphQLObjectType, sets: list[SelectionSetNode], nullable: bool, place: int
    ) -> _Object:
        fields: list[_Field] = []
        for key, nodes in self._collect(type_, sets, {}).items():
            node = nodes[0]
            name = node.name.value
            field = _Field(key, name, node, type_)
            fields.append(field)
            if name == "__typename":
                continue
            field.number = len(self.fields)
            self.fields.append(field)
            definition = type_.fields.get(name)
            if definition is None or definition.resolve is not None:
                raise Unfit(f"field {type_.name}.{name}")
            field.definition = definition
            inner = [n.selection_set for n in nodes if n.selection_set is not None]
            field.count = self._count(place, name, definition.type)
            field.shape = self._shape(definition.type, inner, field.count)
            if any(_reads_variables(argument.value) for argument in node.arguments or ()):
                field.slot = len(self.dynamic)
                self.dynamic.append(field)
            else:
                field.args = get_argument_values(definition, node)
            if field.count == _LIST:
                field.list_slot = len(self.lists)
                self.lists.append(field)
        built = _Object(nullable, type_.name, fields, f"_object{len(self.objects)}")
        self.objects.append(built)
        return built

    @staticmethod
    def _count(place: int, name: str, type_: GraphQLOutputType) -> int:
        named = _named(type_)
        if not isinstance(named, GraphQLObjectType):
            return _NONE
        if place == _PLAIN:
            if is_connection(named):
                if isinstance(_nullable(type_), GraphQLList):
                    raise Unfit("a list of connections")
                return _CONNECTION
            return _LIST if isinstance(_nullable(type_), GraphQLList) else _OBJECT
        if place == _IN_CONNECTION:
            if name in ("nodes", "edges"):
                if not isinstance(_nullable(type_), GraphQLList):
                    raise Unfit(f"{name} not a list")
                return _NODES if name == "nodes" else _EDGES
            return _NONE
        if place == _IN_EDGE:
            if isinstance(_nullable(type_), GraphQLList):
                raise Unfit("a list in an edge")
            return _EDGE_NODE
        return _NONE

    def _shape(self, type_: GraphQLOutputType, sets: list[SelectionSetNode], count: int) -> _Shape:
        nullable = not isinstance(type_, GraphQLNonNull)
        bare = _nullable(type_)
        if isinstance(bare, GraphQLList):
            item = bare.of_type
            item_nullable = not isinstance(item, GraphQLNonNull)
            if isinstance(_nullable(item), GraphQLList):
                raise Unfit("a list of lists")
            inner = self._shape(item, sets, count)
            if isinstance(inner, _List):
                raise Unfit("a list of lists")
            inner.nullable = item_nullable
            return _List(nullable, inner)
        if isinstance(bare, GraphQLScalarType | GraphQLEnumType):
            return _Leaf(nullable, bare)
        if isinstance(bare, GraphQLObjectType):
            place = {
                _CONNECTION: _IN_CONNECTION,
                _EDGES: _IN_EDGE,
                _NONE: _UNCOUNTED,
            }.get(count, _PLAIN)
            return self._object(bare, sets, nullable, place)
        raise Unfit(f"type {bare}")


def _nullable(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _reads_variables(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(_reads_variables(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(_reads_variables(item.value) for item in value.fields)
    return False


def compile_plan(
    schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> Plan:
    """The plan of a validated ``operation``; ``Unfit`` if it is one for graphql-core."""
    try:
        return Plan(schema, operation, fragments)
    except Unfit:
        raise
    except Exception as error:  # an argument graphql-core would refuse, say: let it
        raise Unfit(str(error)) from error


# -- writing ----------------------------------------------------------------------------------------
# The plan as Python source. An object selection becomes
#
#     def _object3(run, source, path):   # the source object, its response path
#         get = source.get if ... else _attributes(source)    # the default resolver's read
#         cost = 0
#         value0 = get('sku')
#         if not (type(value0) is str):
#             value0 = _leaf_field(run, _field7, value0, path)   # a callable, a null, a coercion
#         value1 = get('inventoryItem')
#         if callable(value1):
#             value1 = run.call(_field8, value1, (path, 'inventoryItem', 'ProductVariant'))
#         if value1 is None:
#             raise _Bail                                    # non-null: graphql-core's error
#         value1, inner = _object2(run, value1, (path, 'inventoryItem', 'ProductVariant'))
#         cost += 1 + inner
#         return {'sku': value0, 'inventoryItem': value1}, cost
#
# and a list of objects ``_items{n}(run, value, path)``, n its field's number: each item
# through the object's function, the list's cost by the rules for where it stands.


def _source(plan: Plan) -> str:
    lines: list[str] = []
    for built in plan.objects:
        for field in built.fields:
            if isinstance(field.shape, _List) and isinstance(field.shape.item, _Object):
                lines += _items_source(field, field.shape.item)
        lines += _object_source(built)
    return "\n".join(lines) + "\n"


def _object_source(built: _Object) -> list[str]:
    lines = [
        f"def {built.function}(run, source, path):",
        "    get = source.get if type(source) is dict or isinstance(source, Mapping) else _attributes(source)",
        "    cost = 0",
    ]
    entries: list[str] = []
    for field in built.fields:
        if field.shape is None:  # __typename
            entries.append(f"{field.key!r}: {built.type_name!r}")
            continue
        value = f"value{len(entries)}"
        entries.append(f"{field.key!r}: {value}")
        lines.append(f"    {value} = get({field.name!r})")
        lines += _field_source(field, field.shape, value, f"(path, {field.key!r}, {built.type_name!r})")
    lines.append(f"    return {{{', '.join(entries)}}}, cost")
    return lines


def _field_source(field: _Field, shape: _Shape, value: str, path: str) -> list[str]:
    """Completing the value read into ``value``, and its cost added to ``cost``."""
    constant = f"_field{field.number}"
    if isinstance(shape, _Leaf):
        slow = f"    {value} = _leaf_field(run, {constant}, {value}, path)"
        unchanged = _UNCHANGED.get(shape.mode)
        return [slow] if unchanged is None else [f"    if not ({unchanged.format(value)}):", "    " + slow]
    lines = [f"    if callable({value}):", f"        {value} = run.call({constant}, {value}, {path})"]
    count = field.count
    if isinstance(shape, _Object):
        build = [f"{value}, inner = {shape.function}(run, {value}, {path})"]
        added = {_OBJECT: "1 + inner", _EDGE_NODE: "1 + inner", _CONNECTION: f"{CONNECTION_COST} + inner"}.get(count)
        if added is not None:
            build.append(f"cost += {added}")
    elif isinstance(shape.item, _Object):
        build = [f"{value}, inner = _items{field.number}(run, {value}, {path})", "cost += inner"]
    else:
        build = [f"{value} = _leaves({constant}.shape, {value})"]
    null = {
        _OBJECT: "cost += 1",
        _CONNECTION: f"cost += {CONNECTION_COST}",
        _LIST: f"cost += not run.first[{field.list_slot}]",
    }.get(count)
    if not shape.nullable:
        return [*lines, f"    if {value} is None:", "        raise _Bail", *(f"    {line}" for line in build)]
    if null is None:
        return [*lines, f"    if {value} is not None:", *(f"        {line}" for line in build)]
    return [*lines, f"    if {value} is None:", f"        {null}", "    else:", *(f"        {line}" for line in build)]


def _items_source(field: _Field, item: _Object) -> list[str]:
    count = field.count
    lines = [
        f"def _items{field.number}(run, value, path):",
        "    if type(value) is not list and type(value) is not tuple:",
        "        raise _Bail",
        "    out = []",
        "    total = dearest = 0" if count == _LIST else "    total = 0",
        "    for index, element in enumerate(value):",
        "        if element is None:",
        *(["            out.append(None)", "            continue"] if item.nullable else ["            raise _Bail"]),
        f"        built, inner = {item.function}(run, element, (path, index, None))",
        "        out.append(built)",
    ]
    if count == _NODES or count == _LIST:
        lines.append("        total += 1 + inner")
    elif count == _EDGES:
        lines.append("        total += inner")
    if count == _LIST:  # an integer ``first``: every item; else the dearest, once
        lines += [
            "        if inner > dearest:",
            "            dearest = inner",
            f"    return out, total if run.first[{field.list_slot}] else 1 + dearest",
        ]
    else:
        lines.append("    return out, total")
    return lines


# -- running ----------------------------------------------------------------------------------------

# A response path as plain tuples (prev, key, typename): a graphql ``Path`` is only built if read.
_PathTuple = tuple[Any, Any, Any]


def _as_path(path: _PathTuple | None) -> Path | None:
    if path is None:
        return None
    prev, key, typename = path
    return Path(_as_path(prev), key, typename)


class _Info:
    """What a resolver is handed in place of graphql-core's ``GraphQLResolveInfo`` (the parts it has)."""

    __slots__ = ("_run", "_field", "_path")

    def __init__(self, run: _Run, field: _Field, path: _PathTuple) -> None:
        self._run = run
        self._field = field
        self._path = path

    @property
    def field_name(self) -> str:
        return self._field.name

    @property
    def field_nodes(self) -> list[FieldNode]:
        return [self._field.node]

    @property
    def return_type(self) -> GraphQLOutputType:
        assert self._field.definition is not None
        return self._field.definition.type

    @property
    def parent_type(self) -> GraphQLObjectType:
        return self._field.parent

    @property
    def path(self) -> Path | None:
        return _as_path(self._path)

    @property
    def schema(self) -> GraphQLSchema:
        return self._run.plan.schema

    @property
    def fragments(self) -> Mapping[str, FragmentDefinitionNode]:
        return self._run.plan.fragments

    @property
    def operation(self) -> OperationDefinitionNode:
        return self._run.plan.operation

    @property
    def root_value(self) -> Any:
        return self._run.root_value

    @property
    def variable_values(self) -> Any:
        return self._run.variables

    @property
    def context(self) -> None:
        return None


class _Run:
    """One request's arguments and cost flags, and the resolver calls the compiled code makes."""

    __slots__ = ("plan", "root_value", "variables", "args", "first")

    def __init__(self, plan: Plan, root_value: Any, variables: Any, analysis: CostAnalysis) -> None:
        self.plan = plan
        self.root_value = root_value
        self.variables = variables
        self.args = [get_argument_values(_definition(f), f.node, variables) for f in plan.dynamic]
        # As the cost rules read ``first``: from the variables as sent, operation defaults filled in.
        self.first = [isinstance(analysis.argument(f.node, "first"), int) for f in plan.lists]

    def call(self, field: _Field, resolve: Callable[..., Any], path: _PathTuple) -> Any:
        """A callable field value called as the default resolver calls it."""
        args = field.args if field.args is not None else self.args[field.slot]
        value = resolve(_Info(self, field, path), **args)
        if type(value) not in _PLAIN_VALUES and (isinstance(value, Exception) or hasattr(value, "__await__")):
            raise _Bail
        return value


def _definition(field: _Field) -> GraphQLField:
    assert field.definition is not None
    return field.definition


def _attributes(source: Any) -> Callable[[str], Any]:
    """The default resolver's read of an object that is not a mapping."""
    return lambda name: getattr(source, name, None)


def _leaf_field(run: _Run, field: _Field, value: Any, path: _PathTuple | None) -> Any:
    """A leaf field's value read from its object at ``path``, completed: what the shortcut does not take."""
    if callable(value):
        value = run.call(field, value, (path, field.key, field.parent.name))
    shape = field.shape
    assert isinstance(shape, _Leaf)
    if value is None:
        if not shape.nullable:
            raise _Bail
        return None
    return _leaf(shape, value)


def _leaves(shape: _List, value: Any) -> list[Any]:
    if type(value) is not list and type(value) is not tuple:
        raise _Bail
    item = shape.item
    assert isinstance(item, _Leaf)
    out: list[Any] = []
    for element in value:
        if element is None:
            if not item.nullable:
                raise _Bail
            out.append(None)
        else:
            out.append(_leaf(item, element))
    return out


def _leaf(shape: _Leaf, value: Any) -> Any:
    mode = shape.mode
    kind = type(value)
    if mode == _STR:
        if kind is str:
            return value
    elif mode == _ENUM:
        try:
            return shape.names[value]
        except (KeyError, TypeError):
            pass
    elif mode == _INT:
        if kind is int and _MIN_INT <= value <= _MAX_INT:
            return value
    elif mode == _BOOL and kind is bool:
        return value
    coerced = shape.coerce(value)
    if coerced is None or coerced is Undefined:  # graphql-core's error
        raise _Bail
    return coerced


def project(plan: Plan, root_value: Any, variables: Any, analysis: CostAnalysis) -> tuple[dict[str, Any], int] | None:
    """``data`` as graphql-core's ``execute_sync`` would give it (when it gives no errors) and its actual
    cost; None when the request is one for graphql-core (see the module docstring).

    ``variables`` are the coerced values (``get_variable_values``), ``analysis`` the operation's cost
    analysis for the same request.
    """
    try:
        return plan.build(_Run(plan, root_value, variables, analysis), root_value, None)
    except Exception:  # noqa: BLE001 - whatever it is, graphql-core will say it properly
        return None
