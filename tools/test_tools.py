#!/usr/bin/python3
"""Tests of the analysis tools on files written by real (shortened) runs of the shipped scenarios.

Run by ctest (needs SERVESIM_BIN and SERVESIM_SOURCE_DIR in the environment).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import servesim_h5  # noqa: E402

import h5py  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import numpy as np  # noqa: E402

BIN = os.environ.get("SERVESIM_BIN", os.path.join(HERE, "..", "build", "servesim"))
SRC = os.environ.get("SERVESIM_SOURCE_DIR", os.path.join(HERE, ".."))
RUN_FIGURES = ["load_throughput.png", "latency_over_time.png", "workers_planner.png", "kv_queues.png",
               "latency_cdf.png"]


def servesim(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


class Tools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="servesim_tools_")
        cls.files = {}
        runs = {
            "planner": ["scenarios/planner_burst.yaml", "--set", "workload.synthetic.duration=25m"],
            "static": ["scenarios/planner_burst.yaml", "--set", "workload.synthetic.duration=25m",
                       "--set", "planner.policy=static", "--set", "pools.0.replicas=3"],
            "disagg": ["scenarios/transfer_cost.yaml", "--set", "workload.synthetic.duration=40s"],
        }
        for name, args in runs.items():
            out = os.path.join(cls.dir, name + ".h5")
            code, text = servesim("run", os.path.join(SRC, args[0]), *args[1:], "-q", "-o", out)
            assert code == 0, text
            cls.files[name] = out
        out = os.path.join(cls.dir, "sweep.h5")
        code, text = servesim("sweep", os.path.join(SRC, "scenarios/sweep_quick.yaml"), "-j", "2", "-o", out)
        assert code == 0, text
        cls.files["sweep"] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_loader_gives_every_dataset_with_its_columns_and_rows(self):
        for name, path in self.files.items():
            loaded = servesim_h5.load(path)
            with h5py.File(path, "r") as f:
                expected = {}
                f.visititems(lambda n, o: expected.__setitem__(n, o) if isinstance(o, h5py.Dataset) else None)
                self.assertEqual(set(loaded.datasets), set(expected), name)
                for ds, obj in expected.items():
                    frame = loaded.datasets[ds]
                    self.assertEqual(len(frame), len(obj), f"{name}:{ds}")
                    self.assertEqual(list(frame.columns), list(obj.dtype.names), f"{name}:{ds}")
        run = servesim_h5.load(self.files["planner"])
        self.assertEqual(run.kind, "run")
        self.assertIn("planner_burst", run.scenario_yaml)
        self.assertEqual(set(run.requests["status"].unique()), {"completed"})
        self.assertGreater(len(run.planner), 0)
        self.assertEqual(int(run.summary["requests_completed"]), len(run.requests))
        disagg = servesim_h5.load(self.files["disagg"])
        self.assertEqual(set(disagg.requests["route"].unique()), {"remote_prefill"})
        self.assertEqual(len(disagg.transfers), len(disagg.requests))
        self.assertIn("timeseries", disagg.links)
        sweep = servesim_h5.load(self.files["sweep"])
        self.assertEqual(sweep.kind, "sweep")
        self.assertEqual(len(sweep.trials), 12)
        self.assertTrue(sweep.pareto)

    def check_png(self, path):
        self.assertTrue(os.path.exists(path), path)
        img = matplotlib.image.imread(path)
        h, w = img.shape[:2]
        self.assertGreaterEqual(w, 900, path)
        self.assertGreaterEqual(h, 450, path)
        self.assertGreater(float(np.var(img[..., :3])), 1e-3, f"{path} looks blank")

    def test_report_writes_html_and_every_figure(self):
        cases = {"planner": RUN_FIGURES, "disagg": RUN_FIGURES + ["links_transfers.png"], "sweep": ["pareto.png"]}
        for name, figures in cases.items():
            out = os.path.join(self.dir, name + "_report")
            code, text = servesim("report", self.files[name], "-o", out)
            self.assertEqual(code, 0, text)
            page = open(os.path.join(out, "report.html")).read()
            for fig in figures:
                self.check_png(os.path.join(out, fig))
                self.assertIn(f'alt="{fig}"', page)
            self.assertIn("data:image/png;base64,", page)
        page = open(os.path.join(self.dir, "sweep_report", "report.html")).read()
        self.assertIn("Best configurations", page)

    def test_compare_overlays_runs_and_tabulates_them(self):
        out = os.path.join(self.dir, "compare")
        code, text = servesim("compare", self.files["static"], self.files["planner"], "-o", out)
        self.assertEqual(code, 0, text)
        page = open(os.path.join(out, "report.html")).read()
        self.assertIn("<th>static</th>", page)
        self.assertIn("<th>planner</th>", page)
        for fig in RUN_FIGURES:
            self.check_png(os.path.join(out, fig))

    def test_truncated_or_foreign_files_are_clear_errors(self):
        truncated = os.path.join(self.dir, "truncated.h5")
        with open(self.files["planner"], "rb") as f, open(truncated, "wb") as g:
            g.write(f.read(2000))
        code, text = servesim("report", truncated)
        self.assertNotEqual(code, 0)
        self.assertIn("truncated.h5: cannot open as HDF5", text)
        self.assertNotIn("Traceback", text)
        foreign = os.path.join(self.dir, "foreign.h5")
        with h5py.File(foreign, "w") as f:
            f["x"] = np.arange(3)
        code, text = servesim("report", foreign)
        self.assertNotEqual(code, 0)
        self.assertIn("not a servesim file (no /meta group)", text)
        code, text = subprocess.run([sys.executable, os.path.join(HERE, "servesim_h5.py"), "describe", foreign],
                                    capture_output=True, text=True).returncode, ""
        self.assertNotEqual(code, 0)

    def test_silicon_twins_finds_rows_that_measure_one_deployment(self):
        # two deployments of one model at one load: A/B agree (twins), A/C differ by 2x, D has no
        # concurrency in its id and is left out
        head = ("id,backend,backend_version,model_path,system,precision,mode,isl,osl,tp_size,attention_dp_size,"
                "moe_tp_size,moe_ep_size,batch_size,silicon_ttft_ms,silicon_tpot_ms")
        rows = ["a_c8_tp4,vllm,0.18.0,M/X,h100_sxm,fp8,agg,1024,1024,4,1,1,4,8,100,10",
                "b_c8_tp4,vllm,0.18.0,M/X,h100_sxm,fp8,agg,1024,1024,4,4,1,16,2,102,10.05",
                "c_c8_tp8,vllm,0.18.0,M/X,h100_sxm,fp8,agg,1024,1024,8,1,1,8,8,50,5",
                "d_tp4,vllm,0.18.0,M/X,h100_sxm,fp8,agg,1024,1024,2,1,1,2,8,100,10"]
        table = os.path.join(self.dir, "silicon.csv")
        with open(table, "w") as f:
            f.write("\n".join([head, *rows]) + "\n")
        tool = os.path.join(HERE, "silicon_twins.py")
        r = subprocess.run([sys.executable, tool, table], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("3 pairs of rows with different deployments; 1 agree within 5% on both TTFT and TPOT", r.stdout)
        r = subprocess.run([sys.executable, tool, table, "--agreeing"], capture_output=True, text=True)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 3, r.stdout)  # header, the twins, the count
        self.assertIn("tp4 dp4 mtp1 ep16 b2", lines[1])
        self.assertIn("+2.0%", lines[1])
        r = subprocess.run([sys.executable, tool, table, "--within", "1"], capture_output=True, text=True)
        self.assertIn("0 agree within 1%", r.stdout)
        with open(table, "a") as f:
            f.write("e_c8_tp2,vllm,0.18.0,M/X,h100_sxm,fp8,agg,1024,1024,2,1,1,2,8,n/a,10\n")
        r = subprocess.run([sys.executable, tool, table], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("row e_c8_tp2: silicon_ttft_ms 'n/a' is not a positive number", r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        r = subprocess.run([sys.executable, tool, os.path.join(self.dir, "missing.csv")], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("missing.csv", r.stderr)
        self.assertNotIn("Traceback", r.stderr)


if __name__ == "__main__":
    unittest.main()
