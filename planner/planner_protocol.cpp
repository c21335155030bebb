#include "planner/planner_protocol.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cmath>

#include "core/error.h"
#include "core/json_text.h"

namespace servesim {

namespace {

std::string str(std::string_view s) { return "\"" + json_escape(s) + "\""; }
std::string num(double v) { return json_number(v); }
std::string seconds(TimeNs t) { return json_number(ns_to_exact_s(t)); }

}  // namespace

std::string planner_hello(const PlannerScope& s) {
  std::string pools;
  for (const auto& p : s.pools) {
    if (!pools.empty()) pools += ',';
    pools += fmt::format(
        R"({{"name":{},"role":{},"model":{},"gpu":{},"gpus_per_worker":{},"replicas":{},"min_replicas":{},"max_replicas":{}}})",
        str(p.name), str(p.role), str(p.model), str(p.gpu), p.gpus_per_worker(), p.replicas, p.lifecycle.min_replicas,
        worker_slots(p));
  }
  const auto& pl = s.planner;
  return fmt::format(
      R"({{"type":"hello","version":{},"seed":{},"adjustment_interval_s":{},"scrape_delay_s":{},"gpu_budget":{},)"
      R"("slo":{{"ttft_s":{},"itl_s":{}}},"pools":[{}],)"
      R"("queries":["prefill_tokens_per_s","decode_tokens_per_s","expected_ttft_s","expected_itl_s"]}})",
      kPlannerProtocolVersion, s.seed, num(pl.adjustment_interval.seconds), num(pl.scrape_delay.seconds),
      pl.gpu_budget ? std::to_string(*pl.gpu_budget) : "null", num(s.slo.ttft.seconds), num(s.slo.itl.seconds), pools);
}

std::string planner_observation(std::uint64_t tick, TimeNs now, const PlannerObservation& o) {
  std::string pools;
  for (const auto& p : o.pools) {
    if (!pools.empty()) pools += ',';
    const char* role = p.role == WorkerRole::kPrefill ? "prefill" : p.role == WorkerRole::kDecode ? "decode" : "aggregated";
    pools += fmt::format(
        R"({{"name":{},"role":"{}","gpus_per_worker":{},"ready":{},"starting":{},"draining":{},"failed":{},)"
        R"("target":{},"min_replicas":{},"max_replicas":{},"queued":{},"queued_per_worker":{},)"
        R"("running_per_worker":{},"kv_usage":{}}})",
        str(p.name), role, p.tp, p.ready, p.starting, p.draining, p.failed, p.target, p.min_replicas, p.max_replicas,
        num(p.waiting), num(p.waiting_per_worker), num(p.running_per_worker), num(p.kv_usage));
  }
  std::string workers;
  for (const auto& w : o.workers) {
    if (!workers.empty()) workers += ',';
    workers += fmt::format(
        R"({{"name":{},"pool":{},"state":"{}","iterations":{},"prefill_tokens":{},"decode_tokens":{},)"
        R"("queued":{},"running":{},"kv_usage":{}}})",
        str(w.name), w.pool, w.state, num(w.iterations), num(w.prefill_tokens), num(w.decode_tokens), num(w.waiting),
        num(w.running), num(w.kv_usage));
  }
  return fmt::format(
      R"({{"type":"observation","version":{},"tick":{},"time_s":{},"window_end_s":{},"interval_s":{},)"
      R"("traffic":{{"requests":{},"completions":{},"mean_isl":{},"mean_osl":{},)"
      R"("ttft_s":{{"mean":{},"p50":{},"p90":{},"p99":{}}},"itl_s":{{"mean":{},"p50":{},"p90":{},"p99":{}}},)"
      R"("output_tokens_per_s":{},"prefix_hit_rate":{},"slo_attainment":{},"rejected":{},"router_queued":{},)"
      R"("spec_acceptance_length":{}}},)"
      R"("gpus_in_use":{},"gpu_budget":{},"power_in_use_w":{},"power_budget_w":{},"pools":[{}]{}}})",
      kPlannerProtocolVersion, tick, seconds(now), seconds(o.window_end_ns), num(o.interval_s),
      num(o.requests), num(o.completions), num(o.mean_isl), num(o.mean_osl), num(o.ttft_mean_s), num(o.ttft_p50_s),
      num(o.ttft_p90_s), num(o.ttft_p99_s), num(o.itl_mean_s), num(o.itl_p50_s), num(o.itl_p90_s), num(o.itl_p99_s),
      num(o.output_tokens_per_s), num(o.prefix_hit_rate), num(o.slo_attainment), num(o.rejected),
      num(o.router_queued), num(o.spec_acceptance_length), o.gpus_in_use,
      o.gpu_budget >= 0 ? std::to_string(o.gpu_budget) : "null", num(o.power_in_use_w), num(o.power_budget_w), pools,
      o.workers.empty() ? "" : ",\"workers\":[" + workers + "]");
}

std::string planner_answers(const std::vector<double>& values) {
  std::string out = R"({"type":"answers","values":[)";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + num(values[i]);
  return out + "]}";
}

std::string planner_bye() { return fmt::format(R"({{"type":"bye","version":{}}})", kPlannerProtocolVersion); }

namespace {

[[noreturn]] void fail(const std::string& what, std::string_view line) {
  throw InputError(fmt::format("external planner: {}; its reply was {} (docs/planner_protocol.md)", what,
                               quote_text(line, 300)));
}

simdjson::dom::object parse_object(simdjson::dom::parser& parser, std::string_view line) {
  simdjson::dom::element doc;
  if (auto err = parser.parse(line.data(), line.size()).get(doc))
    fail(fmt::format("the reply is not JSON ({})", simdjson::error_message(err)), line);
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) fail("the reply is not a JSON object", line);
  return obj;
}

std::string_view type_of(const simdjson::dom::object& obj, std::string_view line) {
  std::string_view type;
  if (obj["type"].get_string().get(type)) fail("the reply has no \"type\" string", line);
  return type;
}

size_t pool_index(const PlannerScope& s, std::string_view name, std::string_view line) {
  std::string names;
  for (size_t i = 0; i < s.pools.size(); ++i) {
    if (s.pools[i].name == name) return i;
    names += (i ? ", " : "") + s.pools[i].name;
  }
  fail(fmt::format("no pool is named '{}' (the pools are: {})", name, names), line);
}

double number(const simdjson::dom::object& q, const char* key, size_t k, std::string_view line) {
  double v = 0;
  if (q[key].get_double().get(v)) fail(fmt::format("query {} needs a number \"{}\"", k, key), line);
  return v;
}

}  // namespace

