// Trace readers, knobs and generators, on small files the tests write and on the real
// traces in data/.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "tests/test_util.h"
#include "traces/rate_schedule.h"
#include "traces/trace_source.h"

namespace servesim {
namespace {

using ::testing::HasSubstr;

std::vector<TraceRequest> read_all(const WorkloadConfig& w, const std::string& base = ".", TraceStats* stats = nullptr) {
  TraceContext ctx{w, base, 7};
  auto src = make_trace_source(ctx);
  std::vector<TraceRequest> out;
  while (auto r = src->next()) out.push_back(std::move(*r));
  if (stats) *stats = src->stats();
  return out;
}

std::string read_error(const WorkloadConfig& w) {
  try {
    read_all(w);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

WorkloadConfig file_workload(const std::string& source, const std::string& path) {
  WorkloadConfig w;
  w.source = source;
  w.path = path;
  return w;
}

TEST(MooncakeJsonl, ReadsFieldsAndHashIds) {
  testing::TempDir d;
  auto p = d.write("t.jsonl",
                   "{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 5, \"hash_ids\": [0, 1]}\n"
                   "{\"timestamp\": 1500, \"input_length\": 10, \"output_length\": 2}\n"
                   "\n"
                   "{\"timestamp\": 1500.5, \"input_length\": 513, \"output_length\": 1, \"hash_ids\": [0, 7], \"extra\": \"x\"}");
  auto rows = read_all(file_workload("mooncake_jsonl", p));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_DOUBLE_EQ(rows[0].arrival_s, 0.0);
  EXPECT_EQ(rows[0].input_tokens, 1000u);
  EXPECT_EQ(rows[0].output_tokens, 5u);
  EXPECT_EQ(rows[0].hash_ids, (std::vector<std::uint64_t>{0, 1}));
  EXPECT_DOUBLE_EQ(rows[1].arrival_s, 1.5);
  EXPECT_TRUE(rows[1].hash_ids.empty());
  EXPECT_DOUBLE_EQ(rows[2].arrival_s, 1.5005);
}

TEST(MooncakeJsonl, EachKindOfBadLineNamesItsLine) {
  testing::TempDir d;
  const std::string good = "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2}\n";
  struct Case {
    std::string line, expect;
  } cases[] = {
      {"not json", "not valid JSON"},
      {"[1, 2]", "expected a JSON object"},
      {"{\"input_length\": 10, \"output_length\": 2}", "missing field 'timestamp'"},
      {"{\"timestamp\": 5, \"output_length\": 2}", "missing field 'input_length'"},
      {"{\"timestamp\": 5, \"input_length\": 10}", "missing field 'output_length'"},
      {"{\"timestamp\": \"soon\", \"input_length\": 10, \"output_length\": 2}", "'timestamp' must be a number"},
      {"{\"timestamp\": -5, \"input_length\": 10, \"output_length\": 2}", "negative timestamp"},
      {"{\"timestamp\": 5, \"input_length\": -10, \"output_length\": 2}", "'input_length' -10 is outside [1, 100000000]"},
      {"{\"timestamp\": 5, \"input_length\": 10, \"output_length\": 0}", "'output_length' 0 is outside [1, 100000000]"},
      {"{\"timestamp\": 5, \"input_length\": 10.5, \"output_length\": 2}", "'input_length' must be an integer"},
      {"{\"timestamp\": 5, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [1, -2]}", "non-negative"},
      {"{\"timestamp\": 5, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [1, 2]}", "covers only 1 blocks"},
      {"{\"timestamp\": 5, \"input_length\": 10, \"output_length\": 2} trailing", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto p = d.write("bad.jsonl", good + good + c.line + "\n" + good);
    std::string e = read_error(file_workload("mooncake_jsonl", p));
    EXPECT_THAT(e, HasSubstr("bad.jsonl:3:")) << c.line;
    EXPECT_THAT(e, HasSubstr(c.expect)) << c.line;
    EXPECT_THAT(e, HasSubstr("on_bad_line: skip")) << c.line;
    auto w = file_workload("mooncake_jsonl", p);
    w.on_bad_line = "skip";
    TraceStats st;
    auto rows = read_all(w, ".", &st);
    EXPECT_EQ(rows.size(), 3u) << c.line;
    EXPECT_EQ(st.rows_skipped, 1u) << c.line;
  }
}

TEST(AgenticMooncake, EachKindOfBadGraphNamesItsLine) {
  testing::TempDir d;
  const std::string head =
      "{\"request_id\": \"a\", \"session_id\": \"s\", \"timestamp\": 0, \"input_length\": 10, \"output_length\": 2}\n"
      "{\"request_id\": \"b\", \"wait_for\": [\"a\"], \"tool_wait_ms\": 1500, \"input_length\": 20, \"output_length\": 2}\n";
  struct Case {
    std::string line, expect;
  } cases[] = {
      {R"({"request_id": "c", "wait_for": ["zz"], "input_length": 10, "output_length": 2})", "names request 'zz', which no earlier row has"},
      {R"({"request_id": "c", "wait_for": ["d"], "input_length": 10, "output_length": 2})", "a cycle cannot be written"},
      {R"({"request_id": "c", "wait_for": ["c"], "input_length": 10, "output_length": 2})", "request 'c' waits for itself"},
      {R"({"request_id": "a", "timestamp": 5, "input_length": 10, "output_length": 2})", "request_id 'a' is used already by line 1"},
      {R"({"request_id": "c", "wait_for": ["a"], "delay": -1, "input_length": 10, "output_length": 2})", "'delay' must be a non-negative"},
      {R"({"request_id": "c", "wait_for": ["a"], "tool_wait_ms": -2, "input_length": 10, "output_length": 2})", "'tool_wait_ms' must be a non-negative"},
      {R"({"request_id": "c", "wait_for": "a", "input_length": 10, "output_length": 2})", "'wait_for' must be a list"},
      {R"({"request_id": "c", "wait_for": [1.5], "input_length": 10, "output_length": 2})", "'wait_for' must hold request ids"},
      {R"({"request_id": "", "timestamp": 5, "input_length": 10, "output_length": 2})", "'request_id' must be"},
      {R"({"session_id": "t", "delay": 100, "input_length": 10, "output_length": 2})", "first row of session 't'"},
      {R"({"delay": 100, "input_length": 10, "output_length": 2})", "it has no 'session_id'"},
      {R"({"request_id": "c", "tool_wait_ms": 100, "timestamp": 5, "input_length": 10, "output_length": 2})", "this row waits for none"},
      {R"({"request_id": "c", "input_length": 10, "output_length": 2})", "missing field 'timestamp'"},
  };
  for (const auto& c : cases) {
    auto p = d.write("g.jsonl", head + c.line + "\n" +
                                    "{\"request_id\": \"d\", \"wait_for\": [\"b\"], \"input_length\": 10, \"output_length\": 2}\n");
    std::string e = read_error(file_workload("agentic_mooncake", p));
    EXPECT_THAT(e, HasSubstr("g.jsonl:3:")) << c.line;
    EXPECT_THAT(e, HasSubstr(c.expect)) << c.line;
  }
  // a good graph: ids are the rows' line numbers, a row without a session joins its first dependency's
  auto p = d.write("g.jsonl", head + "{\"request_id\": 7, \"wait_for\": [\"a\", \"b\"], \"delay\": 250, \"input_length\": 30, "
                                     "\"output_length\": 2, \"branches\": 2, \"tool_events\": []}\n");
  auto rows = read_all(file_workload("agentic_mooncake", p));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].trace_id, 1u);
  EXPECT_FALSE(rows[0].depends());
  EXPECT_EQ(rows[1].wait_for, std::vector<std::uint64_t>{1});
  EXPECT_DOUBLE_EQ(rows[1].tool_wait_s, 1.5);
  EXPECT_EQ(rows[1].session_id, rows[0].session_id);
  EXPECT_EQ(rows[2].wait_for, (std::vector<std::uint64_t>{1, 2}));
  EXPECT_DOUBLE_EQ(rows[2].delay_s, 0.25);
  EXPECT_EQ(rows[2].trace_id, 3u);
}

TEST(MooncakeDelta, LaterTurnsRebuildTheWholePromptFromTheSessionsHistory) {
  // the fixtures hold the same sessions written whole and as deltas (scripts/make_session_fixtures.py)
  const std::string dir = std::string(SERVESIM_SOURCE_DIR) + "/tests/data/";
  auto full_w = file_workload("mooncake_jsonl", dir + "sessions_full.jsonl");
  auto delta_w = file_workload("mooncake_delta", dir + "sessions_delta.jsonl");
  full_w.hash_block_tokens = delta_w.hash_block_tokens = 256;
  auto full = read_all(full_w), delta = read_all(delta_w);
  ASSERT_EQ(full.size(), delta.size());
  std::map<std::uint64_t, const TraceRequest*> previous;
  int later_turns = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    const TraceRequest &f = full[i], &t = delta[i];
    EXPECT_EQ(t.input_tokens, f.input_tokens) << i;  // previous prompt + previous answer + the new segment
    EXPECT_EQ(t.output_tokens, f.output_tokens) << i;
    EXPECT_EQ(t.session_id, f.session_id) << i;
    EXPECT_EQ(t.wait_for, f.wait_for) << i;
    EXPECT_EQ(t.hash_ids.size(), f.hash_ids.size()) << i;
    if (auto it = previous.find(t.session_id); it != previous.end()) {
      const TraceRequest& p = *it->second;
      ++later_turns;
      // the previous prompt's full blocks come first, with their ids
      for (size_t b = 0; b < p.input_tokens / 256; ++b) ASSERT_EQ(t.hash_ids[b], p.hash_ids[b]) << i;
      // the blocks after the previous prompt and answer are the row's own (the file's ids)
      const size_t kept = (p.input_tokens + p.output_tokens) / 256;
      for (size_t b = kept; b < t.hash_ids.size(); ++b) ASSERT_EQ(t.hash_ids[b], f.hash_ids[b]) << i;
    }
    previous[t.session_id] = &t;
  }
  EXPECT_EQ(later_turns, 194 - 20);
}

TEST(TrieAgentic, ASessionIsItsCallsEachResendingTheContextSoFar) {
  testing::TempDir d;
  auto p = d.write("t.jsonl",
                   "{\"num_turns\": 2, \"input_prompt_length\": 1000, \"assistant_response_length\": [100, 50], "
                   "\"tool_call_output_length\": [300, 0], \"tool_call_latency\": [2.5, 0.5], "
                   "\"final_assistant_response_length\": 80, \"timestamp\": 1500}\n");
  auto w = file_workload("trie_agentic", p);
  w.hash_block_tokens = 16;
  auto rows = read_all(w);
  ASSERT_EQ(rows.size(), 3u);  // two turns and the final answer
  EXPECT_EQ(rows[0].input_tokens, 1000u);
  EXPECT_EQ(rows[0].output_tokens, 100u);
  EXPECT_DOUBLE_EQ(rows[0].arrival_s, 1.5);
  EXPECT_FALSE(rows[0].depends());
  EXPECT_EQ(rows[1].input_tokens, 1000u + 100 + 300);
  EXPECT_EQ(rows[1].output_tokens, 50u);
  EXPECT_EQ(rows[1].wait_for, std::vector<std::uint64_t>{rows[0].trace_id});
  EXPECT_DOUBLE_EQ(rows[1].tool_wait_s, 2.5);
  EXPECT_EQ(rows[2].input_tokens, 1000u + 100 + 300 + 50 + 0);
  EXPECT_EQ(rows[2].output_tokens, 80u);
  EXPECT_DOUBLE_EQ(rows[2].tool_wait_s, 0.5);
  for (const auto& r : rows) {
    EXPECT_EQ(r.session_id, rows[0].session_id);
    EXPECT_EQ(r.hash_ids.size(), (r.input_tokens + 15) / 16);
  }
  // each call re-sends the previous prompt's full blocks
  for (size_t b = 0; b < 1000 / 16; ++b) EXPECT_EQ(rows[1].hash_ids[b], rows[0].hash_ids[b]);
  for (size_t b = 0; b < 1400 / 16; ++b) EXPECT_EQ(rows[2].hash_ids[b], rows[1].hash_ids[b]);

  struct Case {
    std::string line, expect;
  } cases[] = {
      {R"({"num_turns": 2, "input_prompt_length": 10, "assistant_response_length": [1], "tool_call_output_length": [1, 1], "tool_call_latency": [1, 1], "final_assistant_response_length": 5, "timestamp": 0})",
       "'assistant_response_length' has 1 values but num_turns is 2"},
      {R"({"num_turns": 1, "input_prompt_length": 10, "assistant_response_length": [1], "tool_call_output_length": [1], "tool_call_latency": [-1], "final_assistant_response_length": 5, "timestamp": 0})",
       "'tool_call_latency' holds -1; values must be at least 0"},
      {R"({"num_turns": -1, "input_prompt_length": 10, "assistant_response_length": [], "tool_call_output_length": [], "tool_call_latency": [], "final_assistant_response_length": 5, "timestamp": 0})",
       "'num_turns' must be an integer"},
      {R"({"num_turns": 1, "input_prompt_length": 10, "assistant_response_length": [1.5], "tool_call_output_length": [1], "tool_call_latency": [1], "final_assistant_response_length": 5, "timestamp": 0})",
       "must hold integers"},
      {R"({"num_turns": 1, "assistant_response_length": [1], "tool_call_output_length": [1], "tool_call_latency": [1], "final_assistant_response_length": 5, "timestamp": 0})",
       "missing field 'input_prompt_length'"},
      {R"({"num_turns": 0, "input_prompt_length": 10, "assistant_response_length": [], "tool_call_output_length": [], "tool_call_latency": [], "final_assistant_response_length": 5})",
       "set workload.closed_loop.sessions"},
  };
  for (const auto& c : cases) {
    auto bad = d.write("bad.jsonl", c.line + "\n");
    std::string e = read_error(file_workload("trie_agentic", bad));
    EXPECT_THAT(e, HasSubstr("bad.jsonl:1:")) << c.line;
    EXPECT_THAT(e, HasSubstr(c.expect)) << c.line;
  }
}

TEST(TrieAgentic, SharedPrefixRatioGivesGroupsOfSessionsACommonStart) {
  const std::string path = std::string(SERVESIM_SOURCE_DIR) + "/tests/data/trie_sessions.jsonl";
  auto w = file_workload("trie_agentic", path);
  w.hash_block_tokens = 16;
  w.closed_loop.sessions = 2;
  w.trie.shared_prefix_ratio = 0.5;
  w.trie.prefix_groups = 2;
  std::map<std::uint64_t, const TraceRequest*> first_call;
  auto rows = read_all(w);
  for (const auto& r : rows)
    if (!r.depends()) first_call[r.session_id] = &r;
  ASSERT_EQ(first_call.size(), 12u);
  std::set<std::uint64_t> heads;  // the first block of each group's prefix
  for (const auto& [s, r] : first_call) {
    const size_t shared = static_cast<size_t>(0.5 * r->input_tokens) / 16;
    heads.insert(r->hash_ids[0]);
    for (const auto& [s2, r2] : first_call) {
      if (r2->hash_ids[0] != r->hash_ids[0]) continue;  // same group: the shorter shared prefix is common
      for (size_t b = 0; b < std::min(shared, static_cast<size_t>(0.5 * r2->input_tokens) / 16); ++b)
        ASSERT_EQ(r->hash_ids[b], r2->hash_ids[b]);
    }
    EXPECT_NE(r->hash_ids[shared], r->hash_ids[0]);  // its own blocks after the shared share
  }
  EXPECT_EQ(heads.size(), 2u);
  w.trie.shared_prefix_ratio = 0;  // none: no two sessions share a block
  std::set<std::uint64_t> seen;
  for (const auto& r : read_all(w)) {
    if (r.depends()) continue;
    for (auto id : r.hash_ids) EXPECT_TRUE(seen.insert(id).second);
  }
}

TEST(MooncakeJsonl, UnsortedAndTruncatedFilesAreBadLines) {
  testing::TempDir d;
  auto p = d.write("u.jsonl",
                   "{\"timestamp\": 10, \"input_length\": 10, \"output_length\": 2}\n"
                   "{\"timestamp\": 5, \"input_length\": 10, \"output_length\": 2}\n");
  EXPECT_THAT(read_error(file_workload("mooncake_jsonl", p)), HasSubstr("u.jsonl:2: timestamp 5 ms is earlier"));
  p = d.write("t.jsonl",
              "{\"timestamp\": 10, \"input_length\": 10, \"output_length\": 2}\n"
              "{\"timestamp\": 11, \"input_len");
  std::string e = read_error(file_workload("mooncake_jsonl", p));
  EXPECT_THAT(e, HasSubstr("t.jsonl:2:"));
  EXPECT_THAT(e, HasSubstr("truncated"));
  EXPECT_THAT(read_error(file_workload("mooncake_jsonl", d.file("none.jsonl"))), HasSubstr("cannot open (No such file or directory)"));
}

TEST(MooncakeJsonl, RealConversationTrace) {
  std::string path = testing::data_file("mooncake/conversation_trace.jsonl.gz");
  auto rows = read_all(file_workload("mooncake_jsonl", path));
  ASSERT_EQ(rows.size(), 12031u);  // SOURCES.md
  std::uint64_t starts_with_zero = 0;
  for (const auto& r : rows) {
    ASSERT_EQ(r.hash_ids.size(), (r.input_tokens + 511) / 512);  // 512-token blocks, every row
    starts_with_zero += r.hash_ids.front() == 0;
  }
  EXPECT_EQ(starts_with_zero, rows.size());  // shared system prompt
  EXPECT_GT(rows.back().arrival_s, 3000.0);   // ~1 h
  EXPECT_LT(rows.back().arrival_s, 3900.0);
}

TEST(AzureCsv, ReadsRowsRelativeToFirstTimestamp) {
  testing::TempDir d;
  auto p = d.write("a.csv",
                   "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                   "2023-11-16 18:17:03.9799600,4808,10\n"
                   "2023-11-16 18:17:04.0319600,3180,8\r\n"
                   "2023-11-16 18:18:04.5,100,1\n");
  auto rows = read_all(file_workload("azure_csv", p));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_DOUBLE_EQ(rows[0].arrival_s, 0.0);
  EXPECT_NEAR(rows[1].arrival_s, 0.052, 1e-9);
  EXPECT_NEAR(rows[2].arrival_s, 60.52004, 1e-9);
  EXPECT_EQ(rows[0].input_tokens, 4808u);
  EXPECT_EQ(rows[1].output_tokens, 8u);
}

TEST(AzureCsv, BadLinesAndHeaders) {
  testing::TempDir d;
  const std::string h = "TIMESTAMP,ContextTokens,GeneratedTokens\n", ok = "2023-11-16 18:17:03.9,10,2\n";
  struct Case {
    std::string line, expect;
  } cases[] = {
      {"2023-11-16 18:17:04,10", "expected 3 comma-separated columns, got 2"},
      {"yesterday,10,2", "is not 'YYYY-MM-DD HH:MM:SS.fraction'"},
      {"2023-11-16 18:17:04,-1,2", "ContextTokens '-1' must be an integer in [1, 100000000]"},
      {"2023-11-16 18:17:04,10,x", "GeneratedTokens 'x'"},
      {"2023-11-16 18:17:01,10,2", "earlier than the previous row"},
  };
  for (const auto& c : cases) {
    auto p = d.write("b.csv", h + ok + c.line + "\n" + "2023-11-16 18:17:09,10,2\n");
    std::string e = read_error(file_workload("azure_csv", p));
    EXPECT_THAT(e, HasSubstr("b.csv:3:")) << c.line;
    EXPECT_THAT(e, HasSubstr(c.expect)) << c.line;
    auto w = file_workload("azure_csv", p);
    w.on_bad_line = "skip";
    TraceStats st;
    EXPECT_EQ(read_all(w, ".", &st).size(), 2u);
    EXPECT_EQ(st.rows_skipped, 1u);
  }
  auto p = d.write("h.csv", "time,in,out\n" + ok);
  EXPECT_THAT(read_error(file_workload("azure_csv", p)), HasSubstr("h.csv:1: header must name TIMESTAMP"));
  p = d.write("e.csv", "");
  EXPECT_THAT(read_error(file_workload("azure_csv", p)), HasSubstr("empty file"));
}

TEST(AzureCsv, RealCodeTrace) {
  std::string path = testing::data_file("azure_llm_2023/AzureLLMInferenceTrace_code.csv.gz");
  auto rows = read_all(file_workload("azure_csv", path));
  EXPECT_EQ(rows.size(), 8819u);  // SOURCES.md
  EXPECT_GT(rows.back().arrival_s, 50 * 60.0);  // ~57 min
  EXPECT_LT(rows.back().arrival_s, 60 * 60.0);
}

class KnobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string text;
    for (int i = 0; i < 10; ++i)
      text += fmt::format("{{\"timestamp\": {}, \"input_length\": {}, \"output_length\": 1}}\n", (i / 2) * 1000, i + 1);
    path_ = dir_.write("k.jsonl", text);  // two rows per second, 0..4 s
  }
  testing::TempDir dir_;
  std::string path_;
};

