#include "live/gateway.h"

#include "live/tokenizer.h"

namespace servesim::live {

namespace {
constexpr TimeNs kAbortRetryNs = 5'000'000;  // an abort that found no engine holding it yet tries again
}

Inbox::Inbox() : sc_core::sc_prim_channel(sc_core::sc_gen_unique_name("live_inbox")) {}

void Inbox::post(Command c) {
  {
    std::lock_guard lock(mu_);
    commands_.push_back(std::move(c));
  }
  async_request_update();
}

std::vector<Inbox::Command> Inbox::take() {
  std::lock_guard lock(mu_);
  return std::exchange(commands_, {});
}

Gateway::Gateway(sc_core::sc_module_name name, std::uint32_t hash_block_tokens, double speedup)
    : sc_core::sc_module(name), hash_block_tokens_(hash_block_tokens), speedup_(speedup) {
  SC_METHOD(on_commands);
  sensitive << inbox_.event();
  dont_initialize();
  SC_METHOD(retry_aborts);
  sensitive << abort_tick_;
  dont_initialize();
}

void Gateway::on_commands() {
  for (Inbox::Command& c : inbox_.take()) {
    if (!c.submit) {
      if (active_.count(c.abort_id) && aborting_.insert(c.abort_id).second) {
        cluster_->abort_client(c.abort_id);
        abort_tick_.notify(ns_time(kAbortRetryNs));
      }
      continue;
    }
    ClientRequest& cr = *c.submit;
    TraceRequest t;
    t.input_tokens = cr.prompt_tokens;
    t.output_tokens = cr.api.max_tokens;
    t.hash_ids = block_hash_ids(cr.api.prompt, hash_block_tokens_);
    t.hash_block_tokens = hash_block_tokens_;
    t.client_id = cr.client_id;
    t.pinned_worker = cr.pinned_worker;
    t.model = cr.api.model;  // one the server serves (others were a 404)
    if (on_submit) on_submit(cr.api.prompt, t.hash_ids, t.model);
    cr.api.prompt = {};  // only its count and hashes are needed from here on
    const auto due = static_cast<TimeNs>(cr.wall_arrival_s * speedup_ * 1e9);
    active_.emplace(cr.client_id, std::move(c.submit));
    cluster_->inject(std::move(t), std::max<TimeNs>(0, due - now_ns()));
  }
}

void Gateway::retry_aborts() {
  for (auto it = aborting_.begin(); it != aborting_.end();)
    it = cluster_->abort_client(*it) ? std::next(it) : aborting_.erase(it);
  if (!aborting_.empty()) abort_tick_.notify(ns_time(kAbortRetryNs));
}

void Gateway::on_arrival(const Request& r) {
  if (!r.client_id) return;
  auto it = active_.find(r.client_id);
  if (it == active_.end()) return;
  std::lock_guard lock(it->second->mu);
  it->second->request_id = r.id;
  it->second->sim_arrival_s = ns_to_s(r.arrival_ns);
}

void Gateway::on_request_done(const Request& r) {
  if (!r.client_id) return;
  auto it = active_.find(r.client_id);
  if (it == active_.end()) return;
  {
    std::lock_guard lock(it->second->mu);
    it->second->sim_first_token_s = r.first_token_ns < 0 ? -1 : ns_to_s(r.first_token_ns);
    it->second->reject_reason = r.reject_reason;
  }
  finish(it->second, r.status, r.tokens_emitted, r.cached_tokens, ns_to_s(r.finish_ns < 0 ? now_ns() : r.finish_ns));
  aborting_.erase(r.client_id);
  active_.erase(it);
}

void Gateway::finish(const std::shared_ptr<ClientRequest>& cp, RequestStatus status, std::uint32_t tokens,
                     std::uint32_t cached, double sim_now_s) {
  ClientRequest& c = *cp;
  {
    std::lock_guard lock(c.mu);
    c.ended = true;
    c.status = status;
    c.tokens = std::max(c.tokens, tokens);
    c.cached_tokens = cached;
    c.sim_finish_s = sim_now_s;
  }
  c.cv.notify_all();
  ended_.push_back(cp);
}

void Gateway::publish_progress() {
  cluster_->progress(progress_);
  for (const auto& p : progress_) {
    if (!p.request->client_id) continue;
    auto it = active_.find(p.request->client_id);
    if (it == active_.end()) continue;
    ClientRequest& c = *it->second;
    bool more = false;
    {
      std::lock_guard lock(c.mu);
      if (p.tokens > c.tokens) {
        c.tokens = p.tokens;
        if (c.sim_first_token_s < 0 && p.request->first_token_ns >= 0) c.sim_first_token_s = ns_to_s(p.request->first_token_ns);
        more = true;
      }
    }
    if (more) c.cv.notify_all();
  }
}

std::size_t Gateway::end_all(double sim_now_s) {
  const std::size_t n = active_.size();
  for (auto& [id, c] : active_) finish(c, RequestStatus::kUnfinished, 0, 0, sim_now_s);
  active_.clear();
  aborting_.clear();
  return n;
}

}  // namespace servesim::live
