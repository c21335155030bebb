// Closed-loop sessions and agent request graphs, end to end: the fixtures in tests/data
// (scripts/make_session_fixtures.py) run through the CLI; every dependency is checked from
// /requests and /edges against what the trace reader says the rows wait for.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "scenario/scenario.h"
#include "tests/test_util.h"
#include "traces/trace_source.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;
using H5 = testing::H5File;

std::string fixture(const std::string& name) { return std::string(SERVESIM_SOURCE_DIR) + "/tests/data/" + name; }

std::string scenario_yaml(const std::string& source, const std::string& path, const std::string& extra = "",
                          int replicas = 4) {
  return fmt::format(R"(
name: sessions
seed: 5
workload:
  source: {}
  path: {}
  hash_block_tokens: 256
{}
router: {{policy: kv_aware}}
pools:
  - {{replicas: {}, model: llama-3.1-8b, gpu: h100_sxm, engine: {{block_size: 16}}}}
)",
                     source, path, extra, replicas);
}

// /requests by trace id, and /edges
struct Graph {
  struct Row {
    double arrival, finish, deps_done, think, tool, session, status;
  };
  std::map<std::uint64_t, Row> rows;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> edges;  // (request, waits_for)
  std::map<std::string, double> summary;
};

Graph read_graph(const std::string& h5) {
  H5 f(h5);
  Graph g;
  auto col = [&](const char* c) { return testing::read_double_column(f.id, "/requests", c); };
  auto id = col("trace_id"), arrival = col("arrival_s"), e2e = col("e2e_s"), deps = col("deps_done_s"),
       think = col("think_s"), tool = col("tool_wait_s"), session = col("session_id"), status = col("status");
  for (size_t i = 0; i < id.size(); ++i)
    g.rows[static_cast<std::uint64_t>(id[i])] = {arrival[i], arrival[i] + e2e[i], deps[i], think[i],
                                                 tool[i], session[i], status[i]};
  auto child = testing::read_double_column(f.id, "/edges", "trace_id");
  auto parent = testing::read_double_column(f.id, "/edges", "waits_for");
  for (size_t i = 0; i < child.size(); ++i)
    g.edges.emplace_back(static_cast<std::uint64_t>(child[i]), static_cast<std::uint64_t>(parent[i]));
  for (const char* k : {"requests_arrived", "requests_completed", "sessions", "sessions_completed", "session_e2e_mean_s",
                        "trace_rows_late", "trace_rows_waiting", "e2e_mean_s"})
    g.summary[k] = testing::read_double_column(f.id, "/summary", k).at(0);
  return g;
}

// What the reader says each row waits for (trace id -> row).
std::map<std::uint64_t, TraceRequest> trace_rows(const std::string& source, const std::string& path,
                                                int session_limit = 0) {
  WorkloadConfig w;
  w.source = source;
  w.path = path;
  w.hash_block_tokens = 256;
  w.closed_loop.sessions = session_limit;
  TraceContext ctx{w, ".", 1};
  auto src = make_trace_source(ctx);
  std::map<std::uint64_t, TraceRequest> out;
  while (auto r = src->next()) out.emplace(r->trace_id, std::move(*r));
  return out;
}

// Peak number of live sessions (first arrival to last token), from /requests.
int peak_live_sessions(const Graph& g) {
  std::map<double, std::pair<double, double>> span;  // session -> (start, end)
  for (const auto& [id, row] : g.rows) {
    auto [it, fresh] = span.try_emplace(row.session, row.arrival, row.finish);
    it->second.first = std::min(it->second.first, row.arrival);
    it->second.second = std::max(it->second.second, row.finish);
  }
  // a slot is reused the instant a session ends (end = arrival + e2e is rounded: allow 1 us)
  std::vector<std::pair<double, int>> events;
  for (auto& [s, se] : span) events.push_back({se.first, +1}), events.push_back({se.second - 1e-6, -1});
  std::sort(events.begin(), events.end());
  int live = 0, peak = 0;
  for (auto [t, d] : events) peak = std::max(peak, live += d);
  return peak;
}

