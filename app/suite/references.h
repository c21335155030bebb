#pragma once
// Reference values a suite computes from first principles for one of its runs: queueing closed
// forms from the run's arrival rate and service time, and the exact prefix-reuse bound of the
// run's own trace. Never read from a simulation output.
#include "app/suite/suite_config.h"
#include "scenario/scenario.h"

namespace servesim {

// Throws ConfigError when the run does not fit the formula (no Poisson rate, unstable load).
double reference_value(const SuiteReferenceConfig& ref, const LoadedScenario& run);

// The share of prompt tokens an unlimited prefix cache can serve on this trace, block by block:
// engine block j of a prompt (block_size tokens, fully inside the prompt and the hash-covered
// tokens) is a hit when an earlier request had a block j under the same leading trace ids; the
// prompt's last token is always computed (as vLLM does), so at most (input - 1) / block_size
// blocks hit. Computed with a trie of trace ids, not with the engine's keys.
double prefix_reuse_bound(const LoadedScenario& run);

}  // namespace servesim