TEST_F(KnobsTest, RateAndTimeScale) {
  auto w = file_workload("mooncake_jsonl", path_);
  w.rate_scale = 2.0;
  auto rows = read_all(w);
  EXPECT_DOUBLE_EQ(rows.back().arrival_s, 2.0);
  w.rate_scale = 1.0;
  w.time_scale = 3.0;
  EXPECT_DOUBLE_EQ(read_all(w).back().arrival_s, 12.0);
}

TEST_F(KnobsTest, WindowAndMaxRequests) {
  auto w = file_workload("mooncake_jsonl", path_);
  w.start = Duration{1.0};
  w.end = Duration{3.0};
  TraceStats st;
  auto rows = read_all(w, ".", &st);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows.front().input_tokens, 3u);
  EXPECT_DOUBLE_EQ(rows.front().arrival_s, 0.0);  // shifted to the window start
  EXPECT_DOUBLE_EQ(rows.back().arrival_s, 1.0);
  EXPECT_EQ(st.rows_filtered, 3u);  // two before, the first one at/after the end stops reading
  w = file_workload("mooncake_jsonl", path_);
  w.max_requests = 3;
  EXPECT_EQ(read_all(w).size(), 3u);
}

TEST_F(KnobsTest, SpreadEqualTimestampsKeepsOrder) {
  auto w = file_workload("mooncake_jsonl", path_);
  w.spread_equal_timestamps = Duration{0.5};
  auto rows = read_all(w);
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_DOUBLE_EQ(rows[0].arrival_s, 0.0);
  EXPECT_DOUBLE_EQ(rows[1].arrival_s, 0.25);
  EXPECT_DOUBLE_EQ(rows[2].arrival_s, 1.0);
  w.spread_equal_timestamps = Duration{5.0};  // wider than the bin: capped at the next bin
  rows = read_all(w);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_LE(rows[i - 1].arrival_s, rows[i].arrival_s);
  EXPECT_DOUBLE_EQ(rows[1].arrival_s, 0.5);
}