// Every row with dependencies started exactly when the last of them ended plus its waits: never
// before (the dependency is honoured) and never later (the player adds no delay of its own).
void expect_dependencies_honoured(const Graph& g, const std::map<std::uint64_t, TraceRequest>& trace) {
  std::map<std::uint64_t, double> last_parent_end;
  for (auto [child, parent] : g.edges) {
    ASSERT_TRUE(g.rows.count(child) && g.rows.count(parent)) << child << " <- " << parent;
    double& end = last_parent_end.try_emplace(child, -1).first->second;
    end = std::max(end, g.rows.at(parent).finish);
  }
  size_t dependent = 0;
  for (const auto& [id, t] : trace) {
    const auto& row = g.rows.at(id);
    std::vector<std::uint64_t> recorded;
    for (auto [child, parent] : g.edges)
      if (child == id) recorded.push_back(parent);
    std::vector<std::uint64_t> expected = t.wait_for;
    std::sort(recorded.begin(), recorded.end());
    std::sort(expected.begin(), expected.end());
    ASSERT_EQ(recorded, expected) << "trace row " << id;
    if (expected.empty()) {
      EXPECT_TRUE(std::isnan(row.deps_done)) << id;
      continue;
    }
    ++dependent;
    EXPECT_NEAR(row.deps_done, last_parent_end.at(id), 2e-9) << id;
    EXPECT_NEAR(row.think, t.delay_s, 1e-9) << id;
    EXPECT_NEAR(row.tool, t.tool_wait_s, 1e-9) << id;
    EXPECT_NEAR(row.arrival, last_parent_end.at(id) + t.delay_s + t.tool_wait_s, 4e-9) << id;
  }
  EXPECT_GT(dependent, trace.size() / 2);
}

