#!/usr/bin/env python3
"""Mutation fuzzing of the recipe parser through the real binary (no LibTorch-free build of it
exists): every shipped recipe is mutated at random (keys dropped, renamed or added, values of the
wrong type, sign or size, deep nesting, stages duplicated or emptied) and given to
`zeroth run --dry-run`. Each mutant must exit 0 (still a valid recipe) or 1 with one message that
starts with "error:" and names the recipe file, never crash, hang or print a stack trace.
Usage: scripts/fuzz_recipes.py ZEROTH [COUNT] [SEED]
"""
import json
import os
import random
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIRD = [None, True, -1, 0, 1e308, -1e-308, 2**63, "", "x" * 300, "${nope}", "{question", [], {}, [[[]]],
         {"": {"": None}}, "../../etc", "\u0000\u001b", 3.5]


def strip_comments(text):
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, prefix + (i,))


def get(value, path):
    for p in path:
        value = value[p]
    return value


def mutate(recipe, rng):
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(paths(recipe)))
        if not path:
            continue
        parent, key = get(recipe, path[:-1]), path[-1]
        kind = rng.randrange(7)
        if kind == 0 and isinstance(parent, dict):
            del parent[key]
        elif kind == 1 and isinstance(parent, dict):
            parent[key + rng.choice(["s", "_", "X"])] = parent.pop(key)
        elif kind == 2:
            parent[key] = rng.choice(WEIRD)
        elif kind == 3 and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
            parent[key] = rng.choice([-parent[key], parent[key] * 10**6, 0, parent[key] + 0.5])
        elif kind == 4:
            deep = "leaf"
            for _ in range(rng.choice([10, 300, 600])):
                deep = [deep]
            parent[key] = deep
        elif kind == 5 and isinstance(parent, list):
            parent.insert(rng.randrange(len(parent) + 1), json.loads(json.dumps(parent[key])))
        elif kind == 6 and isinstance(parent, dict):
            parent[rng.choice(["unknown_key", "stages", "kind", "model", "name"])] = rng.choice(WEIRD)
    return recipe


def main():
    zeroth = os.path.abspath(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    sources = []
    for folder in ("recipes", "recipes/tiny"):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith(".json") and not name.startswith("model_config"):
                with open(os.path.join(ROOT, folder, name)) as f:
                    sources.append(json.loads(strip_comments(f.read())))
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for i in range(count):
            recipe = mutate(json.loads(json.dumps(rng.choice(sources))), rng)
            path = os.path.join(work, f"mutant_{i}.json")
            with open(path, "w") as f:
                json.dump(recipe, f)
            try:
                r = subprocess.run([zeroth, "run", "--dry-run", path, "--out", os.path.join(work, "run")],
                                   cwd=ROOT, capture_output=True, text=True, timeout=60, errors="replace")
            except subprocess.TimeoutExpired:
                print(f"fuzz_recipes: mutant {i} hung for 60 s:\n{json.dumps(recipe)[:2000]}")
                failures += 1
                continue
            bad = None
            if r.returncode not in (0, 1):
                bad = f"exit code {r.returncode}"
            elif r.returncode == 1 and (not r.stderr.startswith("error:") or path not in r.stderr):
                bad = "a message that does not start with 'error:' and name the recipe"
            elif re.search(r"terminate called|Exception raised from|Segmentation|Aborted", r.stderr):
                bad = "a crash or a stack trace"
            if bad:
                failures += 1
                print(f"fuzz_recipes: mutant {i}: {bad}\n  stderr: {r.stderr[:1500]}\n  recipe: {json.dumps(recipe)[:1500]}")
    print(f"fuzz_recipes: {count} mutants, {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
