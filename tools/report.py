#!/usr/bin/python3
"""HTML reports with figures over servesim run and sweep files.

    report.py report RUN.h5 [-o DIR]           # DIR/report.html and DIR/*.png
    report.py compare A.h5 B.h5 ... [-o DIR]   # the same figures overlaid, and summaries side by side

`servesim report` and `servesim compare` call this. Needs Debian's python3-h5py, python3-pandas
and python3-matplotlib.
"""
import argparse
import base64
import html
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servesim_h5  # noqa: E402

servesim_h5.require([("matplotlib", "python3-matplotlib")])
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FIG_SIZE = (10, 6.5)
DPI = 100


def _save(fig, out_dir, name, made):
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    made.append(path)


def _hours_or_seconds(t):
    """Time axis in s, or h for long runs."""
    t = np.asarray(t, dtype=float)
    if len(t) and t.max() > 3 * 3600:
        return t / 3600, "simulated time (h)"
    return t, "simulated time (s)"


def _shade_starting(ax, pools, x_of):
    """Shade the windows when some worker was starting."""
    if pools is None or not len(pools):
        return
    by_time = pools.groupby("time_s")["starting"].sum()
    on = by_time[by_time > 0]
    if not len(on):
        return
    times = by_time.index.values
    step = np.median(np.diff(times)) if len(times) > 1 else 1
    for t in on.index.values:
        x0, x1 = x_of([t - step, t])[0]
        ax.axvspan(x0, x1, color="orange", alpha=0.15, lw=0)


# ---- figures of one or more runs (one line per run) ----

def fig_load(runs, out_dir, made):
    fig, axes = plt.subplots(2, 1, figsize=FIG_SIZE, sharex=True)
    for label, r in runs:
        ts = r.timeseries["cluster"]
        x, xlabel = _hours_or_seconds(ts["time_s"])
        iv = ts["interval_s"].replace(0, np.nan)
        style = {} if len(runs) == 1 else {"label": label}
        axes[0].plot(x, ts["arrivals"] / iv, **({"label": "arrivals"} if len(runs) == 1 else {"label": f"{label} arrivals"}))
        axes[0].plot(x, ts["completions"] / iv, ls="--",
                     **({"label": "completions"} if len(runs) == 1 else {"label": f"{label} completions"}))
        axes[1].plot(x, ts["output_tokens_per_s"], **style)
    axes[0].set_ylabel("requests / s")
    axes[0].set_title("Load: arrivals and completions per second")
    axes[0].legend(fontsize=8)
    axes[1].set_ylabel("output tokens / s")
    axes[1].set_title("Throughput: output tokens per second")
    axes[1].set_xlabel(xlabel)
    if len(runs) > 1:
        axes[1].legend(fontsize=8)
    _save(fig, out_dir, "load_throughput.png", made)


def fig_latency(runs, out_dir, made):
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    ttft_slo, itl_slo = runs[0][1].slo()
    for label, r in runs:
        ts = r.timeseries["cluster"]
        x, xlabel = _hours_or_seconds(ts["time_s"])
        pre = "" if len(runs) == 1 else f"{label} "
        for q, ls in (("p50", ":"), ("p90", "--"), ("p99", "-")):
            axes[0].plot(x, ts[f"ttft_{q}_s"] * 1e3, ls=ls, label=f"{pre}TTFT {q}")
        axes[1].plot(x, ts["itl_mean_s"] * 1e3, ls="--", label=f"{pre}ITL mean")
        axes[1].plot(x, ts["itl_p99_s"] * 1e3, label=f"{pre}ITL p99")
        if "slo_attainment" in ts:
            axes[2].plot(x, ts["slo_attainment"] * 100, label=f"{pre}SLO attainment")
    if ttft_slo and not math.isnan(ttft_slo):
        axes[0].axhline(ttft_slo * 1e3, color="red", lw=1, label="TTFT target")
    if itl_slo and not math.isnan(itl_slo):
        axes[1].axhline(itl_slo * 1e3, color="red", lw=1, label="ITL target")
    axes[0].set_ylabel("TTFT (ms)")
    axes[0].set_yscale("log")
    axes[0].set_title("Time to first token per window, against the SLO")
    axes[1].set_ylabel("ITL (ms)")
    axes[1].set_title("Inter-token latency per window, against the SLO")
    axes[2].set_ylabel("requests meeting the SLO (%)")
    axes[2].set_ylim(-5, 105)
    axes[2].set_title("SLO attainment per window")
    axes[2].set_xlabel(xlabel)
    for ax in axes:
        ax.legend(fontsize=7, ncol=2)
    _save(fig, out_dir, "latency_over_time.png", made)


