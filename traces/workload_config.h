#pragma once
// The workload section of a scenario: a trace file or a generator, with every knob that shapes
// the requests it yields. Each struct's `visit` declares its keys, defaults, ranges and docs.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/units.h"

namespace servesim {

using config::at_least;
using config::between;
using config::one_of;
using config::positive;

// A token-length distribution (prompt or output lengths), in tokens.
struct LengthDistConfig {
  std::string dist = "fixed";  // fixed | uniform | normal | lognormal | exponential | empirical
  double value = 512;          // fixed
  double min = 1;              // uniform lower bound; lower clamp for all
  double max = 1'000'000;      // uniform upper bound; upper clamp for all
  double mean = 512;           // normal, lognormal
  double std = 0;              // normal, lognormal
  std::string path;            // empirical: a trace file to sample lengths from
  std::string format = "mooncake_jsonl";  // empirical: that file's trace format
  std::string field = "input";            // empirical: input | output

  template <class V>
  void visit(V& v) {
    v.field("dist", dist, "fixed | uniform | normal | lognormal | exponential | empirical",
            one_of({"fixed", "uniform", "normal", "lognormal", "exponential", "empirical"}));
    v.field("value", value, "tokens, for dist=fixed", at_least(0));
    v.field("min", min, "tokens; uniform lower bound and lower clamp", at_least(0));
    v.field("max", max, "tokens; uniform upper bound and upper clamp", at_least(1));
    v.field("mean", mean, "tokens, for normal/lognormal/exponential", at_least(0));
    v.field("std", std, "tokens, for normal/lognormal", at_least(0));
    v.field("path", path, "trace file, for dist=empirical");
    v.field("format", format, "trace format of that file, for dist=empirical");
    v.field("field", field, "input | output, for dist=empirical", one_of({"input", "output"}));
  }
};

inline LengthDistConfig fixed_length(double tokens) {
  LengthDistConfig d;
  d.value = tokens;
  return d;
}

// One point of a piecewise arrival-rate schedule.
struct RatePoint {
  Duration at;
  double rate = 0;  // requests per second
  template <class V>
  void visit(V& v) {
    v.field("at", at, "time from the start of the workload", at_least(0));
    v.field("rate", rate, "requests per second from this point", at_least(0));
  }
};

struct ArrivalConfig {
  std::string process = "poisson";  // poisson | gamma | constant
  double rate = 1.0;                // requests/s when no schedule is given
  double cv = 1.0;                  // gamma: coefficient of variation of inter-arrival times
  std::string schedule = "none";    // none | steps | ramps | diurnal
  std::vector<RatePoint> points;    // steps / ramps
  double amplitude = 0.5;           // diurnal: rate = rate * (1 + amplitude * sin(...))
  Duration period{86400.0};         // diurnal
  Duration phase{0.0};              // diurnal: time of the rising zero crossing

