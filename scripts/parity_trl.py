#!/usr/bin/env python3
"""GRPO numerics of zeroth's algo layer vs TRL's own GRPOTrainer code, on identical inputs.

Run through the reference environment (scripts/setup_peers.sh); CTest runs it as
`reference_trl_grpo_parity` (label `reference`):

    scripts/with_peers.sh scripts/parity_trl.py --probe build/tests/zeroth_algo_probe

TRL side: a real `GRPOTrainer` (tiny random Qwen2 policy and reference, CPU) whose generation and
model forward are replaced by the case's data, nothing else: `_generate` returns completions of the
case's lengths, the reward function returns the case's rewards, `_get_per_token_logps_and_entropies`
returns the case's log-probs (old / reference under no_grad, the policy's as a float64 leaf with
requires_grad in `_compute_loss`). TRL's own `_generate_and_score_completions` then computes the
advantages, and its own `_compute_loss` the loss; `loss.backward()` gives d loss / d log-probs.
zeroth side: tests/algo/algo_probe.cpp calls algo::compute_advantages and algo::policy_loss on the
same numbers (float64).

Grid: loss_type grpo / bnpo / dr_grpo / dapo x beta 0 / 0.04 / 0.04 with use_bias_correction_kl (TRL
1.16's default; zeroth's kl_bias_correction) x scale_rewards group / batch / none x
(epsilon, epsilon_high) (0.2, 0.2) / (0.2, 0.28) x importance_sampling_level token / sequence.
Bars: advantages, loss and every gradient entry within --atol (1e-6). Prints one JSON line per case
that fails (all with --verbose) and a summary with the largest differences; exit 1 on a failure.
"""
import argparse, json, os, subprocess, sys, tempfile, warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def make_trainer(tmp, B, G, T):
    from datasets import Dataset
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM
    from trl import GRPOConfig, GRPOTrainer
    tok_dir = os.path.join(HERE, "..", "data", "tokenizers", "byte_level")
    cfg = Qwen2Config(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                      num_key_value_heads=1, eos_token_id=256, pad_token_id=256)
    model_dir = os.path.join(tmp, "policy")
    Qwen2ForCausalLM(cfg).save_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    tokenizer.save_pretrained(model_dir)
    args = GRPOConfig(output_dir=os.path.join(tmp, "out"), per_device_train_batch_size=B, num_generations=G,
                      max_completion_length=T, beta=0.04, use_cpu=True, report_to="none", bf16=False,
                      gradient_checkpointing=False, logging_steps=1, save_strategy="no", num_iterations=1)
    state = {}

    def reward(completions, **kwargs):
        return state["rewards"]

    trainer = GRPOTrainer(model=model_dir, reward_funcs=[reward], args=args, processing_class=tokenizer,
                          train_dataset=Dataset.from_list([{"prompt": "a"}] * B))

    def generate(prompts):
        lengths = state["lengths"]
        completion_ids = [[65] * n for n in lengths]
        return ([[97, 98]] * len(prompts), completion_ids, None, ["x" * n for n in lengths], None, {}, None, None)

    def logps(model, input_ids, attention_mask, logits_to_keep, *a, **kw):
        if torch.is_grad_enabled():
            lp = state["policy"]
        elif model is trainer.ref_model:
            lp = state["ref"]
        else:
            lp = state["old"]
        return lp, torch.zeros_like(lp), None

    trainer._generate = generate
    trainer._get_per_token_logps_and_entropies = logps
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    return trainer, state


def trl_case(trainer, state, case):
    trainer.loss_type = case["loss_type"]
    trainer.beta = case["beta"]
    trainer.scale_rewards = case["scale_rewards"]
    trainer.epsilon_low, trainer.epsilon_high = case["epsilon"], case["epsilon_high"]
    trainer.importance_sampling_level = case["importance_sampling_level"]
    trainer.args.use_bias_correction_kl = case["kl_bias_correction"]
    policy = torch.tensor(case["logprobs_new"], dtype=torch.float64, requires_grad=True)
    state.update(rewards=case["rewards"], lengths=case["lengths"], policy=policy,
                 old=torch.tensor(case["logprobs_old"], dtype=torch.float64),
                 ref=torch.tensor(case["logprobs_ref"], dtype=torch.float64))
    inputs = trainer._generate_and_score_completions([{"prompt": "a"}] * len(case["rewards"]))
    # num_iterations 1 with aligned steps: TRL computes no old log-probs itself (ratio 1 by construction);
    # give it the case's old log-probs so that clipping is exercised, as with mu > 1.
    inputs["old_per_token_logps"] = state["old"]
    mask = inputs["completion_mask"]
    assert mask.tolist() == case["mask"], "TRL built a different completion mask"
    loss = trainer._compute_loss(trainer.model, inputs)
    loss.backward()
    return {"advantages": inputs["advantages"].double().tolist(), "loss": loss.item(), "grad": policy.grad.tolist()}


