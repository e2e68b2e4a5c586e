"""The import graph of the apps has no circle across modules except Celery task <-> service
pairs (issue 13): a circle hidden behind function-level imports is still a circle, and grimp
sees those imports too."""

from __future__ import annotations

import grimp

APPS = ("billingsite", "accounts", "metering", "invoicing", "disputes")


def _circles(graph: grimp.ImportGraph) -> list[set[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def _is_task_service_pair(component: set[str]) -> bool:
    return len(component) == 2 and any(name.endswith(".tasks") for name in component)


def test_the_only_import_circles_are_celery_task_and_service_pairs() -> None:
    circles = _circles(grimp.build_graph(*APPS))
    assert [sorted(c) for c in circles if not _is_task_service_pair(c)] == []


def test_the_circle_finder_finds_a_circle() -> None:
    graph = grimp.ImportGraph()
    for a, b in [("x.a", "x.b"), ("x.b", "x.c"), ("x.c", "x.a"), ("x.c", "x.d")]:
        graph.add_import(importer=a, imported=b)
    assert _circles(graph) == [{"x.a", "x.b", "x.c"}]
