#pragma once
// Sweep trials over MPI ranks: started under mpirun (Open MPI), every rank runs its share of each
// batch (job i on rank i mod N) and all ranks receive every result, so each runs the same
// strategy and stays in step; rank 0 writes the output. Without mpirun, or in a build without
// MPI, one rank does everything.
#include <vector>

#include "app/commands/sweep_runner.h"

namespace servesim {

class SweepRanks {
 public:
  SweepRanks();   // MPI_Init when started by mpirun
  ~SweepRanks();  // MPI_Finalize
  SweepRanks(const SweepRanks&) = delete;
  SweepRanks& operator=(const SweepRanks&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Every rank's results, on every rank.
  std::vector<TrialRun> all_gather(const std::vector<TrialRun>& mine) const;
  static bool built_with_mpi();

 private:
  int rank_ = 0, size_ = 1;
  bool mpi_ = false;
};

// A run as text and back (doubles round-trip exactly).
std::string encode_runs(const std::vector<TrialRun>& runs);
std::vector<TrialRun> decode_runs(const std::string& text);

}  // namespace servesim