  template <class V>
  void visit(V& v) {
    v.field("process", process, "inter-arrival process: poisson | gamma | constant",
            one_of({"poisson", "gamma", "constant"}));
    v.field("rate", rate, "requests per second (the base rate for diurnal)", at_least(0));
    v.field("cv", cv, "gamma: coefficient of variation of inter-arrival times (1 = Poisson)",
            positive());
    v.field("schedule", schedule, "rate over time: none | steps | ramps | diurnal",
            one_of({"none", "steps", "ramps", "diurnal"}));
    v.field("points", points, "steps/ramps: list of {at, rate}");
    v.field("amplitude", amplitude, "diurnal: relative swing of the rate, 0..1", between(0, 1));
    v.field("period", period, "diurnal: period", config::greater_than(0));
    v.field("phase", phase, "diurnal: time shift of the sine");
  }
};

struct PrefixGroupsConfig {
  int groups = 0;         // 0 = no shared prefixes
  int prefix_tokens = 0;  // tokens of the shared prefix prepended to every prompt of a group
  template <class V>
  void visit(V& v) {
    v.field("groups", groups, "number of shared-prefix groups (0 = off)", at_least(0));
    v.field("prefix_tokens", prefix_tokens, "tokens of each group's shared prefix", at_least(0));
  }
};

struct SessionsConfig {
  bool enabled = false;
  LengthDistConfig turns = fixed_length(1);  // turns per session
  Duration think_time{5.0};                             // mean gap between turns (exponential)
  Duration min_think_time{0.0};                         // added to every gap
  template <class V>
  void visit(V& v) {
    v.field("enabled", enabled, "multi-turn sessions: each turn re-sends the whole history");
    v.field("turns", turns, "turns per session (a length distribution)");
    v.field("think_time", think_time, "mean of the exponential part of the gap between a session's turns",
            at_least(0));
    v.field("min_think_time", min_think_time, "fixed part of every gap between turns (a user's reading time)",
            at_least(0));
  }
};

// Agent sessions: the turns of a session (sessions.turns) are an agent's model calls. After each
// call the agent either calls a tool (the next call waits the tool's time and re-sends the tool's
// output), fans out to sub-agents (each a call on the context so far, after a tool wait; the next
// call joins them all and re-sends their answers), or hands back to its user (a think time and a
// new message, as plain sessions). Every session starts from one shared system prompt.
struct AgentConfig {
  bool enabled = false;
  int system_prompt_tokens = 0;
  double tool_probability = 0.5;
  Duration tool_time{2.0};
  Duration min_tool_time{0.0};
  LengthDistConfig tool_output_length = fixed_length(200);
  double fanout_probability = 0.0;
  LengthDistConfig fanout = fixed_length(4);
  LengthDistConfig subagent_input_length = fixed_length(500);
  template <class V>
  void visit(V& v) {
    v.field("enabled", enabled, "sessions are agents: tool calls, sub-agent fan-out and join (needs sessions.enabled)");
    v.field("system_prompt_tokens", system_prompt_tokens,
            "tokens of the system prompt every agent session starts with (the same blocks in all)", at_least(0));
    v.field("tool_probability", tool_probability,
            "after a call, the chance the agent calls a tool (else it fans out or hands back to the user)",
            between(0, 1));
    v.field("tool_time", tool_time, "mean of the exponential part of a tool call's time", at_least(0));
    v.field("min_tool_time", min_tool_time, "fixed part of every tool call's time", at_least(0));
    v.field("tool_output_length", tool_output_length, "tokens a tool returns, re-sent in the next call");
    v.field("fanout_probability", fanout_probability,
            "after a call, the chance the agent fans out to sub-agents (checked before tool_probability)",
            between(0, 1));
    v.field("fanout", fanout, "sub-agents per fan-out (a length distribution of counts)");
    v.field("subagent_input_length", subagent_input_length,
            "tokens of a sub-agent's own task, after the parent's context");
  }
};

// One entry of a synthetic mix (models, SLO classes): its share of the requests (a session keeps
// one throughout).
struct ShareConfig {
  std::string name;
  double weight = 1;
  template <class V>
  void visit(V& v) {
    v.field("name", name, "a pool's model or LoRA adapter, or an SLO class's name");
    v.field("weight", weight, "relative share of requests (sessions)", positive());
  }
};

// Requests for a model with LoRA adapters: the share that names one, and which.
struct SyntheticLoraConfig {
  double fraction = 0;                  // of the requests (sessions) for a model with adapters
  std::string popularity = "uniform";  // uniform | zipf, over the model's adapters in declaration order
  double zipf_s = 1.0;
  template <class V>
  void visit(V& v) {
    v.field("fraction", fraction,
            "share of the requests (sessions) for a model with LoRA adapters that name one of them",
            config::between(0, 1));
    v.field("popularity", popularity,
            "which adapter: uniform | zipf (the k-th declared adapter in proportion to 1/k^zipf_s)",
            config::one_of({"uniform", "zipf"}));
    v.field("zipf_s", zipf_s, "zipf: the exponent", config::positive());
  }
};

struct SyntheticConfig {
  ArrivalConfig arrival;
  LengthDistConfig input_length;
  LengthDistConfig output_length = fixed_length(128);
  Duration duration{60.0};  // how long to generate arrivals
  PrefixGroupsConfig prefix;
  SessionsConfig sessions;
  AgentConfig agent;
  std::vector<ShareConfig> models;
  std::vector<ShareConfig> slo_classes;
  SyntheticLoraConfig lora;
  template <class V>
  void visit(V& v) {
    v.field("arrival", arrival, "arrival process and rate schedule");
    v.field("input_length", input_length, "prompt length distribution (tokens)");
    v.field("output_length", output_length, "output length distribution (tokens)");
    v.field("duration", duration, "length of the generated workload", positive());
    v.field("prefix", prefix, "shared-prefix groups");
    v.field("sessions", sessions, "multi-turn sessions");
    v.field("agent", agent, "agent sessions: tool calls, sub-agents, a shared system prompt");
    v.field("models", models,
            "the models requests ask for, as a list of {name, weight} (empty = every request for the first "
            "pool's model)");
    v.field("slo_classes", slo_classes,
            "the SLO classes requests belong to, as a list of {name, weight} naming slo.classes (empty = none: "
            "the default targets)");
    v.field("lora", lora, "requests naming one of their model's LoRA adapters (pools' lora.adapters)");
  }
};

// Closed loop, as benchmark clients (AIPerf, genai-perf) run: a fixed number of requests in
// flight; each that ends starts the next after a think time. Trace timestamps are ignored.
struct ClosedLoopConfig {
  int concurrency = 0;  // 0 = open loop (arrivals at the trace's times)
  Duration think_time{0.0};
  Duration ramp{0.0};
  std::string ramp_phases = "even";
  Duration desync{0.0};
  int sessions = 0;  // 0 = sessions start at their trace times
  template <class V>
  void visit(V& v) {
    v.field("concurrency", concurrency,
            "requests kept in flight (0 = open loop: arrivals at the trace's or generator's times)", at_least(0));
    v.field("think_time", think_time, "closed loop: from a request's end to the next one's start", at_least(0));
    v.field("ramp", ramp,
            "closed loop: the first `concurrency` requests start evenly spread over this span (0 = all at once). "
            "Real clients drift out of lockstep; a ramp of one request's duration starts in that steady state",
            at_least(0));
    v.field("ramp_phases", ramp_phases,
            "closed loop: start times over the ramp: even (evenly spaced) | random (uniform, from the seed)",
            one_of({"even", "random"}));
    v.field("desync", desync,
            "closed loop: the requests that follow the first `concurrency` to end each wait a further uniform "
            "random delay in [0, desync): a burst start (as benchmark clients do) that then drifts out of "
            "lockstep, as real clients do (0 = never)",
            at_least(0));
    v.field("sessions", sessions,
            "sessions kept in flight (0 = each session starts at its trace time): a session's first request "
            "starts, in trace order, as soon as fewer sessions are live, ignoring its timestamp; its later "
            "requests wait for their predecessors as the trace says (as replay tools' session concurrency does)",
            at_least(0));
  }
};

// The TRIE agentic format gives lengths only: the prompt blocks it implies are generated, each
// session's own, except a leading share of the first prompt common to a group of sessions.
struct TrieConfig {
  double shared_prefix_ratio = 0;  // of each session's input_prompt_length
  int prefix_groups = 1;
  template <class V>
  void visit(V& v) {
    v.field("shared_prefix_ratio", shared_prefix_ratio,
            "share of each session's input_prompt_length that is a prefix common to its group (0 = none)",
            between(0, 1));
    v.field("prefix_groups", prefix_groups, "groups of sessions sharing a prefix (sessions join them at random)",
            at_least(1));
  }
};

struct WorkloadConfig {
  std::string source = "synthetic";  // a registered trace format or generator
  std::string path;                  // file sources
  std::string on_bad_line = "fail";  // fail | skip
  int hash_block_tokens = 512;       // tokens per hash id in the trace
  double rate_scale = 1.0;           // >1 compresses arrivals (more req/s)
  double time_scale = 1.0;           // multiplies every timestamp
  Duration start{0.0};               // trace-time window start
  std::optional<Duration> end;       // trace-time window end
  std::optional<std::int64_t> max_requests;
  Duration spread_equal_timestamps{0.0};  // spread rows sharing a timestamp over this span
  std::optional<Duration> graph_horizon = Duration{3600.0};  // null = the reader forgets no session or row name
  SyntheticConfig synthetic;
  ClosedLoopConfig closed_loop;
  TrieConfig trie;

