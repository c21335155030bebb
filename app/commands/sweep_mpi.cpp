#include "app/commands/sweep_mpi.h"

#include <fmt/format.h>

#include <cstdlib>
#include <sstream>

#include "core/error.h"

#ifdef SERVESIM_HAVE_MPI
#include <mpi.h>
#endif

namespace servesim {

namespace {
constexpr char kField = '\x1f', kRecord = '\x1e';

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) out.push_back(std::exchange(cur, {}));
    else cur += c;
  }
  out.push_back(cur);
  return out;
}
}  // namespace

std::string encode_runs(const std::vector<TrialRun>& runs) {
  std::string out;
  for (const auto& r : runs) {
    out += fmt::format("{}{}{}{}{}{}{}{}{:.17g}{}{}{}{}{}{}", r.id, kField, r.replication, kField, r.seed, kField,
                       r.status, kField, r.wall_s, kField, r.error, kField, r.reused ? 1 : 0, kField, "");
    for (const auto& [k, v] : r.metrics) out += fmt::format("{}={:.17g};", k, v);
    out += kRecord;
  }
  return out;
}

std::vector<TrialRun> decode_runs(const std::string& text) {
  std::vector<TrialRun> out;
  for (const auto& rec : split(text, kRecord)) {
    if (rec.empty()) continue;
    auto f = split(rec, kField);
    if (f.size() != 8) throw std::runtime_error("sweep: a rank sent a malformed result");
    TrialRun r;
    r.id = std::stoull(f[0]);
    r.replication = std::stoi(f[1]);
    r.seed = std::stoull(f[2]);
    r.status = f[3];
    r.wall_s = std::strtod(f[4].c_str(), nullptr);
    r.error = f[5];
    r.reused = f[6] == "1";
    for (const auto& kv : split(f[7], ';')) {
      const auto eq = kv.find('=');
      if (eq != std::string::npos) r.metrics[kv.substr(0, eq)] = std::strtod(kv.c_str() + eq + 1, nullptr);
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool SweepRanks::built_with_mpi() {
#ifdef SERVESIM_HAVE_MPI
  return true;
#else
  return false;
#endif
}

SweepRanks::SweepRanks() {
#ifndef SERVESIM_HAVE_MPI
  if (std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK"))
    throw ConfigError("servesim sweep was started by an MPI launcher, but this build has no MPI: every rank would run "
                      "the whole sweep. Fix: install libopenmpi-dev and rebuild (servesim --list says whether MPI is in)");
#endif
#ifdef SERVESIM_HAVE_MPI
  // only under a launcher: a plain run must not pay for (or depend on) MPI start-up
  if (std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") || std::getenv("PMIX_RANK")) {
    MPI_Init(nullptr, nullptr);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    mpi_ = true;
  }
#endif
}

SweepRanks::~SweepRanks() {
#ifdef SERVESIM_HAVE_MPI
  if (mpi_) MPI_Finalize();
#endif
}

std::vector<TrialRun> SweepRanks::all_gather(const std::vector<TrialRun>& mine) const {
  if (!mpi_) return mine;
#ifdef SERVESIM_HAVE_MPI
  const std::string text = encode_runs(mine);
  int len = static_cast<int>(text.size());
  std::vector<int> lens(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
  MPI_Allgather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int i = 0; i < size_; ++i) offsets[static_cast<size_t>(i)] = total, total += lens[static_cast<size_t>(i)];
  std::string all(static_cast<size_t>(total), '\0');
  MPI_Allgatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offsets.data(), MPI_CHAR, MPI_COMM_WORLD);
  return decode_runs(all);
#else
  return mine;
#endif
}

}  // namespace servesim
