#!/usr/bin/env python3
"""Agreement of `zeroth reward` (math verifier) with Math-Verify on Math-Verify's own regression cases.

    git clone https://github.com/huggingface/Math-Verify /tmp/Math-Verify   # its tests/ are read, not copied
    scripts/with_peers.sh scripts/agreement_math_verify.py --zeroth build/zeroth \
        --tests /tmp/Math-Verify/tests/test_*.py [--rules FILE] [--boxed] [--show-disagreements]

Reads every `@pytest.mark.parametrize("gold,pred,expected", ...)` table of the test file with `ast`
(literals only; nothing of it is executed) and the keyword arguments its test function passes to
`compare_strings` (match_types, precision, allow_set_relation_comp). For each (gold, pred, expected):
  math_verify  parse(gold), parse(pred) with the function's extraction configs, verify(...) with its
               float_rounding and allow_set_relation_comp: the installed Math-Verify's verdict
  zeroth       `zeroth reward --rules FILE` on {"completion": pred, "answer": gold}: 1 if the
               accuracy component is 1 (--boxed wraps the prediction in \\boxed{} first)
Reports, per test function and overall: agreement with Math-Verify's verdict and with the expected
label, and the cases whose configuration zeroth has no equivalent of (precision != 6,
allow_set_relation_comp, expression-only extraction). Prints JSON; exits 0 (a measurement, not a test).
"""
import argparse, ast, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_RULES = {"name": "math_any_probe", "description": "math verifier only, no R1 template",
                 "components": [{"name": "accuracy", "verifier": "math", "weight": 1.0,
                                 "params": {"prefer_answer_tag": False, "fallback_last_number": True}}]}


def read_cases(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    cases = []
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        table, names = None, None
        for dec in fn.decorator_list:
            if isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize":
                names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
                table = dec.args[1]
        if not names or names[:2] != ["gold", "pred"]:
            continue
        label = "expected" if "expected" in names else "result"
        call_kwargs = {}
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "compare_strings":
                for kw in node.keywords:
                    if isinstance(kw.value, ast.Constant) or isinstance(kw.value, ast.List):
                        call_kwargs[kw.arg] = ast.literal_eval(kw.value)
                    elif isinstance(kw.value, ast.Name):
                        call_kwargs[kw.arg] = ("param", kw.value.id)
        for row in table.elts:
            try:
                values = ast.literal_eval(row)
            except ValueError:  # a computed row (f-string): not a literal, left out
                continue
            params = dict(zip(names, values))
            kwargs = {k: (params[v[1]] if isinstance(v, tuple) else v) for k, v in call_kwargs.items()}
            cases.append({"test": fn.name, "gold": params["gold"], "pred": params["pred"],
                          "expected": int(params[label]), "file": os.path.basename(path), "match_types": kwargs.get("match_types", ["latex", "expr"]),
                          "precision": kwargs.get("precision", 6),
                          "allow_set_relation_comp": kwargs.get("allow_set_relation_comp", False),
                          "strict": kwargs.get("strict", True)})
    return cases


def math_verify_verdict(case):
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
    targets = []
    for t in case["match_types"]:
        targets.append(LatexExtractionConfig(boxed_match_priority=0) if t == "latex" else ExprExtractionConfig())
    gold, pred = parse(case["gold"], targets), parse(case["pred"], targets)
    return int(verify(gold, pred, float_rounding=case["precision"], strict=case["strict"],
                      allow_set_relation_comp=case["allow_set_relation_comp"]))


def zeroth_verdicts(zeroth, rules, cases, boxed):
    lines = "".join(json.dumps({"completion": f"\\boxed{{{c['pred']}}}" if boxed else c["pred"], "answer": c["gold"]}) + "\n"
                    for c in cases)
    run = subprocess.run([zeroth, "reward", "--rules", rules], input=lines, capture_output=True, text=True)
    out = [json.loads(l) for l in run.stdout.split("\n") if l]
    if len(out) != len(cases):
        raise SystemExit(f"zeroth reward: {len(out)} lines for {len(cases)} (exit {run.returncode}):\n{run.stderr[-2000:]}")
    return [int((o["rewards"].get("accuracy") or 0) >= 1.0) for o in out]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zeroth", default="build/zeroth")
    ap.add_argument("--tests", required=True, nargs="+", help="Math-Verify's tests/test_*.py files")
    ap.add_argument("--rules", default="", help="rule set (default: math verifier, no answer tag, last-number fallback)")
    ap.add_argument("--boxed", action="store_true", help="wrap each prediction in \\boxed{}")
    ap.add_argument("--show-disagreements", action="store_true")
    args = ap.parse_args()
    import math_verify
    cases = [c for path in args.tests for c in read_cases(path)]
    with tempfile.TemporaryDirectory() as tmp:
        rules = args.rules
        if not rules:
            rules = os.path.join(tmp, "rules.json")
            json.dump(DEFAULT_RULES, open(rules, "w"))
        ours = zeroth_verdicts(args.zeroth, rules, cases, args.boxed)
    per_test = {}
    disagreements = []
    for c, z in zip(cases, ours):
        mv = math_verify_verdict(c)
        unsupported = [r for r, bad in (("precision", c["precision"] != 6),
                                        ("allow_set_relation_comp", c["allow_set_relation_comp"]),
                                        ("strict_false", not c["strict"]),
                                        ("expr_only", c["match_types"] == ["expr"])) if bad]
        t = per_test.setdefault(c["test"], {"cases": 0, "agree_math_verify": 0, "agree_expected": 0,
                                            "math_verify_agrees_expected": 0, "unsupported_config": 0})
        t["cases"] += 1
        t["agree_math_verify"] += z == mv
        t["agree_expected"] += z == c["expected"]
        t["math_verify_agrees_expected"] += mv == c["expected"]
        t["unsupported_config"] += bool(unsupported)
        if z != mv:
            disagreements.append({"test": c["test"], "gold": c["gold"], "pred": c["pred"], "expected": c["expected"],
                                  "math_verify": mv, "zeroth": z, "unsupported_config": unsupported})
    total = {k: sum(t[k] for t in per_test.values()) for k in next(iter(per_test.values()))}
    supported = [d for d in disagreements if not d["unsupported_config"]]
    print(json.dumps({"summary": "Math-Verify agreement", "math_verify": math_verify.__version__ if hasattr(math_verify, "__version__") else "",
                      "boxed": args.boxed, "total": total, "disagreements_on_supported_configs": len(supported),
                      "per_test": per_test}, indent=1))
    if args.show_disagreements:
        for d in disagreements:
            print(json.dumps(d, ensure_ascii=False))


if __name__ == "__main__":
    main()