  template <class V>
  void visit(V& v) {
    v.field("source", source, "trace format or generator (servesim --list)");
    v.field("path", path, "trace file for file formats (relative to the scenario file)");
    v.field("on_bad_line", on_bad_line, "malformed trace line: fail | skip (and count)",
            one_of({"fail", "skip"}));
    v.field("hash_block_tokens", hash_block_tokens, "tokens covered by each hash id", at_least(1));
    v.field("rate_scale", rate_scale, "multiplies the arrival rate (divides timestamps)", positive());
    v.field("time_scale", time_scale, "multiplies timestamps", positive());
    v.field("start", start, "skip trace rows before this trace time", at_least(0));
    v.field("end", end, "skip trace rows from this trace time on (null = no end)", at_least(0));
    v.field("max_requests", max_requests, "stop after this many requests (null = all)", at_least(1));
    v.field("spread_equal_timestamps", spread_equal_timestamps,
            "spread rows that share a timestamp evenly over this span (quantised traces)",
            at_least(0));
    v.field("graph_horizon", graph_horizon,
            "sessions and request graphs in trace files: a session with no row for this long (trace time, as the "
            "file gives it) is forgotten (a later row with its id starts a new session), and a row may wait only "
            "for rows read within this span before it, so memory follows the sessions active in the span, not the "
            "trace's length (null = keep every session and row name)",
            config::greater_than(0));
    v.field("synthetic", synthetic, "generator settings, for source=synthetic");
    v.field("closed_loop", closed_loop, "a fixed concurrency instead of timed arrivals (benchmark clients)");
    v.field("trie", trie, "for source=trie_agentic: synthesized prefixes shared across sessions");
  }
};

}  // namespace servesim