WorkloadConfig synthetic(double rate, double duration_s) {
  WorkloadConfig w;
  w.synthetic.arrival.rate = rate;
  w.synthetic.duration = Duration{duration_s};
  return w;
}

double mean_gap(const std::vector<TraceRequest>& rows, double* cv) {
  std::vector<double> gaps;
  for (size_t i = 1; i < rows.size(); ++i) gaps.push_back(rows[i].arrival_s - rows[i - 1].arrival_s);
  double m = 0, v = 0;
  for (double g : gaps) m += g;
  m /= static_cast<double>(gaps.size());
  for (double g : gaps) v += (g - m) * (g - m);
  v /= static_cast<double>(gaps.size() - 1);
  if (cv) *cv = std::sqrt(v) / m;
  return m;
}

TEST(Synthetic, PoissonRateAndCv) {
  auto rows = read_all(synthetic(50, 400));  // ~20000 arrivals
  double cv;
  double m = mean_gap(rows, &cv);
  // 20000 exponential gaps: the mean is within 3 standard errors (~2%) of 1/50
  EXPECT_NEAR(m, 0.02, 0.02 * 3 / std::sqrt(20000.0));
  EXPECT_NEAR(cv, 1.0, 0.03);
}

TEST(Synthetic, GammaBurstinessAndConstant) {
  auto w = synthetic(50, 400);
  w.synthetic.arrival.process = "gamma";
  w.synthetic.arrival.cv = 3.0;
  double cv;
  double m = mean_gap(read_all(w), &cv);
  EXPECT_NEAR(m, 0.02, 0.002);
  EXPECT_NEAR(cv, 3.0, 0.2);
  w.synthetic.arrival.process = "constant";
  auto rows = read_all(w);
  EXPECT_EQ(rows.size(), 20000u);
  EXPECT_NEAR(rows[1].arrival_s - rows[0].arrival_s, 0.02, 1e-9);
}

