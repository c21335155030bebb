#pragma once
// The simulation side of live mode. Requests and aborts from HTTP threads enter the kernel through
// a primitive channel's async_request_update() (thread-safe; the only way in). The gateway module
// turns them into arrivals and engine aborts at the current simulated time, and tells each
// client's ClientRequest how its request progresses.
#include <systemc>

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "cluster/cluster.h"
#include "live/client_request.h"

namespace servesim::live {

// Commands from other threads, taken by the kernel in its next update phase.
class Inbox : public sc_core::sc_prim_channel {
 public:
  struct Command {
    std::shared_ptr<ClientRequest> submit;  // a new request, or (null) an abort of `abort_id`
    std::uint64_t abort_id = 0;
  };
  Inbox();
  void post(Command c);  // any thread
  std::vector<Command> take();
  const sc_core::sc_event& event() const { return event_; }

 private:
  void update() override { event_.notify(sc_core::SC_ZERO_TIME); }
  std::mutex mu_;
  std::vector<Command> commands_;
  sc_core::sc_event event_;
};

class Gateway : public sc_core::sc_module, public RunObserver {
 public:
  SC_HAS_PROCESS(Gateway);
  // `hash_block_tokens`: the prefix-hash granularity of live prompts (the pools' smallest block).
  // A request arrives at the simulated time of its wall arrival (x `speedup`), never earlier
  // than now. The gateway observes the cluster it feeds, so it is built first and bound after.
  Gateway(sc_core::sc_module_name name, std::uint32_t hash_block_tokens, double speedup);
  void bind_cluster(Cluster& cluster) { cluster_ = &cluster; }
  Inbox& inbox() { return inbox_; }

  // Between kernel slices: passes every running client request's token count to its client.
  void publish_progress();
  // Ends every client request still open (the run is stopping); returns how many.
  std::size_t end_all(double sim_now_s);
  // Every client request that ended, in the order they ended (/live/requests; read its HTTP
  // thread's fields only once the server has stopped).
  const std::vector<std::shared_ptr<ClientRequest>>& ended() const { return ended_; }
  // Told each submitted prompt (its tokens and prefix-hash ids), before it arrives.
  std::function<void(const std::vector<std::uint32_t>& tokens, const std::vector<std::uint64_t>& hash_ids,
                     const std::string& model)>
      on_submit;

  void on_arrival(const Request& r) override;
  void on_request_done(const Request& r) override;

 private:
  void on_commands();
  void retry_aborts();
  void finish(const std::shared_ptr<ClientRequest>& c, RequestStatus status, std::uint32_t tokens,
              std::uint32_t cached, double sim_now_s);

  Cluster* cluster_ = nullptr;
  std::uint32_t hash_block_tokens_;
  Inbox inbox_;
  std::unordered_map<std::uint64_t, std::shared_ptr<ClientRequest>> active_;  // by client id
  std::set<std::uint64_t> aborting_;  // asked to abort, not yet ended
  std::vector<std::shared_ptr<ClientRequest>> ended_;
  double speedup_;
  std::vector<EngineScheduler::TokenProgress> progress_;
  sc_core::sc_event abort_tick_;
};

}  // namespace servesim::live