def make_cases(seed, N, G, T):
    g = torch.Generator().manual_seed(seed)
    B = N * G
    cases = []
    for loss_type in ("grpo", "bnpo", "dr_grpo", "dapo"):
        for beta, bias_correction in ((0.0, False), (0.04, False), (0.04, True)):
            for scale in ("group", "batch", "none"):
                for eps, eps_high in ((0.2, 0.2), (0.2, 0.28)):
                    for level in ("token", "sequence"):
                        # Rewards: a 0/1 group, a real-valued group, and a constant group (zero std).
                        rewards = torch.cat([torch.randint(0, 2, (G,), generator=g).double(),
                                             torch.rand(G, generator=g, dtype=torch.float64) * 2 - 0.5,
                                             torch.full((G,), 0.7, dtype=torch.float64)])[:B]
                        lengths = torch.randint(1, T + 1, (B,), generator=g)
                        lengths[0] = T  # one completion fills the width
                        mask = (torch.arange(T)[None] < lengths[:, None]).long()
                        new = -torch.rand(B, T, generator=g, dtype=torch.float64) * 3
                        spread = 0.4 if level == "token" else 0.1
                        old = new + torch.randn(B, T, generator=g, dtype=torch.float64) * spread
                        ref = new + torch.randn(B, T, generator=g, dtype=torch.float64) * 0.5
                        cases.append({"loss_type": loss_type, "beta": beta, "kl_bias_correction": bias_correction,
                                      "scale_rewards": scale, "epsilon": eps,
                                      "epsilon_high": eps_high, "importance_sampling_level": level,
                                      "rewards": rewards.tolist(), "lengths": lengths.tolist(), "mask": mask.tolist(),
                                      "logprobs_new": (new * mask).tolist(), "logprobs_old": (old * mask).tolist(),
                                      "logprobs_ref": (ref * mask).tolist(), "group_size": G, "T": T})
    return cases


def zeroth_cases(probe, cases):
    estimator = {"group": "grpo", "batch": "batch_std", "none": "dr_grpo"}
    lines = []
    for c in cases:
        lines.append(json.dumps({
            "rewards": c["rewards"], "group_size": c["group_size"],
            # TRL: (r - mean) / (std + 1e-4), Bessel std; scale_rewards "none" is zeroth's dr_grpo.
            "advantage": {"estimator": estimator[c["scale_rewards"]], "epsilon": 1e-4},
            "loss": {"loss_agg_mode": c["loss_type"], "epsilon_low": c["epsilon"], "epsilon_high": c["epsilon_high"],
                     "beta": c["beta"], "kl_estimator": "k3", "kl_bias_correction": c["kl_bias_correction"],
                     "importance_sampling_level": c["importance_sampling_level"],
                     "rollout_is_level": "none"},
            "logprobs_new": c["logprobs_new"], "logprobs_old": c["logprobs_old"], "logprobs_ref": c["logprobs_ref"],
            "mask": c["mask"], "constant_length": c["T"]}))
    run = subprocess.run([probe], input="\n".join(lines) + "\n", capture_output=True, text=True)
    out = [json.loads(l) for l in run.stdout.split("\n") if l]
    if len(out) != len(cases):
        raise SystemExit(f"zeroth_algo_probe: {len(out)} results for {len(cases)} cases (exit {run.returncode}):\n{run.stderr}")
    return out


def max_diff(a, b):
    return (torch.tensor(a, dtype=torch.float64) - torch.tensor(b, dtype=torch.float64)).abs().max().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--probe", required=True, help="the zeroth_algo_probe binary (built with the tests)")
    ap.add_argument("--atol", type=float, default=1e-6)
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import trl, transformers
    torch.set_num_threads(1)
    N, G, T = 3, 4, 10
    cases = make_cases(args.seed, N, G, T)
    ours = zeroth_cases(args.probe, cases)
    worst = {"advantages": 0.0, "loss": 0.0, "grad": 0.0}
    failed = []
    with tempfile.TemporaryDirectory(prefix="parity_trl_") as tmp:
        trainer, state = make_trainer(tmp, N * G, G, T)
        for c, z in zip(cases, ours):
            name = f"{c['loss_type']}/beta={c['beta']}{'+bias_correction' if c['kl_bias_correction'] else ''}/scale={c['scale_rewards']}/eps={c['epsilon']},{c['epsilon_high']}/{c['importance_sampling_level']}"
            if "error" in z:
                failed.append(name)
                print(json.dumps({"case": name, "zeroth_error": z["error"]}))
                continue
            ref = trl_case(trainer, state, c)
            diffs = {"advantages": max_diff(z["advantages"], ref["advantages"]),
                     "loss": abs(z["loss"] - ref["loss"]), "grad": max_diff(z["grad"], ref["grad"])}
            for k, v in diffs.items():
                worst[k] = max(worst[k], v)
            ok = all(v <= args.atol for v in diffs.values())
            if not ok:
                failed.append(name)
            if not ok or args.verbose:
                print(json.dumps({"case": name, "pass": ok, "max_abs_diff": diffs, "loss_trl": ref["loss"],
                                  "loss_zeroth": z["loss"]}), flush=True)
    print(json.dumps({"summary": "TRL GRPO parity", "trl": trl.__version__, "transformers": transformers.__version__,
                      "torch": torch.__version__, "cases": len(cases), "failed": len(failed), "max_abs_diff": worst,
                      "atol": args.atol}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