TEST(Synthetic, StepsRampsAndDiurnalFollowTheSchedule) {
  auto w = synthetic(0, 300);
  w.synthetic.arrival.schedule = "steps";
  w.synthetic.arrival.points = {{Duration{0}, 10}, {Duration{100}, 100}, {Duration{200}, 0}};
  auto rows = read_all(w);
  size_t a = 0, b = 0, c = 0;
  for (auto& r : rows) (r.arrival_s < 100 ? a : r.arrival_s < 200 ? b : c)++;
  EXPECT_NEAR(static_cast<double>(a), 1000, 4 * std::sqrt(1000.0));
  EXPECT_NEAR(static_cast<double>(b), 10000, 4 * std::sqrt(10000.0));
  EXPECT_EQ(c, 0u);

  ArrivalConfig d;
  d.schedule = "diurnal";
  d.rate = 10;
  d.amplitude = 0.5;
  d.period = Duration{100};
  RateSchedule sched(d);
  EXPECT_NEAR(sched.cumulative(100), 1000, 1e-9);  // whole periods: the mean rate
  EXPECT_NEAR(sched.rate_at(25), 15, 1e-9);
  EXPECT_NEAR(sched.rate_at(75), 5, 1e-9);
  double y = sched.cumulative(37.5);
  EXPECT_NEAR(sched.inverse(y, 0, 100), 37.5, 1e-6);

  ArrivalConfig r;
  r.schedule = "ramps";
  r.points = {{Duration{0}, 0}, {Duration{10}, 20}};
  RateSchedule ramp(r);
  EXPECT_NEAR(ramp.cumulative(10), 100, 1e-9);
  EXPECT_NEAR(ramp.cumulative(20), 300, 1e-9);  // held at the last rate
}

