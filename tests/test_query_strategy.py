"""The order a search spending queries asks a centre's neighbours in (``queries._pattern``): a pattern search.

Each test hands the strategy the ranker's order and a history of answers, and checks which cells come first.
"""

from tenas_kit.queries import _pattern

ALL_3X3 = ("nor_conv_3x3",) * 6
OTHERS = ("none", "skip_connect", "nor_conv_1x1", "avg_pool_3x3")


def text(space, arch):
    return space.format(arch)


def changed(cell, edge, op):
    return cell[:edge] + (op,) + cell[edge + 1:]


def edge_of(space, centre, neighbour):
    """The one edge where ``neighbour`` differs from ``centre``."""
    (edge,) = [e for e, (a, b) in enumerate(zip(centre, space.parse(neighbour))) if a != b]
    return edge


def ranked_worst_edge_first(space, centre, skip=()):
    """The centre's neighbours, as a ranker might order them: every change of edge 5 first, edge 0's last."""
    cells = [changed(centre, e, op) for e in reversed(range(6)) for op in OTHERS + ("nor_conv_3x3",)
             if op != centre[e]]
    return [text(space, c) for c in cells if text(space, c) not in skip]


def test_from_a_fresh_centre_each_edge_is_tried_once_before_any_twice(nb201):
    start = text(nb201, ALL_3X3)
    ranked = ranked_worst_edge_first(nb201, ALL_3X3)
    order = _pattern(nb201, start, {start: 90.0}, ranked)
    assert sorted(order) == sorted(ranked)  # reordered, nothing lost or added
    first = [edge_of(nb201, ALL_3X3, t) for t in order[:6]]
    assert sorted(first) == list(range(6))
    # Of each edge, the ranker's favourite change, and the edges in the ranker's order.
    assert order[:6] == [next(t for t in ranked if edge_of(nb201, ALL_3X3, t) == e) for e in first]
    assert first == [5, 4, 3, 2, 1, 0]


def test_the_edge_whose_change_paid_is_explored_first(nb201):
    start = text(nb201, ALL_3X3)
    better = changed(ALL_3X3, 3, "nor_conv_1x1")  # edge 3<-0 changed, and the answer went up
    answered = {start: 93.76, text(nb201, better): 93.98}
    ranked = ranked_worst_edge_first(nb201, better, skip=answered)
    order = _pattern(nb201, text(nb201, better), answered, ranked)
    assert [edge_of(nb201, better, t) for t in order[:3]] == [3, 3, 3]  # none, skip, pooling: all but the start
    assert order[:3] == [t for t in ranked if edge_of(nb201, better, t) == 3]
    # Then every other edge once.
    assert sorted(edge_of(nb201, better, t) for t in order[3:8]) == [0, 1, 2, 4, 5]


def test_the_edge_that_paid_is_the_move_that_made_the_centre_whatever_the_order_answers_came_in(nb201):
    # A batch asked two changes of edge 3 at once and one became the centre; then a change of edge 4 was
    # asked from the centre and answered less than it, but more than the rest. The edge that paid is still
    # edge 3, whichever of the batch's answers came first.
    start = text(nb201, ALL_3X3)
    best, sibling = changed(ALL_3X3, 3, "skip_connect"), changed(ALL_3X3, 3, "nor_conv_1x1")
    later = changed(best, 4, "nor_conv_1x1")
    values = {best: 94.36, sibling: 93.98, later: 94.20}
    asked = {start, text(nb201, sibling), text(nb201, later)}
    ranked = ranked_worst_edge_first(nb201, best, skip=asked)
    orders = []
    for arrival in ((best, sibling, later), (sibling, best, later)):
        answered = {start: 93.76, **{text(nb201, c): values[c] for c in arrival}}
        orders.append(_pattern(nb201, text(nb201, best), answered, ranked))
    assert orders[0] == orders[1]
    assert [edge_of(nb201, best, t) for t in orders[0][:2]] == [3, 3]  # pooling and none: the rest of edge 3


def test_once_every_edge_is_tried_the_edges_that_moved_the_answer_most_come_first(nb201):
    start = text(nb201, ALL_3X3)
    drop = {0: 0.1, 1: 0.3, 2: 0.2, 3: 1.7, 4: 0.05, 5: 0.4}  # how far the answer fell when the edge changed
    answered = {start: 93.76}
    for edge, fall in drop.items():
        answered[text(nb201, changed(ALL_3X3, edge, "nor_conv_1x1"))] = 93.76 - fall
    ranked = ranked_worst_edge_first(nb201, ALL_3X3, skip=answered)
    order = _pattern(nb201, start, answered, ranked)
    edges = [edge_of(nb201, ALL_3X3, t) for t in order]
    by_effect = sorted(drop, key=lambda e: -drop[e])
    assert edges == [e for e in by_effect for _ in range(3)]
    assert order[:3] == [t for t in ranked if edge_of(nb201, ALL_3X3, t) == 3]  # the ranker's order within