void check_planner_hello(std::string_view line) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj = parse_object(parser, line);
  if (type_of(obj, line) != "hello") fail("the answer to hello must have \"type\": \"hello\"", line);
  std::int64_t version = 0;
  if (obj["version"].get_int64().get(version) || version != kPlannerProtocolVersion)
    fail(fmt::format("the planner must speak protocol version {} (\"version\": {})", kPlannerProtocolVersion,
                     kPlannerProtocolVersion),
         line);
}

PlannerReply parse_planner_reply(std::string_view line, const PlannerScope& s) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj = parse_object(parser, line);
  const std::string_view type = type_of(obj, line);
  PlannerReply reply;
  if (type == "query") {
    simdjson::dom::array queries;
    if (obj["queries"].get_array().get(queries)) fail("a query reply needs a \"queries\" array", line);
    size_t k = 0;
    for (simdjson::dom::element e : queries) {
      simdjson::dom::object q;
      if (e.get_object().get(q)) fail(fmt::format("query {} is not an object", k), line);
      std::string_view op, pool;
      if (q["op"].get_string().get(op)) fail(fmt::format("query {} needs an \"op\" string", k), line);
      if (q["pool"].get_string().get(pool)) fail(fmt::format("query {} needs a \"pool\" name", k), line);
      CapacityQuery c;
      c.pool = pool_index(s, pool, line);
      using Op = CapacityQuery::Op;
      if (op == "prefill_tokens_per_s") c = {Op::kPrefillTokensPerS, c.pool, number(q, "isl", k, line), number(q, "ttft_s", k, line)};
      else if (op == "decode_tokens_per_s") c = {Op::kDecodeTokensPerS, c.pool, number(q, "context", k, line), number(q, "itl_s", k, line)};
      else if (op == "expected_ttft_s") c = {Op::kExpectedTtftS, c.pool, number(q, "isl", k, line), 0};
      else if (op == "expected_itl_s") c = {Op::kExpectedItlS, c.pool, number(q, "concurrency", k, line), number(q, "context", k, line)};
      else
        fail(fmt::format("query {} asks for '{}'; the queries are prefill_tokens_per_s, decode_tokens_per_s, "
                         "expected_ttft_s, expected_itl_s", k, op), line);
      if (!(c.a >= 0) || !(c.b >= 0) || !std::isfinite(c.a) || !std::isfinite(c.b))
        fail(fmt::format("query {} has a negative or non-finite argument", k), line);
      reply.queries.push_back(c);
      ++k;
    }
    if (reply.queries.empty()) fail("a query reply needs at least one query", line);
    return reply;
  }
  if (type != "decision") fail(fmt::format("\"type\" is '{}'; a reply is \"decision\" or \"query\"", type), line);
  simdjson::dom::object pools;
  if (obj["pools"].get_object().get(pools)) fail("a decision needs a \"pools\" object (pool name -> replicas)", line);
  reply.decisions.resize(s.pools.size());
  size_t first_worker = 0;
  std::vector<size_t> offsets;
  for (const auto& p : s.pools) offsets.push_back(first_worker), first_worker += static_cast<size_t>(worker_slots(p));
  for (auto [key, value] : pools) {
    const size_t i = pool_index(s, key, line);
    const auto& pool = s.pools[i];
    PoolDecision d;
    simdjson::dom::object body;
    simdjson::dom::element replicas = value;
    const bool is_object = value.get_object().get(body) == simdjson::SUCCESS;
    if (is_object && body["replicas"].get(replicas))
      fail(fmt::format("pool '{}' needs \"replicas\"", pool.name), line);
    std::int64_t n = 0;
    if (replicas.get_int64().get(n))
      fail(fmt::format("pool '{}': replicas must be an integer", pool.name), line);
    if (n < pool.lifecycle.min_replicas || n > worker_slots(pool))
      fail(fmt::format("pool '{}': replicas {} is outside {}..{} (its lifecycle.min_replicas..max_replicas)", pool.name,
                       n, pool.lifecycle.min_replicas, worker_slots(pool)),
           line);
    d.target = static_cast<int>(n);
    if (is_object) {
      simdjson::dom::array drain;
      if (body["drain"].get_array().get(drain) == simdjson::SUCCESS)
        for (simdjson::dom::element w : drain) {
          std::string_view name;
          if (w.get_string().get(name)) fail(fmt::format("pool '{}': drain lists worker names", pool.name), line);
          int k = 0;
          while (k < worker_slots(pool) && worker_name(pool, k) != name) ++k;
          if (k == worker_slots(pool))
            fail(fmt::format("pool '{}' has no worker '{}' (its workers are {}..{})", pool.name, name,
                             worker_name(pool, 0), worker_name(pool, worker_slots(pool) - 1)),
                 line);
          d.drain.push_back(static_cast<std::int32_t>(offsets[i] + static_cast<size_t>(k)));
        }
      std::int64_t proposed = 0;
      if (body["proposed"].get_int64().get(proposed) == simdjson::SUCCESS) d.proposed = static_cast<int>(proposed);
      double v = 0;
      if (body["capacity_req_per_s"].get_double().get(v) == simdjson::SUCCESS) d.capacity_req_per_s = v;
      if (body["correction"].get_double().get(v) == simdjson::SUCCESS) d.correction = v;
    }
    if (reply.decisions[i]) fail(fmt::format("pool '{}' is decided twice", pool.name), line);
    reply.decisions[i] = std::move(d);
  }
  return reply;
}

}  // namespace servesim