TEST(Synthetic, SharedPrefixGroupsShareLeadingIds) {
  auto w = synthetic(10, 100);
  w.hash_block_tokens = 16;
  w.synthetic.prefix.groups = 3;
  w.synthetic.prefix.prefix_tokens = 64;
  w.synthetic.input_length = fixed_length(40);
  auto rows = read_all(w);
  std::set<std::vector<std::uint64_t>> prefixes;
  std::set<std::uint64_t> tails;
  for (auto& r : rows) {
    ASSERT_EQ(r.input_tokens, 104u);
    ASSERT_EQ(r.hash_ids.size(), 7u);  // ceil(104/16)
    prefixes.insert({r.hash_ids.begin(), r.hash_ids.begin() + 4});
    for (size_t i = 4; i < r.hash_ids.size(); ++i) EXPECT_TRUE(tails.insert(r.hash_ids[i]).second);
  }
  EXPECT_EQ(prefixes.size(), 3u);
}

TEST(Synthetic, SessionsResendTheirHistory) {
  auto w = synthetic(1, 200);
  w.hash_block_tokens = 16;
  w.synthetic.sessions.enabled = true;
  w.synthetic.sessions.turns = fixed_length(3);
  w.synthetic.sessions.think_time = Duration{2.0};
  w.synthetic.input_length = fixed_length(50);
  w.synthetic.output_length = fixed_length(30);
  auto rows = read_all(w);
  std::map<std::uint64_t, std::vector<const TraceRequest*>> by_session;
  for (auto& r : rows) by_session[r.session_id].push_back(&r);
  int checked = 0;
  for (auto& [id, turns] : by_session) {
    if (turns.size() < 2) continue;
    const auto &t1 = *turns[0], &t2 = *turns[1];
    EXPECT_EQ(t2.input_tokens, t1.input_tokens + t1.output_tokens + 50);
    // every full block of turn 1's prompt is reused by turn 2
    for (size_t i = 0; i < t1.input_tokens / 16; ++i) EXPECT_EQ(t2.hash_ids[i], t1.hash_ids[i]);
    EXPECT_NE(t2.hash_ids[t1.input_tokens / 16], t1.hash_ids[t1.input_tokens / 16]);
    EXPECT_EQ(t2.hash_ids.size(), (t2.input_tokens + 15) / 16u);
    ++checked;
  }
  EXPECT_GT(checked, 100);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_LE(rows[i - 1].arrival_s, rows[i].arrival_s);
}