def fig_workers(runs, out_dir, made):
    has_planner = any(r.planner is not None and len(r.planner) for _, r in runs)
    fig, axes = plt.subplots(3 if has_planner else 2, 1, figsize=(10, 8 if has_planner else 6), sharex=True)
    for label, r in runs:
        ts = r.timeseries["cluster"]
        pools = r.timeseries.get("pools")
        x, xlabel = _hours_or_seconds(ts["time_s"])
        pre = "" if len(runs) == 1 else f"{label} "
        axes[0].plot(x, ts["workers_ready"], label=f"{pre}ready")
        axes[0].plot(x, ts["workers_starting"], ls="--", label=f"{pre}starting")
        axes[0].plot(x, ts["workers_draining"], ls=":", label=f"{pre}draining")
        axes[1].plot(x, ts["gpus_in_use"], label=f"{pre}GPUs in use")
        if len(runs) == 1:
            _shade_starting(axes[0], pools, lambda v: [_hours_or_seconds(v)[0]])
        if has_planner and r.planner is not None and len(r.planner):
            p = r.planner
            px, _ = _hours_or_seconds(p["time_s"])
            first = p["pool"] == p["pool"].min()  # the traffic columns repeat per pool
            axes[2].plot(px[first.values], p.loc[first, "observed_requests"], label=f"{pre}observed requests / interval")
            axes[2].plot(px[first.values], p.loc[first, "predicted_requests"], ls="--",
                         label=f"{pre}predicted requests / interval")
            ax2 = axes[2].twinx()
            for pool, g in p.groupby("pool"):
                gx, _ = _hours_or_seconds(g["time_s"])
                ax2.step(gx, g["target"], where="post", color="black", lw=1, label=f"{pre}pool {pool} target")
                ax2.step(gx, g["ready"], where="post", color="green", lw=1, ls="--", label=f"{pre}pool {pool} ready")
            ax2.set_ylabel("replicas")
            ax2.legend(fontsize=7, loc="upper right")
    axes[0].set_ylabel("workers")
    axes[0].set_title("Workers by state (shaded: a worker was starting)")
    axes[1].set_ylabel("GPUs")
    axes[1].set_title("GPUs in use (starting, ready and draining workers)")
    if has_planner:
        axes[2].set_ylabel("requests per interval")
        axes[2].set_title("Planner: observed vs predicted load; target vs ready replicas")
    axes[-1].set_xlabel(xlabel)
    for ax in axes:
        ax.legend(fontsize=7, loc="upper left")
    _save(fig, out_dir, "workers_planner.png", made)


def fig_kv(runs, out_dir, made):
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for label, r in runs:
        ts = r.timeseries["cluster"]
        x, xlabel = _hours_or_seconds(ts["time_s"])
        pre = "" if len(runs) == 1 else f"{label} "
        axes[0][0].plot(x, ts["kv_usage"] * 100, lw=2, label=f"{pre}cluster")
        if len(runs) == 1 and r.workers is not None:
            for w, g in list(r.workers.groupby("worker"))[:16]:
                gx, _ = _hours_or_seconds(g["time_s"])
                axes[0][0].plot(gx, g["kv_usage"] * 100, lw=0.6, alpha=0.6)
        axes[0][1].plot(x, ts["prefix_hit_rate"] * 100, label=f"{pre}prefix hit rate")
        axes[1][0].plot(x, ts["waiting"], label=f"{pre}waiting")
        axes[1][0].plot(x, ts["running"], ls="--", label=f"{pre}running")
        axes[1][1].plot(x, ts["load_imbalance"], label=f"{pre}max / mean KV blocks")
    axes[0][0].set_title("KV-cache usage (thin: each worker)")
    axes[0][0].set_ylabel("KV blocks in use (%)")
    axes[0][1].set_title("Prefix-cache hit rate (prompt tokens from cache)")
    axes[0][1].set_ylabel("%")
    axes[1][0].set_title("Queue depth, all workers")
    axes[1][0].set_ylabel("requests")
    axes[1][1].set_title("Load imbalance (1 = balanced)")
    axes[1][1].set_ylabel("ratio")
    for ax in axes[1]:
        ax.set_xlabel(xlabel)
    for row in axes:
        for ax in row:
            ax.legend(fontsize=7)
    _save(fig, out_dir, "kv_queues.png", made)


