"""ScienceWorld's valid-action shortlist and action parser (pure functions, no Java)."""

from armap.envs.scienceworld.actions import parse_action, relevance, shortlist, verb

BOIL = ("Your task is to boil water. For compounds without a boiling point, combusting the "
        "substance is also acceptable. First, focus on the substance. Then, take actions that "
        "will cause it to change its state of matter.")
OBJECTS = ["apple", "banana", "bowl", "chair", "counter", "cupboard", "fridge", "metal pot",
           "orange", "sink", "stove", "substance in metal pot", "table", "thermometer",
           "air", "kitchen", "hallway"]


def valid_actions() -> list[str]:
    """A kitchen's worth of the simulator's combinations, in its (alphabetical) order."""
    actions = ["look around", "inventory", "wait1", "wait", "task", "reset task",
               "go to hallway", "open door to hallway"]
    for a in OBJECTS:
        actions += [f"pick up {a}", f"focus on {a}", f"look at {a}", f"open {a}",
                    f"activate {a}", f"mix {a}"]
        for b in OBJECTS:
            if a != b:
                actions += [f"connect {a} to {b}", f"move {a} to {b}", f"pour {a} into {b}"]
    actions.append("use thermometer in inventory on substance in metal pot")
    return sorted(actions)


def test_the_shortlist_keeps_navigation_and_what_the_task_names():
    actions = valid_actions()
    assert len(actions) > 800
    kept = shortlist(actions, BOIL, 64)
    assert len(kept) <= 64 and kept == [a for a in actions if a in kept]  # the given order
    assert {"look around", "inventory", "wait1", "go to hallway",
            "open door to hallway"} <= set(kept)
    assert "reset task" not in kept
    assert "focus on substance in metal pot" in kept  # names the described substance
    assert "use thermometer in inventory on substance in metal pot" in kept
    assert "connect air to kitchen" not in kept  # absurd objects come last
    per_verb = {v: sum(1 for a in kept if verb(a) == v) for v in ("connect", "move", "pour")}
    assert all(n <= 64 // 4 for n in per_verb.values()), per_verb
    assert {verb(a) for a in kept} >= {"pick up", "focus on", "open", "activate", "move"}
    assert shortlist(actions, BOIL, 64) == kept  # deterministic


def test_a_short_list_is_kept_and_zero_keeps_everything():
    assert shortlist(["look around", "reset task", "go to hallway"], BOIL, 64) == [
        "look around", "go to hallway"]
    everything = valid_actions()
    assert shortlist(everything, BOIL, 0) == everything


def test_relevance_and_verbs():
    described = {"boil", "water", "substance"}
    assert verb("pick up metal pot") == "pick up" and verb("look in jug") == "look in"
    assert relevance("focus on substance in metal pot", described) > \
        relevance("focus on chair", described)
    assert relevance("move orange in inventory to bowl", described) > \
        relevance("move orange to bowl", described)
    assert relevance("pour apple into hallway", described) < 0


def test_parse_action_reads_react_replies():
    assert parse_action("Thought: the pot is here.\nAction: pick up metal pot") == \
        "pick up metal pot"
    assert parse_action("Thought: I should look.\nlook around\n") == "look around"
    assert parse_action("> open door to kitchen") == "open door to kitchen"
    assert parse_action("action: `go to kitchen`") == "go to kitchen"
    assert parse_action("Thought: nothing to do") is None
    assert parse_action("") is None