TEST(Synthetic, SameSeedSameTraceOtherSeedOtherTrace) {
  auto w = synthetic(20, 50);
  w.synthetic.input_length.dist = "lognormal";
  w.synthetic.input_length.std = 300;
  auto a = read_all(w), b = read_all(w);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].arrival_s, b[i].arrival_s);
    EXPECT_EQ(a[i].input_tokens, b[i].input_tokens);
  }
  TraceContext ctx{w, ".", 8};
  auto other = make_trace_source(ctx)->next();
  EXPECT_NE(other->arrival_s, a[0].arrival_s);
}

TEST(Synthetic, LengthDistributions) {
  auto w = synthetic(100, 200);
  auto& in = w.synthetic.input_length;
  in.dist = "lognormal";
  in.mean = 1000;
  in.std = 500;
  double sum = 0;
  auto rows = read_all(w);
  for (auto& r : rows) sum += r.input_tokens;
  EXPECT_NEAR(sum / static_cast<double>(rows.size()), 1000, 20);
  in.dist = "uniform";
  in.min = 10;
  in.max = 20;
  std::set<std::uint32_t> seen;
  for (auto& r : read_all(w)) seen.insert(r.input_tokens);
  EXPECT_EQ(*seen.begin(), 10u);
  EXPECT_EQ(*seen.rbegin(), 20u);
  EXPECT_EQ(seen.size(), 11u);
}

