#pragma once
// The router section of a scenario: policy, KV indexer, load source and disaggregation rules.
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

// Admission control at the router, as gateways with flow control do: a worker holding
// `max_inflight_per_worker` routed requests takes no more; a request no worker of its model can
// take waits in the router's queue (in arrival or priority order) and is rejected when the queue
// is full (`max_queue`) or it has waited `max_wait`.
// A token bucket on one model's requests: `requests_per_s` sustained, `burst` at once; a request
// finding the bucket empty is rejected (reason rate_limited).
struct RateLimitConfig {
  std::string model;
  double requests_per_s = 1;
  double burst = 1;
  template <class V>
  void visit(V& v) {
    v.field("model", model,
            "the model whose requests the bucket limits (a pool's model), or a LoRA adapter (a tenant): its requests "
            "then take from its own bucket only");
    v.field("requests_per_s", requests_per_s, "sustained rate the bucket admits", config::greater_than(0));
    v.field("burst", burst, "bucket size: requests admitted at once after a quiet spell", at_least(1));
  }
};

struct AdmissionConfig {
  std::vector<RateLimitConfig> rate_limits;
  std::optional<int> max_inflight_per_worker;
  std::optional<int> max_queue;
  std::optional<Duration> max_wait;
  std::string order = "fifo";
  template <class V>
  void visit(V& v) {
    v.field("rate_limits", rate_limits,
            "token buckets, each {model, requests_per_s, burst}: a model's requests beyond its rate are rejected "
            "on arrival (reason rate_limited)");
    v.field("max_inflight_per_worker", max_inflight_per_worker,
            "requests a worker may hold (routed, not ended) before the router holds new ones back (null = no limit)",
            at_least(1));
    v.field("max_queue", max_queue,
            "requests the router holds per model; more are rejected (reason queue_full; null = no limit, 0 = reject "
            "whatever cannot be routed at once)",
            at_least(0));
    v.field("max_wait", max_wait, "a held request is rejected after this long (reason queue_timeout; null = never)",
            config::greater_than(0));
    v.field("order", order,
            "which held request goes first: fifo (arrival order) | priority (lowest `priority` first, then arrival; "
            "the lowest is shed first when the queue is full)",
            one_of({"fifo", "priority"}));
  }
};

struct RouterConfig {
  std::string policy = "round_robin";
  double overlap_score_weight = 1.0;
  double router_temperature = 0.0;
  double host_overlap_weight = 0.5;
  double storage_overlap_weight = 0;
  std::string indexer = "events";  // events | approximate
  std::string index_store = "auto";  // auto | table
  Duration kv_event_latency{0.0};
  Duration approx_ttl{120.0};
  std::string load_source = "router";  // router | reports
  Duration load_report_interval{1.0};
  Duration load_report_latency{0.0};
  int max_local_prefill_length = 0;
  std::optional<int> max_prefill_queue;
  AdmissionConfig admission;
  bool lora_affinity = true;
  int lora_affinity_max_seqs = 128;
  template <class V>
  void visit(V& v) {
    v.field("policy", policy, "routing policy (servesim --list)");
    v.field("overlap_score_weight", overlap_score_weight,
            "kv_aware: weight of the blocks to prefill against the worker's active blocks", at_least(0));
    v.field("router_temperature", router_temperature,
            "kv_aware: 0 picks the cheapest worker; > 0 samples a softmax over normalised costs", at_least(0));
    v.field("host_overlap_weight", host_overlap_weight,
            "kv_aware, workers with pools[].kv_offload: a prompt block a worker holds in host memory counts as this "
            "fraction of one cached on its GPU (0 ignores host hits, 1 counts them fully; 0.5: the prefill is saved "
            "but the request waits for the load over PCIe and the block takes GPU memory again)",
            between(0, 1));
    v.field("storage_overlap_weight", storage_overlap_weight,
            "kv_aware, with kv_storage: a prompt block a worker could fetch from its node's disk or remote storage, "
            "after its GPU and host hits, counts as this fraction of one cached on its GPU (0, the default: the "
            "shared tiers are ignored; the router reads their contents directly, as a KV store's lookup answers, "
            "not through KV events)",
            between(0, 1));
    v.field("indexer", indexer,
            "what feeds the prefix indexer: events (workers' KV events) | approximate (own decisions, with a TTL)",
            one_of({"events", "approximate"}));
    v.field("index_store", index_store,
            "indexer events: how the router keeps what the events say, with the same answers either way (an "
            "implementation choice, for speed): auto (with no kv_event_latency, read each worker's own prefix cache, "
            "undoing the events not yet delivered, where every worker has one prefix cache of the router's block "
            "size and no worker's attention-DP ranks are routed; else, and for a worker whose engine restarts, a "
            "table) | table (a key -> workers table, every event applied to it)",
            one_of({"auto", "table"}));
    v.field("kv_event_latency", kv_event_latency, "delay of KV events from a worker to the router", at_least(0));
    v.field("approx_ttl", approx_ttl, "approximate indexer: how long a routed prefix is assumed cached",
            config::greater_than(0));
    v.field("load_source", load_source,
            "worker load the router sees: router (its own bookkeeping) | reports (periodic worker reports)",
            one_of({"router", "reports"}));
    v.field("load_report_interval", load_report_interval, "reports: interval of worker load reports",
            config::greater_than(0));
    v.field("load_report_latency", load_report_latency, "reports: delay of a load report", at_least(0));
    v.field("max_local_prefill_length", max_local_prefill_length,
            "disaggregated: a decode worker prefills a prompt itself when its uncached part is shorter than this "
            "(tokens; 0 = always remote)",
            at_least(0));
    v.field("max_prefill_queue", max_prefill_queue,
            "disaggregated: prefill locally on the decode worker while more than this many requests wait for or "
            "run prefill on the prefill pools (null = no limit)",
            at_least(0));
    v.field("admission", admission, "admission control: per-worker limits, the router's queue and its timeouts");
    v.field("lora_affinity", lora_affinity,
            "a request naming a LoRA adapter goes, by the policy's choice, among the workers the router last sent "
            "that adapter (it assumes their max_loras most recent adapters resident), else among those with a "
            "slot it has not filled yet, else among all serving it (llm-d's LoRA affinity filter)");
    v.field("lora_affinity_max_seqs", lora_affinity_max_seqs,
            "lora_affinity: a worker with at least this many requests in flight leaves the affinity group (as "
            "llm-d's queueing threshold for LoRA, 128)",
            at_least(1));
  }
};

}  // namespace servesim
