"""Part II.3: the order of min and max, on small games and on the GAN game in 1-D.

Writes into ``docs/assets/minimax/``: ``orders.png`` (p_data with the generator and the
discriminator each order produces), ``play.png`` (JS divergence under alternating gradient
play and under best-response play, with snapshots of p_g), ``results.md``/``results.json``
and ``command.md``. Runs in seconds on a CPU.

    python -m companion.chapters.minimax
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import torch

from companion.artifacts import new_figure, save_figure, write_json
from companion.chapters.common import Chapter, markdown_table, write_text
from companion.theory.minimax import (
    best_response_generator,
    gradient_play,
    js_divergence,
    make_problem,
    matching_pennies,
    max_d_min_g,
    min_g_max_d,
    optimal_discriminator,
    pure_game_values,
    squared_distance_game,
    value,
)

__all__ = ["CHAPTER", "main"]


def compute(args: argparse.Namespace) -> dict[str, Any]:
    steps = 300 if args.dry_run else 3000
    games = []
    for name, payoff in (
        ("matching pennies (pure)", matching_pennies()),
        ("(x - y)^2 on [0,1]^2", squared_distance_game()),
    ):
        lo, hi = pure_game_values(payoff)
        games.append({"game": name, "max_x_min_y": lo, "min_y_max_x": hi})
    prob = make_problem()
    right = min_g_max_d(prob, steps=steps)
    wrong = max_d_min_g(prob, steps=steps)
    # question (a): the best response to a fixed, imperfect D (the optimal D against a wide Gaussian p_g)
    wide = make_problem(means=(0.0, 0.0), std=2.0).p_data
    d_fixed = optimal_discriminator(prob.p_data, wide)
    br = best_response_generator(d_fixed)
    play_grad = gradient_play(prob, steps=steps, generator="gradient")
    play_br = gradient_play(prob, steps=steps, generator="best_response")
    # Against the blind D = 1/2 every generator is a best response: several tie-breaks, and p_data.
    half = torch.full_like(prob.p_data, 0.5)
    candidates = {
        "first maximiser (a point mass)": best_response_generator(half, "first"),
        "last maximiser (a point mass)": best_response_generator(half, "last"),
        "all maximisers (uniform)": best_response_generator(half, "spread"),
        "p_data itself": prob.p_data,
    }
    ties = [
        {"generator": k, "V": float(value(prob.p_data, p, half)), "JS": float(js_divergence(prob.p_data, p))}
        for k, p in candidates.items()
    ]
    return {
        "ties": ties,
        "steps": steps,
        "games": games,
        "prob": prob,
        "right": right,
        "wrong": wrong,
        "br": br,
        "d_fixed": d_fixed,
        "play_grad": play_grad,
        "play_br": play_br,
    }


def draw(res: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    prob, right, wrong, br, d_fixed = res["prob"], res["right"], res["wrong"], res["br"], res["d_fixed"]
    play_grad, play_br, games, steps = res["play_grad"], res["play_br"], res["games"], res["steps"]
    x = prob.x.numpy()

    fig, axes = new_figure(2, 1, 4.8, 3.4)
    for ax, sol, title in (
        (axes[0][0], right, "min over G of max over D"),
        (axes[0][1], wrong, "max over D of min over G\n(first-maximiser tie-break)"),
    ):
        ax.fill_between(x, prob.p_data.numpy(), color="0.8", label="p_data")
        ax.plot(
            x, sol["p_g"].numpy(), color="tab:blue", label="p_g (bars: point mass)" if sol["p_g"].max() == 1 else "p_g"
        )
        if sol["p_g"].max() == 1:
            ax.vlines(x[int(sol["p_g"].argmax())], 0, float(prob.p_data.max()) * 1.2, color="tab:blue", lw=3)
        ax2 = ax.twinx()
        ax2.plot(x, sol["d"].numpy(), color="tab:red", lw=1.2, label="D(x)")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("D(x)", color="tab:red")
        ax.set(title=f"{title}\nV = {sol['value']:.4f}, JS = {sol['js']:.4f}", xlabel="x")
        lines, labels = ax.get_legend_handles_labels()
        lines2, labels2 = ax2.get_legend_handles_labels()
        ax.legend(lines + lines2, labels + labels2, loc="upper right", fontsize=7)
    save_figure(fig, args.assets / "orders.png")

    fig, axes = new_figure(2, 1, 4.8, 3.6)
    axes[0][0].plot(play_grad["js"], label="G: one gradient step per D step", color="tab:blue")
    axes[0][0].plot(play_br["js"], label="G: exact best response to D", color="tab:red")
    axes[0][0].axhline(math.log(2), ls=":", color="0.4", label="log 2 (disjoint supports)")
    axes[0][0].set(xlabel="round", ylabel="JS(p_data ‖ p_g)", yscale="log")
    axes[0][0].legend(fontsize=7)
    axes[0][1].fill_between(x, prob.p_data.numpy(), color="0.85", label="p_data")
    for i, snap in enumerate(play_br["snapshots"]):
        axes[0][1].vlines(
            x[int(snap.argmax())],
            0,
            float(prob.p_data.max()) * (0.4 + 0.1 * i),
            color="tab:red",
            alpha=0.4 + 0.07 * i,
            label="best-response play: the point mass over time" if i == 0 else None,
        )
    axes[0][1].plot(x, play_grad["p_g"].numpy(), color="tab:blue", label="p_g, gradient play (end)")
    axes[0][1].set(xlabel="x", title="where p_g's mass sits")
    axes[0][1].legend(fontsize=7, loc="upper left")
    save_figure(fig, args.assets / "play.png")

    bulk = prob.p_data > 1e-4 * prob.p_data.max()  # where there is data; in the far tails D* is arbitrary
    results = {
        "games": games,
        "log4": math.log(4),
        "min_g_max_d": {
            "value": right["value"],
            "js": right["js"],
            "tv": float((right["p_g"] - prob.p_data).abs().sum() / 2),
            "d_min": float(right["d"][bulk].min()),
            "d_max": float(right["d"][bulk].max()),
        },
        "max_d_min_g": {
            "value": wrong["value"],
            "js": wrong["js"],
            "d_min": float(wrong["d"][bulk].min()),
            "d_max": float(wrong["d"][bulk].max()),
            "p_g_max_mass": float(wrong["p_g"].max()),
        },
        "question_a": {
            "best_response_mass_at_argmax_D": float(br.max()),
            "x": float(prob.x[int(br.argmax())]),
            "value_best_response": float(value(prob.p_data, br, d_fixed)),
            "value_p_data": float(value(prob.p_data, prob.p_data, d_fixed)),
            "js_best_response": float(js_divergence(prob.p_data, br)),
        },
        "play": {
            "gradient_final_js": play_grad["js"][-1],
            "best_response_final_js": play_br["js"][-1],
            "best_response_min_js_second_half": min(play_br["js"][len(play_br["js"]) // 2 :]),
        },
    }
    rows = [
        {
            "order": "min_G max_D",
            "V": right["value"],
            "JS": right["js"],
            "D range": f"{results['min_g_max_d']['d_min']:.3f}–{results['min_g_max_d']['d_max']:.3f}",
            "p_g": "≈ p_data",
        },
        {
            "order": "max_D min_G",
            "V": wrong["value"],
            "JS": wrong["js"],
            "D range": f"{results['max_d_min_g']['d_min']:.4f}–{results['max_d_min_g']['d_max']:.4f}",
            "p_g": "any (first-maximiser tie-break: a point mass)",
        },
    ]
    table = markdown_table(
        games, [("game", "game"), ("max_x_min_y", "max_x min_y f"), ("min_y_max_x", "min_y max_x f")]
    )
    table += "\n" + markdown_table(
        rows,
        [
            ("order", "order"),
            ("V", "V(D, G)"),
            ("JS", "JS(p_data ‖ p_g)"),
            ("D range", "D(x) range where p_data > 0"),
            ("p_g", "generator"),
        ],
    )
    write_text(args.assets / "results.md", table)
    ties = markdown_table(
        res["ties"], [("generator", "best response to D = 1/2"), ("V", "V(1/2, G)"), ("JS", "JS(p_data ‖ p_g)")]
    )
    write_text(args.assets / "ties.md", ties)
    results["ties"] = res["ties"]
    results["playground"] = _playground(args.assets / "playground.png")
    write_json(results, args.assets / "results.json")
    print(table)
    return {"grid_points": len(prob.x), "steps": steps}, ""


def _playground(path: Path) -> dict[str, Any]:
    """The playground's two games at their default settings, both kinds of gradient play (the static figure the
    browser's playground reproduces, and its fallback when JavaScript is off)."""
    from companion.theory.minimax import PLAY_DEFAULTS, gradient_play_2d

    fig, axes = new_figure(2, 1, 3.6, 3.6)
    out = {}
    for ax, (game, d) in zip(axes[0], PLAY_DEFAULTS.items()):
        for mode, color in (("simultaneous", "tab:red"), ("alternating", "tab:blue")):
            traj = gradient_play_2d(game, d["x0"], d["y0"], d["lr"], d["steps"], mode)
            xs, ys = zip(*traj)
            ax.plot(xs, ys, color=color, lw=1.2, label=mode)
            out[f"{game}|{mode}"] = {"end": traj[-1], "radius_end": math.hypot(*traj[-1])}
        ax.plot([d["x0"]], [d["y0"]], "ko", ms=4)
        ax.set(xlabel="x (minimises f)", ylabel="y (maximises f)", title=f"{game}\nstep {d['lr']}, {d['steps']} rounds")
        ax.set_aspect("equal")
        ax.legend(fontsize=7)
    save_figure(fig, path)
    return out


CHAPTER = Chapter(
    name="minimax",
    description="Part II.3: the order of min and max.",
    compute=compute,
    draw=draw,
)

main = CHAPTER.main


if __name__ == "__main__":
    raise SystemExit(main())