TEST(Sessions, AgentGraphStartsEveryCallWhenItsDependenciesAndToolWaitsAreDone) {
  testing::TempDir dir;
  const std::string scn = dir.write("agent.yaml", scenario_yaml("agentic_mooncake", fixture("agentic_graph.jsonl")));
  auto r = testing::run_servesim("run " + scn + " -o " + dir.file("a.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("sessions    10 (10 with every request completed)"));
  const auto trace = trace_rows("agentic_mooncake", fixture("agentic_graph.jsonl"));
  Graph g = read_graph(dir.file("a.h5"));
  ASSERT_EQ(g.rows.size(), trace.size());
  EXPECT_EQ(g.summary["requests_completed"], static_cast<double>(trace.size()));
  EXPECT_EQ(g.summary["sessions"], 10);
  EXPECT_EQ(g.summary["trace_rows_late"], 0);
  EXPECT_EQ(g.summary["trace_rows_waiting"], 0);
  expect_dependencies_honoured(g, trace);
  // the fixture has fan-outs of 2-8 sub-agent calls and joins of all of them
  std::map<std::uint64_t, int> children, parents;
  for (auto [child, parent] : g.edges) ++children[parent], ++parents[child];
  int fan_outs = 0, joins = 0, widest = 0;
  for (auto [id, n] : children) fan_outs += n >= 2, widest = std::max(widest, n);
  for (auto [id, n] : parents) joins += n >= 2;
  EXPECT_GE(fan_outs, 10);
  EXPECT_GE(joins, 10);
  EXPECT_GE(widest, 7);
  EXPECT_LE(widest, 8);
  // a session lasts from its first arrival to its last token: longer than any of its requests
  EXPECT_GT(g.summary["session_e2e_mean_s"], 20 * g.summary["e2e_mean_s"]);

  // the same scenario and seed: the same file, bit for bit
  auto again = testing::run_servesim("run " + scn + " -q -o " + dir.file("b.h5"));
  ASSERT_EQ(again.exit_code, 0) << again.out;
  H5 a(dir.file("a.h5")), b(dir.file("b.h5"));
  EXPECT_EQ(testing::read_raw(a.id, "/requests"), testing::read_raw(b.id, "/requests"));
  EXPECT_EQ(testing::read_raw(a.id, "/edges"), testing::read_raw(b.id, "/edges"));
}

TEST(Sessions, MooncakeDelayRowsStartAfterTheirSessionsPreviousTurnEnds) {
  testing::TempDir dir;
  const std::string scn = dir.write("s.yaml", scenario_yaml("mooncake_jsonl", fixture("sessions_full.jsonl"), "", 2));
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("s.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto trace = trace_rows("mooncake_jsonl", fixture("sessions_full.jsonl"));
  Graph g = read_graph(dir.file("s.h5"));
  ASSERT_EQ(g.rows.size(), 194u);
  EXPECT_EQ(g.summary["sessions"], 20);
  expect_dependencies_honoured(g, trace);
  // every edge links consecutive turns of one session
  for (auto [child, parent] : g.edges) EXPECT_EQ(g.rows.at(child).session, g.rows.at(parent).session);
  EXPECT_EQ(g.edges.size(), 194u - 20u);
}

TEST(Sessions, SessionConcurrencyKeepsThatManySessionsLive) {
  testing::TempDir dir;
  const std::string scn = dir.write(
      "c.yaml", scenario_yaml("mooncake_jsonl", fixture("sessions_full.jsonl"), "  closed_loop: {sessions: 3}", 2));
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("c.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  Graph g = read_graph(dir.file("c.h5"));
  ASSERT_EQ(g.rows.size(), 194u);
  const auto trace = trace_rows("mooncake_jsonl", fixture("sessions_full.jsonl"));
  expect_dependencies_honoured(g, trace);
  // each session lives from its first arrival to its last token; at most 3 at once, 3 most of the time
  std::map<double, std::pair<double, double>> span;  // session -> (start, end)
  for (const auto& [id, row] : g.rows) {
    auto [it, fresh] = span.try_emplace(row.session, row.arrival, row.finish);
    it->second.first = std::min(it->second.first, row.arrival);
    it->second.second = std::max(it->second.second, row.finish);
  }
  ASSERT_EQ(span.size(), 20u);
  EXPECT_EQ(peak_live_sessions(g), 3);
  // sessions start in trace order, each when one ends (timestamps ignored): session 4 starts when one of 1-3 ends
  std::vector<double> starts, ends;
  for (auto& [s, se] : span) starts.push_back(se.first), ends.push_back(se.second);
  EXPECT_TRUE(std::is_sorted(starts.begin(), starts.end()));
  EXPECT_EQ(starts[0], 0.0);
  const double first_end = std::min({ends[0], ends[1], ends[2]});
  EXPECT_NEAR(starts[3], first_end, 1e-9);
}

TEST(Sessions, TrieAgentSessionsRunUnderASessionLimit) {
  testing::TempDir dir;
  const std::string scn = dir.write(
      "t.yaml", scenario_yaml("trie_agentic", fixture("trie_sessions.jsonl"), "  closed_loop: {sessions: 4}", 2));
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("t.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto trace = trace_rows("trie_agentic", fixture("trie_sessions.jsonl"), 4);
  Graph g = read_graph(dir.file("t.h5"));
  ASSERT_EQ(g.rows.size(), trace.size());
  EXPECT_EQ(g.summary["sessions"], 12);
  EXPECT_EQ(g.summary["sessions_completed"], 12);
  expect_dependencies_honoured(g, trace);
  EXPECT_EQ(peak_live_sessions(g), 4);
  EXPECT_EQ(g.edges.size(), trace.size() - 12);  // a chain per session: every call but the first waits
}

TEST(Sessions, SyntheticAgentsCallToolsFanOutAndJoin) {
  testing::TempDir dir;
  const std::string yaml = R"(
name: agents
seed: 1
workload:
  hash_block_tokens: 16
  synthetic:
    duration: 60s
    arrival: {process: poisson, rate: 0.3}
    input_length: {dist: uniform, min: 100, max: 400}
    output_length: {dist: uniform, min: 20, max: 200}
    sessions: {enabled: true, turns: {dist: uniform, min: 5, max: 20}, think_time: 2s, min_think_time: 1s}
    agent:
      enabled: true
      system_prompt_tokens: 1000
      tool_probability: 0.5
      tool_time: 1s
      min_tool_time: 0.25s
      tool_output_length: {dist: uniform, min: 50, max: 500}
      fanout_probability: 0.2
      fanout: {dist: uniform, min: 2, max: 8}
      subagent_input_length: {dist: uniform, min: 100, max: 300}
pools:
  - {replicas: 2, model: llama-3.1-8b, gpu: h100_sxm, engine: {block_size: 16}}
)";
  const std::string scn = dir.write("a.yaml", yaml);
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("a.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  Graph g = read_graph(dir.file("a.h5"));
  // the generator's rows, as the run saw them (same scenario, same seed)
  auto scenario = load_scenario_string(yaml, dir.file("a.yaml"));
  TraceContext ctx{scenario.config.workload, dir.path(), scenario.config.seed};
  auto src = make_trace_source(ctx);
  std::map<std::uint64_t, TraceRequest> trace;
  while (auto t = src->next()) trace.emplace(t->trace_id, std::move(*t));
  ASSERT_EQ(g.rows.size(), trace.size());
  expect_dependencies_honoured(g, trace);
  std::map<std::uint64_t, int> children, parents;
  for (auto [child, parent] : g.edges) ++children[parent], ++parents[child];
  int fan_outs = 0, joins = 0, tool_calls = 0;
  for (auto [id, n] : children) {
    fan_outs += n >= 2;
    EXPECT_LE(n, 8);
  }
  for (auto [id, n] : parents) joins += n >= 2;
  for (const auto& [id, row] : g.rows) {
    if (row.tool > 0) {
      ++tool_calls;
      EXPECT_GE(row.tool, 0.25 - 1e-12);
      EXPECT_EQ(row.think, 0.0);  // a tool's result is sent at once, no user in the loop
    }
  }
  EXPECT_GT(fan_outs, 3);
  EXPECT_EQ(joins, fan_outs);  // each fan-out is joined by the next call
  EXPECT_GT(tool_calls, 20);
  // every session starts from the same system prompt blocks, and each call re-sends its context
  std::map<double, std::vector<const TraceRequest*>> calls;
  for (const auto& [id, t] : trace) calls[static_cast<double>(t.session_id)].push_back(&t);
  const auto& first = *calls.begin()->second.front();
  for (const auto& [s, rows] : calls)
    for (size_t b = 0; b < 1000 / 16; ++b) ASSERT_EQ(rows.front()->hash_ids[b], first.hash_ids[b]) << s;
}

TEST(Sessions, SyntheticTurnsWaitForThePreviousAnswerEvenUnderOverload) {
  // 2 sessions/s of 4 turns of 2,000-token prompts on one worker limited to 4 sequences: overloaded
  testing::TempDir dir;
  const std::string scn = dir.write("o.yaml", R"(
name: overload
seed: 2
workload:
  hash_block_tokens: 16
  synthetic:
    duration: 60s
    arrival: {process: poisson, rate: 2}
    input_length: {dist: fixed, value: 2000}
    output_length: {dist: fixed, value: 300}
    sessions: {enabled: true, turns: {dist: fixed, value: 4}, think_time: 1s, min_think_time: 0.5s}
pools:
  - {replicas: 1, model: llama-3.1-8b, gpu: h100_sxm, engine: {max_num_seqs: 4}}
)");
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("o.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  Graph g = read_graph(dir.file("o.h5"));
  H5 f(dir.file("o.h5"));
  EXPECT_GT(testing::read_double_column(f.id, "/summary", "queue_mean_s").at(0), 5.0);  // overloaded indeed
  ASSERT_GT(g.edges.size(), 200u);
  for (auto [child, parent] : g.edges) {
    const auto &c = g.rows.at(child), &p = g.rows.at(parent);
    ASSERT_GE(c.arrival, p.finish + 0.5 - 1e-9) << "turn " << child << " arrived before its predecessor ended";
    EXPECT_NEAR(c.arrival, p.finish + c.think, 2e-9);
    EXPECT_EQ(c.session, p.session);
  }
}

TEST(Sessions, TraceOrderThatHidesARowIsCountedAsLate) {
  // session a's second turn is listed after session b's first row at 100 s: the player reads it
  // only then, long after turn 1 ended; it starts at once and is counted, never silently
  testing::TempDir dir;
  const std::string trace = dir.write("late.jsonl", R"({"session_id": "a", "timestamp": 0, "input_length": 100, "output_length": 10}
{"session_id": "b", "timestamp": 100000, "input_length": 100, "output_length": 10}
{"session_id": "a", "delay": 1000, "input_length": 200, "output_length": 10}
)");
  const std::string scn = dir.write("l.yaml", scenario_yaml("mooncake_jsonl", trace, "", 1));
  auto r = testing::run_servesim("run " + scn + " -o " + dir.file("l.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("1 rows were read only after their dependencies had ended"));
  Graph g = read_graph(dir.file("l.h5"));
  EXPECT_EQ(g.summary["trace_rows_late"], 1);
  EXPECT_NEAR(g.rows.at(3).arrival, 100.0, 1e-9);
}

TEST(Sessions, AWindowDropsTheRowsThatWaitForDroppedRows) {
  testing::TempDir dir;
  // the window starts after the first three sessions began: their later turns go too
  const std::string scn = dir.write(
      "w.yaml", scenario_yaml("mooncake_jsonl", fixture("sessions_full.jsonl"), "  start: 5s", 2));
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("w.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  Graph g = read_graph(dir.file("w.h5"));
  const auto trace = trace_rows("mooncake_jsonl", fixture("sessions_full.jsonl"));
  size_t expected = 0;
  std::map<std::uint64_t, bool> in;  // per trace row: inside the window (its session's first row is)
  for (const auto& [id, t] : trace) {
    in[id] = t.depends() ? in.at(t.wait_for[0]) : t.arrival_s >= 5.0;
    expected += in[id];
  }
  EXPECT_LT(expected, trace.size());
  EXPECT_GT(expected, trace.size() / 2);
  EXPECT_EQ(g.rows.size(), expected);
  for (const auto& [id, row] : g.rows) EXPECT_TRUE(in.at(id)) << id;
  EXPECT_EQ(g.summary["requests_completed"], static_cast<double>(expected));
}

TEST(Sessions, ARequestLevelClosedLoopRefusesRowsThatWait) {
  testing::TempDir dir;
  const std::string scn = dir.write(
      "x.yaml", scenario_yaml("mooncake_jsonl", fixture("sessions_full.jsonl"), "  closed_loop: {concurrency: 4}", 1));
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("x.h5"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("use workload.closed_loop.sessions"));
  const std::string both = dir.write(
      "y.yaml", scenario_yaml("mooncake_jsonl", fixture("sessions_full.jsonl"),
                              "  closed_loop: {concurrency: 4, sessions: 2}", 1));
  r = testing::run_servesim("validate " + both);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("workload.closed_loop.sessions"));
  EXPECT_THAT(r.out, HasSubstr("not both"));
}

// A long agent trace: 1,500 sessions, one starting every 2 s, each a chain of four calls (the
// later ones waiting for the previous with a 100 ms delay), named by request_id.
std::string long_agent_trace(testing::TempDir& dir) {
  std::string rows;
  for (int i = 0; i < 1500; ++i)
    for (int k = 0; k < 4; ++k)
      rows += (k == 0 ? fmt::format(R"({{"timestamp": {}, "session_id": "s{}", "request_id": "s{}-0", )"
                                    R"("input_length": 300, "output_length": 20}})",
                                    i * 2000, i, i)
                      : fmt::format(R"({{"session_id": "s{}", "request_id": "s{}-{}", "wait_for": ["s{}-{}"], )"
                                    R"("delay": 100, "input_length": 300, "output_length": 20}})",
                                    i, i, k, i, k - 1)) +
              "\n";
  return dir.write("long.jsonl", rows);
}

TEST(Sessions, GraphMemoryFollowsTheSessionsInTheHorizonNotTheTraceLength) {
  testing::TempDir dir;
  const std::string path = long_agent_trace(dir);
  std::map<bool, std::uint64_t> peak, rows;
  for (bool bounded : {true, false}) {
    WorkloadConfig w;
    w.source = "agentic_mooncake";
    w.path = path;
    w.hash_block_tokens = 256;
    if (bounded) w.graph_horizon = Duration{60.0};
    else w.graph_horizon.reset();
    TraceContext ctx{w, ".", 1};
    auto src = make_trace_source(ctx);
    while (auto r = src->next()) {
      ++rows[bounded];
      peak[bounded] = std::max(peak[bounded], src->graph_entries_held());
    }
  }
  EXPECT_EQ(rows[true], 6000u);
  EXPECT_EQ(rows[false], 6000u);
  // unbounded: every session and every name, 1,500 x (1 + 4)
  EXPECT_EQ(peak[false], 7500u);
  // 60 s of trace time spans 30 sessions (one every 2 s) and their 4 names each, plus the one read
  EXPECT_LE(peak[true], 32u * 5);
  EXPECT_GE(peak[true], 30u * 5);
  // and a whole run holds about as few, the player's ended rows and frontier included
  const std::string scn = dir.write("h.yaml", scenario_yaml("agentic_mooncake", path, "  graph_horizon: 60s", 2));
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("h.h5"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  testing::H5File f(dir.file("h.h5"));
  const double held = testing::read_double_column(f.id, "/summary", "trace_graph_entries_peak").at(0);
  EXPECT_GT(held, 150) << held;
  EXPECT_LT(held, 600) << held;
  EXPECT_EQ(testing::read_double_column(f.id, "/summary", "requests_completed").at(0), 6000);
}

TEST(Sessions, ARowNamingARowBeyondTheHorizonIsAnErrorThatSaysSo) {
  testing::TempDir dir;
  const std::string trace = dir.write("t.jsonl",
                                      R"({"timestamp": 0, "request_id": "a", "input_length": 100, "output_length": 5}
{"timestamp": 90000, "request_id": "b", "input_length": 100, "output_length": 5}
{"request_id": "c", "wait_for": ["a"], "input_length": 100, "output_length": 5}
)");
  const std::string scn = dir.write("x.yaml", scenario_yaml("agentic_mooncake", trace, "  graph_horizon: 60s", 1));
  auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("x.h5"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("t.jsonl:3"));
  EXPECT_THAT(r.out, HasSubstr("workload.graph_horizon (60 s of trace time)"));
  // with no horizon the same trace runs
  const std::string open = dir.write("y.yaml", scenario_yaml("agentic_mooncake", trace, "  graph_horizon: null", 1));
  r = testing::run_servesim("run " + open + " -q -o " + dir.file("y.h5"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST(Sessions, ASessionIdleBeyondTheHorizonStartsAnew) {
  testing::TempDir dir;
  const std::string trace = dir.write("t.jsonl",
                                      R"({"timestamp": 0, "session_id": "u", "input_length": 100, "output_length": 5}
{"timestamp": 30000, "session_id": "u", "input_length": 100, "output_length": 5}
{"timestamp": 200000, "session_id": "u", "input_length": 100, "output_length": 5}
)");
  for (const auto& [horizon, sessions] : std::vector<std::pair<std::string, double>>{{"60s", 2}, {"null", 1}}) {
    const std::string scn = dir.write("s.yaml", scenario_yaml("mooncake_jsonl", trace, "  graph_horizon: " + horizon, 1));
    auto r = testing::run_servesim("run " + scn + " -q -o " + dir.file("s.h5"));
    ASSERT_EQ(r.exit_code, 0) << r.out;
    testing::H5File f(dir.file("s.h5"));
    EXPECT_EQ(testing::read_double_column(f.id, "/summary", "sessions").at(0), sessions) << horizon;
  }
}

}  // namespace
}  // namespace servesim