def fig_links(runs, out_dir, made):
    with_fabric = [(label, r) for label, r in runs if r.transfers is not None and len(r.transfers)]
    if not with_fabric:
        return
    fig, axes = plt.subplots(2, 1, figsize=FIG_SIZE)
    for label, r in with_fabric:
        pre = "" if len(runs) == 1 else f"{label} "
        lt = r.links.get("timeseries")
        names = r.links["info"].set_index("link")["name"]
        if lt is not None and len(lt):
            busiest = lt.groupby("link")["bytes"].sum().sort_values(ascending=False).index[:6]
            for link in busiest:
                g = lt[lt["link"] == link]
                gx, xlabel = _hours_or_seconds(g["time_s"])
                axes[0].plot(gx, g["utilisation"] * 100, marker=".", lw=1, label=f"{pre}{names[link]}")
            axes[0].set_xlabel(xlabel)
        d = r.transfers["duration_s"] * 1e3
        axes[1].hist(d, bins=50, alpha=0.6, label=f"{pre}{len(d)} transfers, p50 {d.median():.2f} ms")
    axes[0].set_title("Link utilisation per sample window (the 6 busiest links)")
    axes[0].set_ylabel("utilisation (%)")
    axes[0].legend(fontsize=7)
    axes[1].set_title("KV transfer times (reservation to last byte)")
    axes[1].set_xlabel("transfer time (ms)")
    axes[1].set_ylabel("transfers")
    axes[1].legend(fontsize=7)
    _save(fig, out_dir, "links_transfers.png", made)


def fig_cdf(runs, out_dir, made):
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    cols = (("ttft_s", "TTFT"), ("mean_itl_s", "ITL (per-request mean)"), ("decode_s", "decode time"),
            ("e2e_s", "end-to-end latency"))
    for ax, (col, title) in zip(axes.flat, cols):
        for label, r in runs:
            if r.requests is None:
                continue
            v = np.sort(r.requests[col].dropna().values * 1e3)
            if col == "decode_s":  # TPOT: decode time per output token after the first
                n = r.requests["output_tokens"].values
                ok = (n > 1) & ~np.isnan(r.requests[col].values)
                v = np.sort(r.requests[col].values[ok] / (n[ok] - 1) * 1e3)
                title = "TPOT"
            if len(v):
                ax.plot(v, np.arange(1, len(v) + 1) / len(v), label=label)
        ax.set_xscale("log")
        ax.set_title(f"{title}: cumulative distribution")
        ax.set_xlabel(f"{title} (ms)")
        ax.set_ylabel("fraction of requests")
        ax.grid(alpha=0.3)
        if len(runs) > 1:
            ax.legend(fontsize=7)
    _save(fig, out_dir, "latency_cdf.png", made)


def _err(frame, col):
    """Error bars from a _ci95 column (none where the interval is undefined)."""
    if col not in frame:
        return None
    v = frame[col].fillna(0).values
    return v if np.any(v > 0) else None


def fig_pareto(sweep, out_dir, made):
    stats = sweep.trial_stats
    if stats is None or not len(stats):
        return
    pairs = list(sweep.pareto.items()) or [(None, None)]
    fig, axes = plt.subplots(1, len(pairs), figsize=(max(10, 6 * len(pairs)), 5.5), squeeze=False)
    for ax, (name, front) in zip(axes[0], pairs):
        if name is None:
            x, y = "objective", "violation"
        else:
            x, y = name.split("__")
        feasible = stats["feasible"] == 1
        for mask, style, label in ((~feasible, dict(marker="x", color="grey"), "infeasible"),
                                   (feasible, dict(marker="o", color="tab:blue"), "feasible")):
            s = stats[mask]
            if len(s):
                ax.errorbar(s[x], s[y], xerr=_err(s, f"{x}_ci95"), yerr=_err(s, f"{y}_ci95"), ls="none",
                            label=label, alpha=0.7, **style)
        if front is not None and len(front):
            f = front.sort_values(x)
            ax.errorbar(f[x], f[y], xerr=_err(f, f"{x}_ci95"), yerr=_err(f, f"{y}_ci95"), color="red", marker="s",
                        label="Pareto front (mean ± 95% CI)")
            for _, row in f.iterrows():
                ax.annotate(f"t{int(row['trial'])}", (row[x], row[y]), fontsize=7)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{y} vs {x}")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    _save(fig, out_dir, "pareto.png", made)


# ---- HTML ----

def _img(path):
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(os.path.basename(path))}">'


def _table(headers, rows):
    out = ["<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>")
    return "\n".join(out) + "</table>"