TEST(Synthetic, EmpiricalLengthsFromARealTrace) {
  std::string path = testing::data_file("azure_llm_2023/AzureLLMInferenceTrace_code.csv.gz");
  auto w = synthetic(100, 100);
  w.synthetic.output_length.dist = "empirical";
  w.synthetic.output_length.path = path;
  w.synthetic.output_length.format = "azure_csv";
  w.synthetic.output_length.field = "output";
  auto src_rows = read_all(file_workload("azure_csv", path));
  std::set<std::uint32_t> real;
  for (auto& r : src_rows) real.insert(r.output_tokens);
  for (auto& r : read_all(w)) EXPECT_TRUE(real.count(r.output_tokens));
}

long peak_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr long kStreamLines = 1'000'000;  // ASan's quarantine makes RSS meaningless; check it streams
#else
constexpr long kStreamLines = 10'000'000;
#endif

TEST(Streaming, TenMillionLinesInBoundedMemory) {
  testing::TempDir d;
  std::string fifo = d.file("trace.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {
    std::ofstream out(fifo);
    std::string line;
    for (long i = 0; i < kStreamLines; ++i) {
      line = fmt::format("{{\"timestamp\": {}, \"input_length\": 600, \"output_length\": 20, \"hash_ids\": [{}, {}]}}\n",
                         i, i, i + 1);
      out << line;
    }
  });
  auto w = file_workload("mooncake_jsonl", fifo);
  TraceContext ctx{w, ".", 1};
  auto src = make_trace_source(ctx);
  long n = 0, rss_at_1m = 0;
  std::uint64_t checksum = 0;
  while (auto r = src->next()) {
    checksum += r->hash_ids[1];
    if (++n == 1'000'000) rss_at_1m = peak_rss_kb();
  }
  writer.join();
  EXPECT_EQ(n, kStreamLines);
  EXPECT_EQ(checksum, static_cast<std::uint64_t>(kStreamLines) * (kStreamLines + 1) / 2);
#if !defined(__SANITIZE_ADDRESS__)
  // reading 9M more lines must not grow the peak resident set (slack for allocator noise)
  EXPECT_LT(peak_rss_kb() - rss_at_1m, 8 * 1024) << "peak RSS grew with the trace's length";
#else
  (void)rss_at_1m;  // ASan's shadow memory makes the resident set meaningless here
#endif
}

}  // namespace
}  // namespace servesim
