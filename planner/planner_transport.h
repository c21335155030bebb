#pragma once
// How servesim talks to an external planner: one line out, one line back. A child process on its
// stdin/stdout (its stderr forwarded to servesim's, the last lines kept for error messages), a
// ZeroMQ REQ socket to a planner's REP socket, or a function in this process (the Python API).
// A planner that does not answer within the timeout, exits, or closes the line ends the run
// with an InputError that says so.
#include <memory>
#include <string>

#include "planner/planner_config.h"
#include "planner/planner_policy.h"

namespace servesim {

class PlannerTransport {
 public:
  virtual ~PlannerTransport() = default;
  // Sends one message (a JSON object, no newline) and returns the planner's one-line reply.
  // `ask` answers queries a planner in this process asks while it decides.
  virtual std::string exchange(const std::string& message, const PlannerAsk& ask) = 0;
  // Sends the last message (no reply expected) and lets the planner go.
  virtual void close(const std::string& last_message) = 0;
  // Ends a planner that broke the protocol or hung, without a goodbye.
  virtual void abandon() {}
  virtual std::string describe() const = 0;
};

std::unique_ptr<PlannerTransport> make_planner_transport(const ExternalPlannerConfig& cfg, const std::string& base_dir,
                                                         const InProcessPlanner& in_process);

}  // namespace servesim