def _fmt(name, v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(v):
        return "-"
    if name.endswith("_s") and not name.endswith("_per_s"):
        return f"{v:.2f} s" if abs(v) >= 10 else f"{v * 1e3:.1f} ms"
    if name in ("slo_attainment", "prefix_hit_rate"):
        return f"{v * 100:.1f}%"
    return f"{v:.4g}"


SUMMARY_KEYS = ("requests_completed", "requests_failed", "throughput_req_per_s", "output_tokens_per_s", "ttft_p50_s",
                "ttft_p90_s", "ttft_p99_s", "itl_p50_s", "itl_p99_s", "tpot_mean_s", "e2e_p90_s", "slo_attainment",
                "goodput_req_per_s", "prefix_hit_rate", "gpus", "gpu_hours", "scale_events", "underprovisioned_s",
                "requests_remote_prefill", "kv_transfer_p50_s", "kv_transfer_p99_s", "sim_time_s", "wall_time_s")


def _page(title, body, out_dir):
    path = os.path.join(out_dir, "report.html")
    style = ("body{font-family:sans-serif;max-width:1150px;margin:auto}img{max-width:100%;border:1px solid #ddd;"
             "margin:8px 0}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}th{background:#f3f3f3}")
    with open(path, "w") as f:
        f.write(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return path


def run_figures(runs, out_dir):
    made = []
    fig_load(runs, out_dir, made)
    fig_latency(runs, out_dir, made)
    fig_workers(runs, out_dir, made)
    fig_kv(runs, out_dir, made)
    fig_links(runs, out_dir, made)
    fig_cdf(runs, out_dir, made)
    return made


def report(path, out_dir):
    f = servesim_h5.load(path)
    os.makedirs(out_dir, exist_ok=True)
    if f.kind == "sweep":
        made = []
        fig_pareto(f, out_dir, made)
        stats = f.trial_stats
        params = [c for c in f.trials.columns if "." in c]
        best = stats.head(10)
        rows = []
        for _, s in best.iterrows():
            t = f.trials[f.trials["trial"] == s["trial"]].iloc[0]
            rows.append([f"t{int(s['trial'])}", "yes" if s["feasible"] else "no", _fmt("v", s["violation"]),
                         _fmt("o", s["objective"]), _fmt("p", s["p_sla_miss"])] + [t[p] for p in params])
        body = (f"<p>{html.escape(path)}: {len(stats)} points, {len(f.trials)} runs, "
                f"{int((f.trials['ok'] == 1).sum())} succeeded.</p><h2>Best configurations</h2>" +
                _table(["trial", "feasible", "violation", "objective", "P(SLA miss)"] + params, rows) +
                "".join(f"<h2>{html.escape(os.path.basename(p))}</h2>{_img(p)}" for p in made))
        return _page(f"servesim sweep report: {f.meta.get('servesim_version', '')}", body, out_dir), made
    made = run_figures([(f.name(), f)], out_dir)
    rows = [[k, _fmt(k, f.summary[k])] for k in SUMMARY_KEYS if k in f.summary]
    body = (f"<p>{html.escape(path)}: scenario <b>{html.escape(str(f.meta.get('scenario_name')))}</b>, seed "
            f"{f.meta.get('seed')}, servesim {f.meta.get('servesim_version')} ({f.meta.get('git_commit')})</p>"
            "<h2>Summary</h2>" + _table(["metric", "value"], rows) +
            "".join(f"<h2>{html.escape(os.path.basename(p))}</h2>{_img(p)}" for p in made) +
            f"<h2>Scenario</h2><pre>{html.escape(f.scenario_yaml)}</pre>")
    return _page(f"servesim report: {f.name()}", body, out_dir), made


def compare(paths, out_dir):
    runs = []
    for p in paths:
        f = servesim_h5.load(p)
        if f.kind != "run":
            raise servesim_h5.ServesimFileError(f"{p}: compare takes run files, not sweeps")
        label = os.path.splitext(os.path.basename(p))[0]
        runs.append((label, f))
    os.makedirs(out_dir, exist_ok=True)
    made = run_figures(runs, out_dir)
    rows = [[k] + [_fmt(k, r.summary[k]) if k in r.summary else "-" for _, r in runs] for k in SUMMARY_KEYS]
    body = ("<h2>Summaries side by side</h2>" + _table(["metric"] + [l for l, _ in runs], rows) +
            "".join(f"<h2>{html.escape(os.path.basename(p))}</h2>{_img(p)}" for p in made))
    return _page("servesim comparison: " + ", ".join(l for l, _ in runs), body, out_dir), made


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("report", help="one run or sweep file")
    r.add_argument("file")
    r.add_argument("-o", "--output", help="folder (default: next to the file, <name>_report)")
    c = sub.add_parser("compare", help="several run files overlaid")
    c.add_argument("files", nargs="+")
    c.add_argument("-o", "--output", default="results/compare")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "report":
            out = args.output or os.path.splitext(args.file)[0] + "_report"
            page, made = report(args.file, out)
        else:
            page, made = compare(args.files, args.output)
    except servesim_h5.ServesimFileError as e:
        sys.exit(f"servesim report: {e}")
    print(f"wrote {page} ({len(made)} figures)")


if __name__ == "__main__":
    main(sys.argv[1:])
