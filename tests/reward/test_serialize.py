"""THE serializer's truncation rule: the instruction stays, the latest steps stay."""

from armap.reward.serialize import action_ends, common_preamble, serialize
from armap.types import Step, Task, Trajectory


def words(text: str) -> int:
    return len(text.split())


def _trajectory(n: int) -> Trajectory:
    task = Task("t", "toy", "reach the goal")
    steps = [Step(f"move {i}", thought=f"secret thought {i}", observation=f"room {i}")
             for i in range(n)]
    return Trajectory(task, initial_observation="start room", steps=steps, env_score=1.0)


def test_full_layout_without_a_budget():
    text = serialize("reach the goal", _trajectory(2))
    assert text == ("Instruction: reach the goal\nObservation: start room\n"
                    "Action: move 0\nObservation: room 0\nAction: move 1\nObservation: room 1")
    assert "secret" not in text and "1.0" not in text  # thoughts and ground truth never appear


def test_truncation_keeps_the_instruction_and_the_latest_steps():
    t = _trajectory(30)
    text = serialize("reach the goal", t, max_tokens=40, count_tokens=words)
    assert words(text) <= 40
    assert text.startswith("Instruction: reach the goal\n")
    assert text.endswith("Action: move 29\nObservation: room 29")
    assert "Action: move 0\n" not in text and "start room" not in text
    lines = text.splitlines()
    kept = sum(line.startswith("Action:") for line in lines)
    assert lines[1] == f"[{30 - kept} earlier steps omitted]"
    kept_moves = [int(line.split()[-1]) for line in lines if line.startswith("Action:")]
    assert kept_moves == list(range(30 - kept, 30))  # a contiguous suffix


def test_within_budget_nothing_is_cut():
    t = _trajectory(2)
    assert serialize("reach the goal", t, max_tokens=1000, count_tokens=words) == \
        serialize("reach the goal", t)


def test_an_overlong_instruction_is_cut_at_its_end():
    text = serialize("word " * 100, _trajectory(3), max_tokens=10, count_tokens=words)
    assert text.startswith("Instruction: word") and words(text) <= 10


GOAL = "Find me a brass desk lamp with color: gold, and price lower than 30.00 dollars"


def test_compact_observations_elide_the_instruction_and_repeats_and_cut_the_middle():
    page = f"Instruction: [SEP] {GOAL} [SEP] Back to Search [SEP] < Prev [SEP] color [SEP] gold"
    long_page = "options " + "x " * 900 + "[SEP] Brass Desk Lamp [SEP] Price: $25.0 [SEP] Buy Now"
    task = Task("t", "webshop", GOAL)
    steps = [Step("click[b000test03]", observation=page), Step("click[gold]", observation=page),
             Step("click[description]", observation=long_page)]
    text = serialize(GOAL, Trajectory(task, initial_observation=f"WebShop [SEP] {GOAL}",
                                      steps=steps))
    assert text.count(GOAL) == 1 and text.startswith(f"Instruction: {GOAL}\n")
    assert "Observation: WebShop [SEP] (the instruction)\n" in text
    assert "Action: click[gold]\nObservation: (unchanged)\n" in text
    last = text.splitlines()[-1]
    assert last.startswith("Observation: options x") and " [...] " in last
    assert last.endswith("Brass Desk Lamp [SEP] Price: $25.0 [SEP] Buy Now")  # the end is kept
    assert len(last) < 1100
    # Judged against another instruction, the page's own goal text stays visible.
    mismatch = serialize("Find me a red lamp with color: red, and price lower than 9 dollars",
                         Trajectory(task, steps=steps[:1]))
    assert GOAL in mismatch


def test_common_preamble_is_the_shared_whole_leading_lines():
    rules = "Reach 24 with + - * /.\nTwo numbers a step."
    instructions = [f"{rules}\nInput: 1 2 3 4", f"{rules}\nInput: 4 4 6 8"]
    assert common_preamble(instructions) == rules + "\n"
    assert common_preamble(["buy a red mug", "buy a blue mug"]) == ""  # not a whole line
    assert common_preamble(["same\ntask", "same\ntask"]) == "same\n"  # the last line stays
    assert common_preamble(["one line", "one line"]) == ""
    assert common_preamble(["a\nb\nc", "a\nx\nc"]) == "a\n"
    assert common_preamble([]) == ""


def test_action_ends_are_the_last_characters_of_the_action_lines():
    text = "Instruction: go\nAction: look  \nObservation: a room\nAction:   \nAction: take mug"
    ends = action_ends(text)
    assert [text[i] for i in ends] == ["k", "g"]
    assert ends[0] == text.index("look") + 3
