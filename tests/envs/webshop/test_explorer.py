"""The heuristic explorer and the page reader, on the real catalog."""

import statistics

from armap.envs.webshop.explorer import HeuristicShopper, read_page
from armap.episode import rollout


def test_read_page_finds_what_the_env_renders(real_env):
    task = real_env.tasks("train")[0]
    real_env.reset(task)
    assert read_page(real_env.reset(task), real_env.valid_actions()).kind == "search"
    observation, _ = real_env.step(real_env.valid_actions()[0])
    page = read_page(observation, real_env.valid_actions())
    assert page.kind == "results" and len(page.products) == 10
    first_asin, title, price = page.products[0]
    assert f"click[{first_asin}]" in real_env.valid_actions() and title and price > 0
    observation, _ = real_env.step(f"click[{first_asin}]")
    page = read_page(observation, real_env.valid_actions())
    assert page.kind == "item"
    rendered = real_env.page.option_groups  # value -> group, from the env itself
    assert {v: g for g, values in page.options.items() for v in values} == dict(rendered)
    observation, _ = real_env.step("click[description]")
    assert read_page(observation, real_env.valid_actions()).kind == "sub"


def test_greedy_heuristic_buys_with_the_instructions_options_and_sampling_varies(real_env):
    tasks = real_env.tasks("train")[:20]
    shopper = HeuristicShopper()
    greedy = [rollout(real_env, shopper, t, temperature=0.0, seed=i) for i, t in enumerate(tasks)]
    assert all(t.info["bought"] for t in greedy)
    named = 0
    for t in greedy:
        for group, value in t.info["options"].items():
            named += f"{group}: {value}" in t.task.instruction.lower()
    assert named > 10  # the options the instruction names are chosen
    again = [rollout(real_env, shopper, t, temperature=0.0, seed=99) for t in tasks]
    assert [t.actions for t in again] == [t.actions for t in greedy]  # greedy ignores seeds
    sampled = [rollout(real_env, shopper, tasks[0], temperature=1.0, seed=s) for s in range(8)]
    assert len({tuple(t.actions) for t in sampled}) > 2
    assert statistics.fmean(t.env_score for t in greedy) > statistics.fmean(
        rollout(real_env, shopper, t, temperature=1.0, seed=i).env_score
        for i, t in enumerate(tasks))
